"""workspace.py: where the state is, what `validate` reads and warns, and what `build_plan` adds to
the planner's plan (a subset's limits, shared phones, the phones to stop first), from real files in
tmp_path. Incremental reading is in test_incremental_inputs.py and test_incremental.py; the
plans themselves in test_plan.py and test_planner.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import write

from engage_sync import workspace
from engage_sync.config import load_config
from engage_sync.donotcall.keys import PhoneKey
from engage_sync.errors import ConfigError, InputError
from engage_sync.state import State, save_state
from engage_sync.workspace import build_plan, leads_by_key, state_path, validate

A, B = 136785, 136790
STATE = Path("engage-sync.state.json")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGAGE_SYNC_STATE", raising=False)
    write(tmp_path / "engage-sync.yaml", "leadsets: leadsets\n")
    return tmp_path


def leadset(name: str, campaign: int, *leads: tuple[str, str], extra: str = "") -> None:
    body = "".join(f'  - {{externId: "{e}", leadPhone: "{p}"}}\n' for e, p in leads)
    write(
        Path("leadsets") / name,
        f"campaign: {campaign}\noptions: {{duplicateHandling: RETAIN_ALL, dialPriority: NORMAL, "
        f"timeZoneOption: NPA_NXX}}\n{extra}leads:\n{body}",
    )


# -- where the state is --------------------------------------------------------------------------
def test_the_state_is_the_flag_the_environment_the_setting_or_the_default(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("kept") / "s.json"
    assert state_path(None, load_config(None)) == Path("engage-sync.state.json")
    write(folder / "engage-sync.yaml", "leadsets: leadsets\nstate: states/team.json\n")
    assert state_path(None, load_config(None)) == Path("states/team.json")
    monkeypatch.setenv("ENGAGE_SYNC_STATE", str(elsewhere))  # the user's choice: anywhere
    assert state_path(None, load_config(None)) == elsewhere
    assert state_path("mine.json", load_config(None)) == Path("mine.json")


def test_a_setting_that_sends_the_state_outside_the_repository_is_refused(
    folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    write(folder / "engage-sync.yaml", f"leadsets: leadsets\nstate: {outside}/s.json\n")
    with pytest.raises(ConfigError, match="outside the repository; a state kept elsewhere"):
        state_path(None, load_config(None))
    os.symlink(outside, folder / "link")  # a link committed inside that leads out
    write(folder / "engage-sync.yaml", "leadsets: leadsets\nstate: link/s.json\n")
    with pytest.raises((ConfigError, InputError)):
        state_path(None, load_config(None))


def test_a_state_or_its_journal_that_is_not_a_regular_file_is_refused(folder: Path) -> None:
    (folder / "engage-sync.state.json.journal").mkdir()
    with pytest.raises((ConfigError, InputError), match="journal"):
        state_path(None, load_config(None))


# -- validate ------------------------------------------------------------------------------------
def test_validate_counts_files_and_leads_and_warns_at_a_blocked_lead(folder: Path) -> None:
    leadset("a.yaml", A, ("L-1", "4155550101"), ("L-2", "4155550102"))
    leadset("b.yaml", B, ("L-3", "4155550103"))
    write(
        Path("leadsets/dnc.yaml"),
        'doNotCall:\n  - {phone: "415-555-0102", requested: 2026-11-20}\n',
    )
    sink, files, leads = validate([], load_config(None))
    assert (files, leads) == (2, 3)  # the list is no lead set
    (warning,) = sink.warnings
    text = str(warning)
    assert "leadsets/a.yaml:" in text and "leadPhone" in text
    assert "on the do-not-call set (leadsets/dnc.yaml:2)" in text and "5550102" not in text
    assert not sink.errors


def test_validate_reads_only_the_paths_given(folder: Path) -> None:
    leadset("a.yaml", A, ("L-1", "4155550101"))
    leadset("b.yaml", B, ("L-3", "4155550103"), ("L-4", "4155550104"))
    _, files, leads = validate(["leadsets/b.yaml"], load_config(None))
    assert (files, leads) == (1, 2)


# -- build_plan ----------------------------------------------------------------------------------
def test_a_plan_of_some_paths_prunes_nothing_and_says_so(folder: Path) -> None:
    leadset("a.yaml", A, ("L-1", "4155550101"), extra="prune: true\n")
    leadset("b.yaml", B, ("L-3", "4155550103"))
    planned = build_plan(["leadsets/a.yaml"], load_config(None), STATE)
    assert [ls.campaign.id for ls in planned.plan.leadsets] == [A]
    (warning,) = planned.plan.warnings
    assert warning.startswith("this plan reads only the paths given")
    assert "(prune is on for campaign(s) 136785)" in warning
    whole = build_plan([], load_config(None), STATE)
    assert whole.plan.warnings == () and [ls.campaign.id for ls in whole.plan.leadsets] == [A, B]


def test_a_plan_says_how_many_leads_share_a_phone_and_what_the_mode_does(folder: Path) -> None:
    leadset("a.yaml", A, ("L-1", "4155550101"), ("L-2", "4155550101"))
    planned = build_plan([], load_config(None), STATE)
    (warning,) = planned.plan.warnings
    assert warning.startswith(
        "campaign 136785: 1 lead(s) share a phone with an earlier lead; with duplicateHandling "
        "RETAIN_ALL"
    )


def test_the_listed_phones_are_stopped_first_soonest_deadline_first(folder: Path) -> None:
    leadset("a.yaml", A, ("L-1", "4155550101"))
    write(
        Path("leadsets/dnc.yaml"),
        "doNotCall:\n"
        '  - {phone: "4155550170", requested: 2026-11-20, source: IVR}\n'
        '  - {phone: "4155550171", requested: 2026-11-02}\n',
    )
    planned = build_plan([], load_config(None), STATE)
    stops = planned.plan.stops
    assert [(s.file, s.line, s.source) for s in stops] == [
        ("leadsets/dnc.yaml", 3, None),
        ("leadsets/dnc.yaml", 2, "IVR"),
    ]
    assert stops[0].deadline.due < stops[1].deadline.due
    leadset("a.yaml", A, ("L-1", "4155550101"))
    Path("leadsets/dnc.yaml").unlink()
    assert build_plan([], load_config(None), STATE).plan.stops == ()


def test_leads_by_key_streams_only_the_leads_wanted(folder: Path) -> None:
    leadset("a.yaml", A, ("L-1", "4155550101"), ("L-2", "4155550102"))
    leadset("b.yaml", B, ("L-1", "4155550103"))
    planned = workspace.build_plan([], load_config(None), STATE)
    found = leads_by_key(planned.sources, {(A, "L-2"), (B, "L-1"), (B, "L-9")})
    assert sorted(found) == [(A, "L-2"), (B, "L-1")]
    assert found[(B, "L-1")].phone == "4155550103"


def test_validate_blocks_the_phones_an_apply_stopped_before(folder: Path) -> None:
    leadset("a.yaml", A, ("L-1", "4155550101"), ("L-2", "4155550102"))
    state = State(STATE)
    key = PhoneKey.new_salt()
    state.do_not_call.keyed(key.to_json())
    state.do_not_call.stopped({key.digest("+14155550102"): ["2026-11-20", "lead set", "x"]})
    save_state(state)
    (warning,) = validate([], load_config(None))[0].warnings
    assert "leadsets/a.yaml:" in str(warning) and "on the do-not-call set (" in str(warning)
    STATE.write_text("not json")  # validate checks lead sets; plan, the state
    assert validate([], load_config(None))[0].warnings == []
