"""The problems found: kept up to a cap, counted past it, the same problem at many lines shown
once (issue #31: a header with one column too many printed a line per row)."""

from __future__ import annotations

import pytest

from engage_sync.leadsets import problems
from engage_sync.leadsets.problems import Problems, group
from engage_sync.model import Severity

WIDTH = "has 5 values but the header has 4 columns"


def shown(found: Problems) -> list[str]:
    return [str(g) for g in group(found.items, found.totals)]


def test_the_same_problem_at_many_lines_is_one_line_with_its_first_lines_and_a_count() -> None:
    found = Problems()
    for line in range(2, 302):
        found.add("x.csv", line, "(row)", WIDTH)
    found.add("x.csv", 7, "leadPhone", "'…0100' is not a valid phone number")
    found.add("x.csv", 9, "(row)", WIDTH, warn=True)  # another severity: another problem
    found.add("y.csv", 3, "(row)", WIDTH)  # another file too
    assert shown(found) == [
        f"x.csv:2,3,4 and 297 more lines: (row): {WIDTH}",
        "x.csv:7: leadPhone: '…0100' is not a valid phone number",
        f"x.csv:9: (row): warning: {WIDTH}",
        f"y.csv:3: (row): {WIDTH}",
    ]
    assert found.count(Severity.ERROR) == 302  # every one still counted


def test_two_and_four_lines_read_as_such() -> None:
    found = Problems()
    for line in (5, 8):
        found.add("a.yaml", line, "", "a tab character indents this line")
    assert shown(found) == ["a.yaml:5,8: a tab character indents this line"]
    found.add("a.yaml", 9, "", "a tab character indents this line")
    found.add("a.yaml", 12, "", "a tab character indents this line")
    assert shown(found) == ["a.yaml:5,8,9 and 1 more line: a tab character indents this line"]


def test_a_group_counts_the_lines_found_past_the_cap_and_memory_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(problems, "KEPT", 5)
    found = Problems()
    for line in range(1, 4):
        found.add("x.csv", line, "a", f"distinct {line}")
    for line in range(4, 1004):
        found.add("x.csv", line, "(row)", WIDTH)
    found.add("x.csv", 2000, "b", "not kept, of no group")
    assert len(found.items) == 5 and found.more[Severity.ERROR] == 999
    assert len(found.totals) == 4  # one a problem kept, never one a problem found
    groups = group(found.items, found.totals)
    assert [(g.count, g.kept) for g in groups] == [(1, 1), (1, 1), (1, 1), (1000, 2)]
    assert str(groups[-1]) == f"x.csv:4,5 and 998 more lines: (row): {WIDTH}"
    # without the totals, what is kept
    assert str(group(found.items)[-1]) == f"x.csv:4,5: (row): {WIDTH}"


def test_whole_file_problems_stand_alone() -> None:
    found = Problems()
    found.add_fatal("a.yaml:3: invalid YAML: mapping values are not allowed here")
    found.add_fatal("a.yaml:3: invalid YAML: mapping values are not allowed here")
    assert shown(found) == ["a.yaml:3: invalid YAML: mapping values are not allowed here"] * 2


def test_dropped_problems_leave_their_groups() -> None:
    found = Problems()
    for line in (2, 3):
        found.add("x.csv", line, "leadPhone", "same phone", warn=True)
        found.add("y.csv", line, "leadPhone", "same phone", warn=True)
    found.drop(lambda p: p.file == "x.csv")
    assert shown(found) == ["y.csv:2,3: leadPhone: warning: same phone"]
    assert list(found.totals.values()) == [2]
