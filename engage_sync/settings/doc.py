"""docs/settings.md's tables, rendered from the settings table (tests/test_settings.py keeps the
page and the table equal: `python tests/test_settings.py` writes the page's generated part)."""

from __future__ import annotations

from .setting import Setting
from .table import EVERY, PLATFORM, SETTINGS

BEGIN = "<!-- generated from engage_sync/settings/table.py: do not edit by hand -->"
END = "<!-- end of the generated part -->"


def markdown() -> str:
    """Every setting: what it is, its flag, environment variable, engage-sync.yaml key, type and
    default; then the variables engage-sync reads that are not its settings."""
    lines = [
        "| Setting | Flag | Environment | `engage-sync.yaml` | Type | Default |",
        "| --- | --- | --- | --- | --- | --- |",
        *(_row(s) for s in SETTINGS),
        "",
        "Read, and set by CI, GitHub Actions, the workflows `init` writes or the terminal:",
        "",
        "| Environment | What engage-sync does with it |",
        "| --- | --- |",
        *(f"| {_code(names)} | {_cell(what)} |" for names, what in PLATFORM),
    ]
    return "\n".join(lines) + "\n"


def _row(s: Setting) -> str:
    flag = f"`{s.flag}`" if s.flag else ""
    if s.flag and s.commands != EVERY:
        flag += " (" + ", ".join(f"`{c}`" for c in s.commands) + ")"
    kind = s.kind.value + (": " + ", ".join(f"`{c}`" for c in s.choices) if s.choices else "")
    default = s.default_text
    cells = (
        _cell(s.help),
        flag,
        f"`{s.env}`" if s.env else "",
        f"`{s.key}`" if s.key else "",
        kind,
        f"`{default}`" if default and s.shown is None else _cell(default),
    )
    return "| " + " | ".join(cells) + " |"


def _code(names: str) -> str:
    return ", ".join(n if n == "..." else f"`{n}`" for n in names.split(", "))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
