"""incremental/inputs.py: what a command reads, campaign by campaign, from real files in tmp_path;
sealed campaigns made by a real apply against the in-process emulator (test_operation's `run`).
That an incremental plan equals the full one, and partial reads of a leadsFile, are in
test_incremental.py and test_partial.py; the rule for a seal in test_seal.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write
from test_operation import ACCOUNT, HEAD, Hooks, run

from engage_sync import workspace
from engage_sync.config import load_config
from engage_sync.donotcall.keys import PhoneKey
from engage_sync.emulator import Emulator
from engage_sync.errors import InputError
from engage_sync.incremental import seal as seals
from engage_sync.incremental.inputs import (
    CampaignInputs,
    in_sync,
    leadset_paths,
    read_inputs,
    record_seals,
)
from engage_sync.state import State, load_state

STATE = Path("engage-sync.state.json")
A, B = 136785, 136790


def leadset(name: str, campaign: int, *numbers: int, extra: str = "") -> Path:
    body = "".join(
        f'  - {{externId: "L-{i}", leadPhone: "41555501{i:02d}", firstName: Ada}}\n'
        for i in numbers
    )
    head = HEAD.replace("136785", str(campaign))
    return write(Path("leadsets") / name, head + "leads:\n" + body + extra)


def with_leads_file(name: str, campaign: int, *numbers: int) -> None:
    head = HEAD.replace("136785", str(campaign))
    write(Path("leadsets") / name, head + f"leadsFile: {name}.csv\n")
    rows = "".join(f"L-{i},41555501{i:02d}\n" for i in numbers)
    write(Path("leadsets") / f"{name}.csv", "externId,leadPhone\n" + rows)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "engage-sync.yaml", f'account: "{ACCOUNT}"\nleadsets: leadsets\n')
    return tmp_path


def state() -> State:
    return load_state(STATE)


# -- the files, campaign by campaign ---------------------------------------------------------------
def test_each_campaigns_files_are_gathered_in_the_order_found(folder: Path) -> None:
    leadset("b1.yaml", B, 3)
    leadset("a.yaml", A, 1, 2)
    leadset("b2.yaml", B, 4)
    found = read_inputs([], load_config(None))
    assert found.whole and sorted(found.campaigns) == [A, B]
    names = {cid: [s.meta.path for s in c.sources] for cid, c in found.campaigns.items()}
    assert names == {A: ["leadsets/a.yaml"], B: ["leadsets/b1.yaml", "leadsets/b2.yaml"]}
    leads = [(s.meta.path, lead.extern_id) for s, lead in found.campaigns[B].leads()]
    assert leads == [("leadsets/b1.yaml", "L-3"), ("leadsets/b2.yaml", "L-4")]
    assert found.skipped == {} and found.chunked == {} and found.partials == {}


def test_a_campaigns_leads_file_is_its_one_file_with_no_inline_leads(folder: Path) -> None:
    with_leads_file("a.yaml", A, 1, 2)
    leadset("b.yaml", B, 3)
    found = read_inputs([], load_config(None))
    source = found.campaigns[A].leads_file
    assert source is not None and source.meta.leads_file == "leadsets/a.yaml.csv"
    assert found.campaigns[B].leads_file is None  # inline leads
    assert [lead.extern_id for _, lead in found.campaigns[A].leads()] == ["L-1", "L-2"]
    leadset("a2.yaml", A, 5)  # a second file of the campaign: no longer its one file
    assert read_inputs([], load_config(None)).campaigns[A].leads_file is None


def test_a_campaign_with_no_files_read_and_no_seal_is_not_skipped() -> None:
    assert not CampaignInputs(A).skipped and CampaignInputs(A).leads_file is None
    assert list(CampaignInputs(A).leads()) == []


# -- which paths ---------------------------------------------------------------------------------
def test_no_path_or_the_folder_itself_is_the_whole_folder(folder: Path) -> None:
    config = load_config(None)
    assert leadset_paths([], config) == (["leadsets"], True)
    assert leadset_paths(["./leadsets/"], config) == (["leadsets"], True)
    assert leadset_paths([str(folder / "leadsets")], config) == (["leadsets"], True)
    assert leadset_paths(["leadsets/a.yaml"], config) == (["leadsets/a.yaml"], False)
    assert leadset_paths(["other", "leadsets"], config) == (["leadsets"], True)


def test_a_configured_folder_outside_the_repository_is_refused(
    folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    write(folder / "engage-sync.yaml", f"leadsets: {outside}\n")
    config = load_config(None)
    with pytest.raises(InputError, match="outside the repository"):
        leadset_paths([], config)
    # named on the command line, a file elsewhere is read
    assert leadset_paths([str(outside / "x.yaml")], config) == ([str(outside / "x.yaml")], False)
    assert in_sync(State(STATE), config) == set()  # nothing to read: nothing in sync


# -- sealed campaigns ----------------------------------------------------------------------------
def test_in_sync_hashes_each_file_once(
    folder: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`state list` asks `in_sync`: whether any seal holds, then what a plan would skip. Both
    need every file's sha256: the second reuses the first's."""
    leadset("a.yaml", A, 1, 2)
    leadset("b.yaml", B, 3)
    assert run(emu, Hooks()).report.ok
    hashed: list[str] = []
    real = seals.file_digest

    def counted(path: Path) -> str | None:
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(seals, "file_digest", counted)
    assert in_sync(state(), load_config(None)) == {A, B}
    assert sorted(hashed) == ["a.yaml", "b.yaml"]


def test_a_sealed_campaign_is_not_read_until_a_file_of_it_changes(
    folder: Path,
    emu: Emulator,
) -> None:
    leadset("a.yaml", A, 1, 2)
    assert run(emu, Hooks()).report.ok
    config = load_config(None)
    assert in_sync(state(), config) == {A}
    found = read_inputs([], config, state())
    camp = found.campaigns[A]
    assert camp.skipped and camp.sources == [] and camp.seal is not None
    assert found.skipped == {A: camp.seal} and found.sources == []
    leadset("b.yaml", A, 3)  # a new file declaring the sealed campaign: read whole
    found = read_inputs([], config, state())
    assert not found.campaigns[A].skipped
    assert in_sync(state(), config) == set()  # `state list` said "in sync" here
    assert [s.meta.path for s in found.campaigns[A].sources] == [
        "leadsets/a.yaml",
        "leadsets/b.yaml",
    ]


def test_another_do_not_call_set_reads_a_sealed_campaign_whole(
    folder: Path,
    emu: Emulator,
) -> None:
    leadset("a.yaml", A, 1, 2)
    leadset("b.yaml", B, 3)
    assert run(emu, Hooks()).report.ok
    write(
        Path("leadsets/dnc.yaml"),
        'doNotCall:\n  - {phone: "(415) 555-0102", requested: 2026-11-20}\n',
    )
    found = read_inputs([], load_config(None), state())
    # the list may block a lead of either campaign: both are read again
    assert not found.campaigns[A].skipped and not found.campaigns[B].skipped
    assert in_sync(state(), load_config(None)) == set()  # and `state list` says neither is in sync
    assert found.registry.listed("+14155550102")


def test_a_tombstone_of_a_sealed_campaign_read_again_adds_its_phone(
    folder: Path,
    emu: Emulator,
) -> None:
    leadset("a.yaml", A, 1, 2, extra='removed:\n  - {externId: "L-9", leadPhone: "4155550109"}\n')
    leadset("b.yaml", B, 3)
    assert run(emu, Hooks()).report.ok
    assert run(emu, Hooks()).report.ok  # the tombstone's phone stopped: the seal follows
    found = read_inputs([], load_config(None), state())
    assert found.campaigns[A].skipped  # not read, its tombstone's phone known by its hash
    leadset("b.yaml", B, 3, 4)
    write(
        Path("leadsets/dnc.yaml"), 'doNotCall:\n  - {phone: "4155550177", requested: 2026-11-20}\n'
    )
    found = read_inputs([], load_config(None), state())
    assert not found.campaigns[A].skipped
    assert "+14155550109" in found.registry.phones
    assert not found.registry.listed("+14155550109")  # a tombstone's, not a list's


def test_seals_are_recorded_only_where_the_state_agrees(
    folder: Path,
    emu: Emulator,
) -> None:
    leadset("a.yaml", A, 1, 2)
    leadset("b.yaml", B, 3)
    planned = workspace.build_plan([], load_config(None), STATE, sealing=True)
    assert sorted(planned.seals) == [A, B]
    assert record_seals(State(STATE), planned.seals, lambda cid: True) == 0  # none applied
    assert run(emu, Hooks()).report.ok
    st = state()
    assert record_seals(st, planned.seals, lambda cid: True) == 0  # as the apply sealed them
    for cid in (A, B):
        st.campaigns[cid].seal = None
    assert record_seals(st, planned.seals, lambda cid: cid == B) == 1  # A not carried out
    assert st.campaigns[A].seal is None and st.campaigns[B].seal is not None
    st.campaigns[A].doubt(["L-1"])
    assert record_seals(st, planned.seals, lambda cid: True) == 0  # a lead in doubt
    st.campaigns[A].settle(["L-1"])
    st.campaigns[A].forget(["L-2"])
    assert record_seals(st, planned.seals, lambda cid: True) == 0  # fewer leads than declared


def test_no_seal_is_made_when_warnings_were_dropped(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leadset("a.yaml", A, 1, 2)
    planned = workspace.build_plan([], load_config(None), STATE, sealing=True)
    assert sorted(planned.seals) == [A]
    from engage_sync.leadsets import Sink

    monkeypatch.setattr(Sink, "unkept", property(lambda self: 1))
    planned = workspace.build_plan([], load_config(None), STATE, sealing=True)
    assert planned.seals == {}


# -- the do-not-call set -------------------------------------------------------------------------
def test_the_do_not_call_set_is_the_lists_and_the_opt_out_tombstones(folder: Path) -> None:
    write(
        Path("leadsets/dnc.yaml"),
        'doNotCall:\n  - {phone: "(415) 555-0170", requested: 2026-11-20, source: IVR}\n',
    )
    tombstones = (
        "removed:\n"
        '  - {externId: "L-8", leadPhone: "4155550108"}\n'
        '  - {externId: "L-9", leadPhone: "4155550109", optOut: false}\n'
    )
    leadset("a.yaml", A, 1, extra=tombstones)
    found = read_inputs([], load_config(None))
    reg = found.registry
    assert reg.listed("+14155550170") and reg.phones["+14155550170"].source == "IVR"
    assert reg.phones["+14155550170"].where() == "leadsets/dnc.yaml:2"
    assert "+14155550108" in reg.phones and not reg.listed("+14155550108")
    assert reg.phones["+14155550108"].source == "tombstone"
    assert "+14155550109" not in reg.phones  # a business removal, not an opt-out
    assert not found.sink.warnings


def test_a_state_key_that_cannot_be_had_is_a_warning(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leadset("a.yaml", A, 1)
    monkeypatch.delenv("ENGAGE_SYNC_PHONE_KEY", raising=False)
    st = State(STATE)
    st.do_not_call.keyed(PhoneKey(b"s" * 16, "secret").to_json())  # a secret not set here
    found = read_inputs([], load_config(None), st)
    (warning,) = found.sink.warnings
    assert "ENGAGE_SYNC_PHONE_KEY" in str(warning) and "engage-sync.yaml" in str(warning)
    assert found.registry.key is None
