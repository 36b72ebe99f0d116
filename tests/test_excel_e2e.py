"""Excel's habits (issue #31, item 8), with the installed command as a user runs it: a `;` or
tab-separated export is read, a phone Excel marked as text is loaded without its mark, a phone
Excel shortened is named as such, every line a tab indents is named, and a problem at every row
is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Served, engage_sync, write

pytestmark = pytest.mark.e2e

CAMPAIGN = 136785
LEADSET = (
    f"campaign: {CAMPAIGN}\n"
    "options: {dialPriority: NORMAL, duplicateHandling: REMOVE_ALL_EXISTING, "
    "timeZoneOption: NPA_NXX}\n"
    "leadsFile: export.csv\n"
)
SHORTENED = (
    "leadPhone: '…E+09' is a number Excel shortened (scientific notation): digits were lost; "
    "format the column as text and export again"
)
TAB = "a tab character indents this line; YAML indents with spaces"


def repo(tmp_path: Path, export: bytes) -> Path:
    write(tmp_path / "engage-sync.yaml", "account: '99990001'\n")
    write(tmp_path / "leadsets" / "spring.yaml", LEADSET)
    (tmp_path / "leadsets" / "export.csv").write_bytes(export)
    return tmp_path


def excel(sep: str, rows: list[list[str]]) -> bytes:
    """As Excel saves "CSV UTF-8": a byte-order mark, CRLF line ends."""
    return b"\xef\xbb\xbf" + "".join(sep.join(r) + "\r\n" for r in rows).encode()


@pytest.mark.parametrize("sep", [";", "\t", ","])
def test_an_export_separated_by_semicolons_or_tabs_is_read(tmp_path: Path, sep: str) -> None:
    """Excel in a comma-decimal locale separates with `;`, its "Text (Tab delimited)" with tabs;
    both were "unknown column(s)" and "bad header"."""
    rows = [
        ["externId", "leadPhone", "firstName", "address1"],
        ["S-1", "4155550100", "Ada", '"1 Main St, Apt 2; rear"'],
        ["S-2", "4155550101", "Bo", "2 Elm St"],
    ]
    root = repo(tmp_path, excel(sep, rows))
    checked = engage_sync("validate", cwd=root)
    assert (checked.code, checked.err) == (0, ""), checked.err
    assert checked.out == "1 lead-set file(s), 2 lead(s): valid.\n"
    planned = engage_sync("plan", cwd=root)
    assert planned.code == 0, planned.err
    assert "2 to create, 0 to update" in planned.out
    assert "+ S-1  leadsets/export.csv:2" in planned.out
    assert "+ S-2  leadsets/export.csv:3" in planned.out


def test_a_phone_excel_marked_as_text_is_loaded_without_the_mark(
    tmp_path: Path, emulator_process: Served
) -> None:
    rows = [["externId", "leadPhone"], ["T-1", "'4155550100"], ["T-2", "'(415) 555-0101"]]
    root = repo(tmp_path, excel(",", rows))
    checked = engage_sync("validate", cwd=root)
    assert checked.code == 0, checked.err
    planned = engage_sync("plan", cwd=root, env=emulator_process.where())
    assert planned.code == 0 and "2 to create" in planned.out, planned.err
    applied = engage_sync(
        "apply", "--auto-approve", env=emulator_process.env("api-token"), cwd=root
    )
    assert applied.code == 0, applied.out + applied.err
    phones = {r["externId"]: r["lead"]["leadPhone"] for r in emulator_process.leads(CAMPAIGN)}
    assert phones == {"T-1": "4155550100", "T-2": "4155550101"}


def test_a_phone_excel_shortened_is_named_as_such(tmp_path: Path) -> None:
    rows = [["externId", "leadPhone"]] + [[f"N-{i}", "4.15556E+09"] for i in range(40)]
    root = repo(tmp_path, excel(",", rows))
    expected = f"leadsets/export.csv:2,3,4 and 37 more lines: {SHORTENED}"
    checked = engage_sync("validate", cwd=root)
    assert checked.code == 1
    assert checked.err.splitlines() == [expected, "40 error(s), 0 warning(s)."]
    planned = engage_sync("plan", cwd=root)
    assert planned.code == 1
    assert planned.err.splitlines() == [expected, "40 error(s): nothing planned."]
    assert "15556" not in checked.err + planned.err + planned.out  # no more than 4 characters


def test_every_line_a_tab_indents_is_named(tmp_path: Path) -> None:
    root = tmp_path
    write(root / "engage-sync.yaml", "account: '99990001'\n")
    write(
        root / "leadsets" / "spring.yaml",
        f"campaign: {CAMPAIGN}\noptions:\n\tdialPriority: NORMAL\n"
        "\tduplicateHandling: REMOVE_ALL_EXISTING\n\ttimeZoneOption: NPA_NXX\n"
        'leads:\n  - externId: a\n\tleadPhone: "4155550100"\n',
    )
    expected = f"leadsets/spring.yaml:3,4,5 and 1 more line: {TAB}"
    checked = engage_sync("validate", cwd=root)
    assert checked.code == 1
    assert checked.err.splitlines() == [expected, "4 error(s), 0 warning(s)."]
    planned = engage_sync("plan", cwd=root)
    assert planned.code == 1
    assert planned.err.splitlines() == [expected, "4 error(s): nothing planned."]
    # one line alone is named alone
    text = (root / "leadsets" / "spring.yaml").read_text().replace("\t", "  ", 3)
    write(root / "leadsets" / "spring.yaml", text)
    checked = engage_sync("validate", cwd=root)
    assert checked.err.splitlines() == [
        f"leadsets/spring.yaml:8: {TAB}",
        "1 error(s), 0 warning(s).",
    ]


def test_a_row_problem_at_every_row_is_one_line_with_a_count(tmp_path: Path) -> None:
    """Excel ends every row with a separator when a column past the data was ever formatted: a
    value more than the header has, at each of 300 rows, was 300 identical lines."""
    rows = [["externId", "leadPhone", "firstName", "city"]] + [
        [f"W-{i}", f"41555{i:05d}", "Ann", "Lyon", ""] for i in range(300)
    ]
    root = repo(tmp_path, excel(",", rows))
    expected = (
        "leadsets/export.csv:2,3,4 and 297 more lines: (row): has 5 values but the header has "
        "4 columns"
    )
    checked = engage_sync("validate", cwd=root)
    assert checked.code == 1
    assert checked.err.splitlines() == [expected, "300 error(s), 0 warning(s)."]
    planned = engage_sync("plan", cwd=root)
    assert planned.code == 1
    assert planned.err.splitlines() == [expected, "300 error(s): nothing planned."]
