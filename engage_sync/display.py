"""How text from a file, the state or a server is shown (issue #29): `printable` for every line of
text, `md_code` and `md_text` for markdown (the pull-request comment, the job summary).

Text from outside is hostile until escaped: a line break in an externId would start a line of
its own (in a GitHub Actions log, `::error::...` there is a workflow command), an escape
sequence rewrites a terminal, a bidi override turns what a reviewer reads around, and in
markdown `[x](url)`, `![x](url)`, `@someone` and `<img>` render as links, images, mentions and
HTML. What this module returns holds none of them."""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, as \xNN; the bidi controls and the line and paragraph separators
# (a terminal or a browser lays text out by them) as \uNNNN
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
_LAYOUT = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
_ESCAPES = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _LAYOUT}
UNSAFE = re.compile("[" + "".join(f"\\u{c:04x}" for c in (*_CONTROLS, *_LAYOUT)) + "]")


def printable(value: object) -> str:
    """The text with every control character escaped (`\\x0a`, `\\x1b`, `\\u202e`), and never
    starting with `::` (the GitHub Actions runner reads a line that does, after any spaces, as
    a workflow command): a value from a file can neither end a line nor start a command."""
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():  # C-level and quick: most text is printable
        text = text.translate(_ESCAPES)
    if text[:1] == ":" or text[:1].isspace():
        stripped = text.lstrip()
        if stripped.startswith("::"):
            at = len(text) - len(stripped)
            text = f"{text[:at]}\\x3a{text[at + 1 :]}"
    return text


def md_code(value: object, table: bool = True) -> str:
    """A markdown code span of the value, so nothing in it renders: no link, image, mention,
    HTML or emphasis. In a table cell (`table`) its pipes are escaped, as GFM tables want even
    inside code spans."""
    text = printable(value)
    if not text:
        return ""
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    # a space each side when the text starts or ends with a backtick (or with spaces at both
    # ends): CommonMark strips one space each side, so the text is shown as it is
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# what a line of prose may hold and still render as itself: no link, image, mention, issue or
# commit reference, HTML, entity, emphasis by `*`, strike-through or maths
_PLAIN = re.compile(r"[A-Za-z0-9 .,;:?()'\"=+%/{}_`-]*")
_AUTOLINK = re.compile(r"://|www\.", re.IGNORECASE)


def md_text(value: object, table: bool = False) -> str:
    """A line of prose with values from outside in it, for markdown: as it is when it can only
    render as itself, else as one code span (nothing in it renders)."""
    text = printable(value)
    if _PLAIN.fullmatch(text) and not _AUTOLINK.search(text):
        return text
    return md_code(text, table=table)
