"""leadsets/sources.py: a lead-set file parsed into a Source (its defaults, its tombstones, its
leadsFile), the files of one campaign grouped and made to agree, and what discover finds
(problems of leads and their lines are in test_leadsets.py)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import write

from engage_sync import leadsets
from engage_sync.errors import InputError
from engage_sync.leadsets import Sink
from engage_sync.model import PruneAction

OPTIONS = (
    "options: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, timeZoneOption: NPA_NXX}\n"
)
LEAD = "leads:\n  - {externId: x, leadPhone: '4155550100'}\n"


def load(
    path: Path, defaults: dict[str, object] | None = None, **kw: object
) -> tuple[leadsets.Source | None, Sink]:
    sink = Sink()
    return leadsets.load_source(path, defaults or {}, sink, **kw), sink  # type: ignore[arg-type]


def problems(sink: Sink, tmp_path: Path) -> list[str]:
    return sorted(str(p).replace(f"{tmp_path}/", "") for p in sink.problems)


def test_options_come_from_the_file_then_the_settings_then_the_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path / "spring.yaml",
        "campaign: 7\noptions: {dialPriority: IMMEDIATE}\n" + LEAD,
    )
    source, sink = load(
        path,
        {"dialPriority": "NORMAL", "duplicateHandling": "RETAIN_ALL", "timeZoneOption": "NPA_NXX"},
    )
    assert source is not None and sink.errors == []
    body = source.meta.options.body()
    assert body["dialPriority"] == "IMMEDIATE" and body["duplicateHandling"] == "RETAIN_ALL"
    assert body["listState"] == "ACTIVE"  # engage-sync's own default
    assert body["description"] == "engage-sync spring"  # the list is named after the file


def test_a_required_option_set_nowhere_is_a_problem_at_the_options_line(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", "campaign: 7\n\noptions: {dialPriority: IMMEDIATE}\n" + LEAD)
    _, sink = load(path)
    required = "required (set it here or in engage-sync.yaml options)"
    assert problems(sink, tmp_path) == [
        f"a.yaml:3: options.duplicateHandling: {required}",
        f"a.yaml:3: options.timeZoneOption: {required}",
    ]


def test_prune_comes_from_the_file_else_the_settings(tmp_path: Path) -> None:
    quiet = write(tmp_path / "a.yaml", "campaign: 7\n" + OPTIONS + LEAD)
    source, _ = load(quiet, prune=True, prune_action="delete")
    assert source is not None
    assert (source.meta.prune, source.meta.prune_action) == (True, PruneAction.DELETE)
    said = write(
        tmp_path / "b.yaml", "campaign: 7\nprune: false\npruneAction: cancel\n" + OPTIONS + LEAD
    )
    source, _ = load(said, prune=True, prune_action="delete")
    assert source is not None
    assert (source.meta.prune, source.meta.prune_action) == (False, PruneAction.CANCEL)


def test_a_campaign_given_with_its_name_keeps_the_name(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", "campaign: {id: 7, name: Spring}\n" + OPTIONS + LEAD)
    source, sink = load(path)
    assert source is not None and sink.errors == []
    assert (source.meta.campaign.id, source.meta.campaign.name) == (7, "Spring")


@pytest.mark.parametrize("campaign", ["0", "-3", "true", "'7'", "{name: Spring}"])
def test_a_campaign_that_is_no_id_is_a_problem_and_no_source(tmp_path: Path, campaign: str) -> None:
    path = write(tmp_path / "a.yaml", f"campaign: {campaign}\n" + OPTIONS + LEAD)
    source, sink = load(path)
    assert source is None
    assert [p.field for p in sink.errors][:1] in (["campaign"], ["campaign.id"])


def test_a_leads_file_outside_the_folder_is_a_problem_and_never_opened(tmp_path: Path) -> None:
    write(tmp_path / "secret.csv", "externId,leadPhone\nx,4155550100\n")
    path = write(
        tmp_path / "sets" / "a.yaml", "campaign: 7\n" + OPTIONS + "leadsFile: ../secret.csv\n"
    )
    source, sink = load(path)
    assert source is None
    (problem,) = problems(sink, tmp_path)
    assert problem.startswith("sets/a.yaml:3: leadsFile: ") and "outside the repository" in problem


def test_tombstones_are_kept_once_with_their_day_and_phones_in_e164(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        "campaign: 7\n" + OPTIONS + LEAD + "removed:\n"
        "  - {externId: r1, requested: '2026-01-05', leadPhone: '4155550199|+442079460000'}\n"
        "  - {externId: r1, requested: '2026-01-09'}\n"
        "  - {externId: r2, optOut: false}\n",
    )
    source, sink = load(path)
    assert source is not None and sink.errors == []
    r1, r2 = source.meta.tombstones
    assert (r1.extern_id, r1.line, r1.requested) == ("r1", 6, date(2026, 1, 5))
    assert r1.phones == ("+14155550199", "+442079460000")
    assert (r2.extern_id, r2.requested, r2.opt_out) == ("r2", None, False)


def test_a_tombstone_date_that_is_no_day_or_not_come_yet_is_a_problem(tmp_path: Path) -> None:
    ahead = (date.today() + timedelta(days=30)).isoformat()
    path = write(
        tmp_path / "a.yaml",
        "campaign: 7\n" + OPTIONS + LEAD + "removed:\n"
        "  - {externId: r1, requested: '2026-02-30'}\n"
        f"  - {{externId: r2, requested: '{ahead}'}}\n"
        "  - {externId: r3, leadPhone: '12'}\n",
    )
    source, sink = load(path)
    assert source is not None
    assert problems(sink, tmp_path) == [
        "a.yaml:6: removed.0.requested: '2026-02-30' is not a date (YYYY-MM-DD)",
        f"a.yaml:7: removed.1.requested: {ahead} has not come yet",
        "a.yaml:8: removed.2.leadPhone: is not a phone number",
    ]
    assert [t.requested for t in source.meta.tombstones] == [None, None, None]


def test_an_extern_id_both_declared_and_removed_is_an_error_at_both_places(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        "campaign: 7\n" + OPTIONS + LEAD + "removed:\n  - {externId: x}\n",
    )
    sink = Sink()
    (desired,) = leadsets.group(leadsets.load_sources([path], {}, sink), sink)
    assert [lead.extern_id for lead in desired.leads] == ["x"]
    assert problems(sink, tmp_path) == [
        "a.yaml:4: externId: 'x' is declared here but removed at a.yaml:6",
        "a.yaml:6: removed: 'x' is removed here but declared at a.yaml:4: keep one of the two",
    ]


def test_files_of_one_campaign_must_agree_on_its_name_and_on_prune(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "campaign: {id: 7, name: Spring}\n" + OPTIONS + LEAD)
    write(
        tmp_path / "b.yaml",
        "campaign: {id: 7, name: Autumn}\nprune: true\n"
        + OPTIONS
        + "leads:\n  - {externId: y, leadPhone: '4155550101'}\n",
    )
    sink = Sink()
    sources = leadsets.load_sources(leadsets.discover([str(tmp_path)]), {}, sink)
    (desired,) = leadsets.group(sources, sink)
    assert desired.files == (f"{tmp_path}/a.yaml", f"{tmp_path}/b.yaml")
    assert desired.campaign.name == "Spring"  # the first file's
    assert problems(sink, tmp_path) == [
        "a.yaml:1: prune: campaign 7 is also declared in b.yaml:2 with prune true (cancel); "
        "files of one campaign must agree",
        "b.yaml:1: campaign.name: campaign 7 is named 'Spring' in a.yaml",
        "b.yaml:2: prune: campaign 7 is also declared in a.yaml:1 with prune false; files of "
        "one campaign must agree",
    ]


def test_discover_names_a_leads_file_given_alone_and_lists_each_file_once(tmp_path: Path) -> None:
    write(tmp_path / "l.csv", "externId,leadPhone\n")
    with pytest.raises(InputError) as e:
        leadsets.discover([str(tmp_path / "l.csv")])
    assert "a CSV file holds leads only; it is read through a lead set that names it" in str(
        e.value
    )
    a = write(tmp_path / "b" / "a.yaml", "")
    write(tmp_path / "b" / "c.yml", "")
    found = leadsets.discover([str(a), str(tmp_path / "b"), str(a)])
    assert [p.name for p in found] == ["a.yaml", "c.yml"]


def test_a_bare_leads_file_is_a_source_of_one_campaign(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", '{"externId": "x", "leadPhone": "4155550100"}\n')
    source = leadsets.leads_file_source(path, 7)
    assert source.meta.campaign.id == 7 and not source.inline
    assert [lead.extern_id for lead in leadsets.stream(source)] == ["x"]
    other = write(tmp_path / "l.txt", "")
    with pytest.raises(InputError, match=r"expected a lead set \(\.yaml/\.json\) or leads"):
        leadsets.leads_file_source(other, 7)
