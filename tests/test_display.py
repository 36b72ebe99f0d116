"""Text from files, the state or a server, as it is shown (display.py): no control character, no
workflow command, and in markdown nothing that renders (issue #29)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from engage_sync.display import UNSAFE, md_code, md_text, printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("R-1001", "R-1001"),
        ("Émile O'Brien", "Émile O'Brien"),  # printable text is left as it is
        ("a\nb", "a\\x0ab"),
        ("a\rb", "a\\x0db"),  # a lone CR rewrites a terminal line
        ("x\n::error::forged", "x\\x0a::error::forged"),
        ("::error::forged", "\\x3a:error::forged"),  # a value at the start of a line
        ("  ::warning::forged", "  \\x3a:warning::forged"),  # the runner trims spaces first
        (
            "\x1b]8;;https://e.example\x07link\x1b]8;;\x07",
            "\\x1b]8;;https://e.example\\x07link\\x1b]8;;\\x07",
        ),  # an OSC 8 hyperlink
        ("\x1b[2J", "\\x1b[2J"),
        ("a\x85b\x9bc", "a\\x85b\\x9bc"),  # C1: NEL and CSI
        ("a\x7fb", "a\\x7fb"),
        ("invoice\u202efdp.exe", "invoice\\u202efdp.exe"),  # a bidi override
        ("a\u2028b", "a\\u2028b"),
        ("a\tb", "a\\x09b"),
        (12, "12"),
    ],
)
def test_printable_escapes_what_could_move_the_cursor_or_start_a_command(
    raw: object, shown: str
) -> None:
    assert printable(raw) == shown


@given(st.text())
def test_printable_leaves_no_control_character_and_no_command(text: str) -> None:
    shown = printable(text)
    assert not UNSAFE.search(shown)
    assert "\n" not in shown and "\r" not in shown
    assert not shown.lstrip().startswith("::")
    assert printable(shown) == shown  # escaping twice changes nothing


HOSTILE = [
    "[click](https://evil.example)",
    "![img](https://evil.example/x.png)",
    "@octocat please look",
    "<img src=x onerror=alert(1)>",
    "a | b | c",
    "`code` and ``more``",
    "https://evil.example/",
    "www.evil.example",
    "ada@example.com",
    "**bold** _it_ ~~gone~~",
    "&lt;entity&gt;",
    "#123",
    "$x^2$",
]


def _rendered(markdown: str) -> tuple[str, list[str]]:
    """The HTML of a markdown table row, and the text outside code spans."""
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(markdown)
    outside: list[str] = []
    for token in tokens:
        for child in token.children or []:
            if child.type == "text":
                outside.append(child.content)
    return md.render(markdown), outside


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_in_a_markdown_cell_renders_as_itself(value: str) -> None:
    table = f"| a | b |\n| --- | --- |\n| {md_code(value)} | {md_text(value, table=True)} |\n"
    html, outside = _rendered(table)
    assert "<a " not in html and "<img" not in html and "<em>" not in html
    assert html.count("<td>") == 2  # its pipes did not make more cells
    assert "<code>" in html
    for text in outside:  # what is not code holds nothing GitHub would link or mention
        assert "@" not in text and "://" not in text and "www." not in text and "#" not in text


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_in_a_markdown_line_renders_as_itself(value: str) -> None:
    html, outside = _rendered(f"- :warning: campaign 1: {md_text(value)}\n")
    assert "<a " not in html and "<img" not in html and "<strong>" not in html
    for text in outside:
        assert "@" not in text and "://" not in text and "www." not in text


def test_plain_prose_stays_prose() -> None:
    line = "3 lead(s) are no longer declared: list them under `removed:`"
    assert md_text(line) == line


@given(st.text(min_size=1))
def test_a_code_span_shows_the_value_escaped_and_whole(text: str) -> None:
    html, _ = _rendered(f"x {md_code(text, table=False)} y\n")
    assert "<code>" in html
