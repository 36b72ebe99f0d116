"""Plan rendering: text, the JSON contract, and markdown for pull requests (no PII, bounded)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from test_planner import OPTIONS, desired

from engage_sync.model import Desired, Lead, Plan
from engage_sync.planner import plan
from engage_sync.render import MARKER, render_markdown, render_text, write_json
from engage_sync.state import State

PII = {
    "leadPhone": "4155550100",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.com",
    "address1": "12 Analytical Row",
    "city": "London",
}


def render_json(result: Plan, rails: Sequence[str] = ()) -> str:
    """The JSON plan as `plan --format json` writes it (streamed), as one string."""
    buffer = io.StringIO()
    write_json(result, buffer, rails)
    return buffer.getvalue()


def big_plan(n: int) -> tuple[State, Desired]:
    state = State(Path("s.json"), lineage="L", serial=2)
    for i in range(0, n, 10):  # every tenth lead applied before with other values: updates
        state.campaign(1).record(
            Lead.from_mapping({"externId": f"E{i:06d}", **PII, "city": "Paris"}, "f", 1)
        )
    leads = [
        Lead.from_mapping(
            {"externId": f"E{i:06d}", **PII, "extendedLeadData": {"secret": "s3cr3t-value"}},
            "leadsets/big.csv",
            i + 2,
        )
        for i in range(n)
    ]
    return state, Desired(desired(1).campaign, None, ("leadsets/big.yaml",), OPTIONS, leads)


@pytest.mark.slow
def test_markdown_of_a_100k_plan_stays_under_budget_and_shows_no_pii() -> None:
    state, want = big_plan(100_000)
    result = plan([want], state)
    md = render_markdown(result)
    assert len(md) < 60_000
    assert md.startswith(MARKER)
    assert (
        "Plan: 90000 to create, 10000 to update, 0 to replace, 0 to remove, 0 orphaned, "
        "0 unchanged." in md
    )
    assert "more change(s) not shown" in md
    assert md.rstrip().endswith(f"`engage-sync apply --checksum {result.checksum}`.")
    assert f"Plan checksum: `{result.checksum}`" in md
    for value in (*PII.values(), "s3cr3t-value", "Paris"):
        assert value not in md
    assert "| update | `E000000` | `leadsets/big.csv:2` | city, extendedLeadData.secret |" in md
    assert render_markdown(plan([big_plan(100_000)[1]], big_plan(100_000)[0])) == md


def test_markdown_lists_everything_when_small() -> None:
    state, want = big_plan(30)
    md = render_markdown(plan([want], state))
    assert "not shown" not in md
    assert md.count("\n| create |") == 27 and md.count("\n| update |") == 3
    assert "<details><summary>campaign 1: 30 change(s)</summary>" in md


def test_markdown_shows_rails_and_warnings() -> None:
    state, want = big_plan(10)
    md = render_markdown(plan([want], state), rails=["campaign 1: too many updates"])
    assert "apply will refuse unless `--force`: campaign 1: too many updates" in md


def test_json_contract() -> None:
    state, want = big_plan(20)
    result = plan([want], state)
    doc = json.loads(render_json(result))
    assert doc["format_version"] == 2
    assert doc["summary"] == {
        "create": 18,
        "update": 2,
        "replace": 0,
        "remove": 0,
        "unchanged": 0,
        "orphaned": 0,
        "blocked": 0,
        "doNotCall": 0,
        "optOuts": {"pending": 0, "dueSoon": 0, "overdue": 0},
    }
    assert doc["changes"][2] == {
        "action": "create",
        "campaignId": 1,
        "externId": "E000001",
        "file": "leadsets/big.csv",
        "line": 3,
    }
    update = next(c for c in doc["changes"] if c["action"] == "update")
    assert update["fields"] == ["city", "extendedLeadData.secret"]
    assert doc["checksum"] == result.checksum
    text = render_json(result)
    for value in PII.values():
        assert value not in text


def test_text_lists_the_first_changes_and_a_summary_line() -> None:
    state, want = big_plan(50)
    text = render_text(plan([want], state), limit=5)
    lines = text.splitlines()
    assert lines[0] == "campaign 1 (leadsets/big.yaml)"
    assert "  ~ E000000  leadsets/big.csv:2  (city, extendedLeadData.secret)" in lines
    assert "  ... and 45 more (--format json lists them all)" in lines
    assert (
        lines[-1]
        == "Plan: 45 to create, 5 to update, 0 to replace, 0 to remove, 0 orphaned, 0 unchanged."
    )
    for value in PII.values():
        assert value not in text


def test_apply_shows_the_plan_naming_the_command_that_lists_it_all() -> None:
    """apply has no --format: the line names the command that has."""
    state, want = big_plan(50)
    lines = render_text(plan([want], state), limit=5, applying=True).splitlines()
    assert "  ... and 45 more (`engage-sync plan --format json` lists them all)" in lines


def test_markdown_where_cells_link_to_the_line_at_the_reviewed_commit() -> None:
    state, want = big_plan(3)
    url = "https://github.example/acme/leads/blob/0123abc/"
    md = render_markdown(plan([want], state), source_url=url)
    assert (
        "| update | `E000000` | [`leadsets/big.csv:2`]"
        "(https://github.example/acme/leads/blob/0123abc/leadsets/big.csv#L2) |" in md
    )
    plain = render_markdown(plan([want], state))
    assert "| update | `E000000` | `leadsets/big.csv:2` |" in plain and "](" not in plain


def test_the_streamed_json_is_byte_for_byte_the_whole_document() -> None:
    from engage_sync.model import Drift, DriftKind, Tombstone
    from engage_sync.render import plan_document

    state, want = big_plan(50)
    state.campaign(1).record(Lead.from_mapping({"externId": "gone", "leadPhone": "1"}, "f", 1))
    state.campaign(1).record(
        Lead.from_mapping({"externId": "E000001", "leadPhone": "2125550000"}, "f", 1)
    )
    want = Desired(
        want.campaign,
        None,
        want.files,
        OPTIONS,
        list(want.leads),
        tombstones=(Tombstone("T-1", "leadsets/big.yaml", 3),),
        prune=True,
    )
    result = plan([want], state)
    assert {c.kind.value for ls in result.leadsets for c in ls.changes()} == {
        "create",
        "update",
        "replace",
        "remove",
    }
    drifted = replace(
        result,
        refreshed=True,
        leadsets=tuple(
            replace(ls, drift=(Drift(1, "E000002", DriftKind.DUPLICATE, "READY"),), unmanaged=3)
            for ls in result.leadsets
        ),
    )
    from datetime import date

    from engage_sync.optouts import DateSource, Deadline, OptOutRules, Requested

    asked = Requested(date(2026, 11, 20), DateSource.GIT, "a" * 40)
    dated = replace(
        result,
        leadsets=tuple(
            replace(ls, deadlines={"T-1": Deadline(asked, date(2026, 12, 9), OptOutRules())})
            for ls in result.leadsets
        ),
    )
    assert '"deadline": "overdue"' in render_json(dated)
    empty = plan([], State(Path("s.json")))
    for p in (result, drifted, dated, empty):
        whole = json.dumps(plan_document(p, ["a rail"]), indent=2, sort_keys=True) + "\n"
        assert render_json(p, ["a rail"]) == whole


# -- values from outside, shown (issue #29) --------------------------------------------------------
HOSTILE_IDS = [
    "x\n::error::forged by an externId",
    "y\r\x1b]8;;https://evil.example\x07click\x1b]8;;\x07",
    "[click](https://evil.example)",
    "![img](https://evil.example/p.png)",
    "@octocat",
    "<img src=x onerror=alert(1)>",
    "a | b",
    "rtl\u202egnp.exe",
]


def hostile_plan() -> tuple[str, str]:
    """A plan whose state holds hostile externIds (orphans, in doubt: the state is a file in the
    repository) and whose campaign is named with a line break: its text and markdown."""
    from engage_sync.model import CampaignRef

    state = State(Path("s.json"), lineage="L", serial=2)
    for i, eid in enumerate(HOSTILE_IDS):
        state.campaign(1).record(Lead.from_mapping({"externId": eid, **PII}, "f", i + 1))
    state.campaign(1).in_doubt.update(HOSTILE_IDS[:3])
    name = "Renewals\n::warning::forged @octocat <b>x</b>"
    want = Desired(CampaignRef(1, name), None, ("leadsets/a.yaml",), OPTIONS, [])
    result = plan([want], state)
    return render_text(result), render_markdown(result)


def test_text_plans_show_values_from_outside_escaped() -> None:
    text, _ = hostile_plan()
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    for line in text.splitlines():
        assert not line.lstrip().startswith("::"), line
    assert "  ? x\\x0a::error::forged by an externId  (not declared)  (stays in Engage)" in text
    assert 'campaign 1 "Renewals\\x0a::warning::forged @octocat <b>x</b>"' in text


def test_markdown_plans_render_values_from_outside_as_code() -> None:
    from markdown_it import MarkdownIt

    _, md = hostile_plan()
    html = MarkdownIt("commonmark").enable("table").render(md)
    assert "<a " not in html and "<img" not in html and "<b>" not in html
    assert "\x1b" not in md and "\r" not in md and "\u202e" not in md
    for line in md.splitlines():
        assert not line.lstrip().startswith("::"), line
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    outside = [c.content for t in tokens for c in t.children or [] if c.type == "text"]
    for text in outside:  # outside code spans: nothing GitHub would link or mention
        assert "@" not in text and "://" not in text, text
    assert "| orphan | `a \\| b` |" in md  # its pipe does not split the row
