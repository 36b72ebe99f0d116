"""incremental/seal.py: the one rule for a seal that holds, what a seal keeps (and refuses to
read back), and when apply may seal a campaign (plans that skip sealed campaigns end to end
are in test_incremental.py, partial reads in test_partial.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engage_sync.incremental.seal import (
    SEAL_VERSION,
    Chunk,
    Seal,
    file_digest,
    holds,
    seal_for,
    settings_key,
)
from engage_sync.model import LoadOptions, Problem, PruneAction, Severity
from engage_sync.state import CampaignState

KEY = settings_key({"dialPriority": "NORMAL"}, False, "cancel", "1@https://engage.example")


def sealed(
    tmp_path: Path, leads: int = 2, **kw: Any
) -> tuple[CampaignState, dict[str, str | None]]:
    """A campaign sealed over one lead-set file and one leadsFile, the state holding `leads`."""
    files = {"a.yaml": b"campaign: 7\n", str(tmp_path / "l.csv"): b"externId,leadPhone\n"}
    (tmp_path / "l.csv").write_bytes(files[str(tmp_path / "l.csv")])
    seal = Seal(
        key=KEY,
        inputs=tuple((p, hashlib.sha256(b).hexdigest()) for p, b in files.items()),
        leads=leads,
        files=("a.yaml",),
        name="Spring",
        account="1",
        options=LoadOptions((("dialPriority", "NORMAL"), ("dncTags", ("a", "b")))),
        prune=True,
        prune_action=PruneAction.DELETE,
        **kw,
    )
    camp = CampaignState(leads={f"e{i}": "x" for i in range(2)})
    camp.seal = seal.to_json()
    return camp, {"a.yaml": hashlib.sha256(b"campaign: 7\n").hexdigest()}


def test_a_seal_holds_while_the_state_the_settings_and_the_bytes_are_as_sealed(
    tmp_path: Path,
) -> None:
    camp, digests = sealed(tmp_path)
    seal = holds(camp, KEY, digests)
    assert seal is not None and seal.name == "Spring"
    assert str(tmp_path / "l.csv") in digests  # hashed once, kept for the next campaign


def test_each_change_breaks_the_seal(tmp_path: Path) -> None:
    camp, digests = sealed(tmp_path)
    assert holds(None, KEY, dict(digests)) is None
    assert holds(camp, "another key", dict(digests)) is None
    assert holds(camp, KEY, {"a.yaml": "edited"}) is None
    assert holds(camp, KEY, dict(digests), dnc="another set") is None
    camp.in_doubt.add("e9")
    assert holds(camp, KEY, dict(digests)) is None
    camp.in_doubt.clear()
    camp.leads.pop("e1")  # the state lost a lead the seal counted
    assert holds(camp, KEY, dict(digests)) is None


def test_a_changed_leads_file_breaks_the_seal_unless_it_is_read_chunk_by_chunk(
    tmp_path: Path,
) -> None:
    camp, digests = sealed(tmp_path)
    (tmp_path / "l.csv").write_bytes(b"externId,leadPhone\nnew,4155550100\n")
    assert holds(camp, KEY, dict(digests)) is None
    assert holds(camp, KEY, dict(digests), but=str(tmp_path / "l.csv")) is not None
    (tmp_path / "l.csv").unlink()
    assert holds(camp, KEY, dict(digests)) is None  # gone: no digest, never a match


def test_a_seal_reads_back_as_written_with_its_chunks_and_groups(tmp_path: Path) -> None:
    chunk = Chunk(0, 100, 2, 3, "ab" * 16, 3, 2**63 + 5, 17, True, ("(NNN) NNN-NNNN",))
    camp, _ = sealed(
        tmp_path,
        warnings=(("a.yaml", 4, "leadPhone", "shared"),),
        shared_phones=2,
        leads_file="l.csv",
        chunks=(chunk, Chunk(100, 200, 5, 1, "cd" * 16, 1, 0, 0, False)),
        groups=((("e0", 2), ("e1", 3)),),
        dnc="fingerprint",
    )
    assert camp.seal is not None
    back = Seal.from_json(camp.seal)
    assert back is not None and back.to_json() == camp.seal
    assert dict(back.options.items)["dncTags"] == ("a", "b") and back.chunks[0] == chunk
    assert Seal.from_json({**camp.seal, "doNotCall": None}) is not None  # an old one: no set


@pytest.mark.parametrize(
    "change",
    [
        {"version": SEAL_VERSION - 1},
        {"leads": "many"},
        {"pruneAction": "shred"},
        {"chunks": [[1, 2, 3]]},
        {"inputs": None},
    ],
)
def test_a_seal_of_another_version_or_mangled_is_no_seal(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    camp, digests = sealed(tmp_path)
    assert camp.seal is not None
    camp.seal = {**camp.seal, **change}
    assert Seal.from_json(camp.seal) is None and holds(camp, KEY, digests) is None
    bare = dict(camp.seal)
    del bare["groups"]
    assert Seal.from_json(bare) is None


def test_the_settings_key_changes_with_whatever_changes_how_files_are_read() -> None:
    base = ({"dialPriority": "NORMAL"}, False, "cancel", "1@https://engage.example")
    keys = {
        settings_key(*base),
        settings_key({"dialPriority": "IMMEDIATE"}, *base[1:]),
        settings_key(base[0], True, *base[2:]),
        settings_key(*base[:2], "delete", base[3]),
        settings_key(*base[:3], "2@https://engage.example"),
    }
    assert len(keys) == 5 and settings_key(*base) == KEY


def test_a_file_that_cannot_be_read_has_no_digest(tmp_path: Path) -> None:
    assert file_digest(tmp_path / "none") is None
    assert file_digest(tmp_path) is None  # a folder
    (tmp_path / "f").write_bytes(b"x" * (3 << 20))  # streamed past one read
    assert file_digest(tmp_path / "f") == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


def plan(**kw: Any) -> Any:
    """What seal_for reads of a LeadSetPlan."""
    fields: dict[str, Any] = {
        "orphans": (),
        "in_doubt": (),
        "drift": (),
        "blocked": (),
        "declared": 2,
        "files": ("a.yaml",),
        "campaign": SimpleNamespace(name="Spring"),
        "account": "1",
        "options": LoadOptions(),
        "prune": False,
        "prune_action": PruneAction.CANCEL,
    }
    return SimpleNamespace(**{**fields, **kw})


def test_apply_seals_a_clean_plan_keeping_its_warnings() -> None:
    warning = Problem("a.yaml", 4, "leadPhone", "shared", Severity.WARNING)
    elsewhere = Problem("b.yaml", 1, "campaign", "bad", Severity.ERROR)
    seal = seal_for(plan(), [("a.yaml", "d1")], KEY, [warning, elsewhere], shared_phones=1)
    assert seal is not None and seal.leads == 2 and seal.inputs == (("a.yaml", "d1"),)
    assert seal.warnings == (("a.yaml", 4, "leadPhone", "shared"),)


@pytest.mark.parametrize("dirty", ["orphans", "in_doubt", "drift", "blocked"])
def test_a_plan_that_leaves_the_state_short_of_the_files_is_not_sealed(dirty: str) -> None:
    assert seal_for(plan(**{dirty: ("x",)}), [("a.yaml", "d1")], KEY, []) is None


def test_an_error_at_the_files_or_an_unreadable_input_is_not_sealed() -> None:
    error = Problem("a.yaml", 4, "leadPhone", "bad", Severity.ERROR)
    assert seal_for(plan(), [("a.yaml", "d1")], KEY, [error]) is None
    assert seal_for(plan(), [("a.yaml", "d1"), ("l.csv", None)], KEY, []) is None
