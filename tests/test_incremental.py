"""Incremental plans (issue #13): a campaign whose files are what the last apply recorded is not
read, and the plan is the same as a full read. A property test runs random sequences of edits,
moves between files, `state rm`, `import`, applies (whole and cut short) and setting changes
against the emulator, and compares the two plans after every step."""

from __future__ import annotations

import copy
import json
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Served, write
from deepdiff import DeepDiff
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engage_sync import leadsets, workspace
from engage_sync.config import aimed, load_config
from engage_sync.errors import ValidationFailed
from engage_sync.render import plan_document, render_markdown, render_text

A, B = 136785, 136790  # campaigns of the emulator's demo account
STATE = "engage-sync.state.json"


@dataclass
class Files:
    """The lead sets of a small repository, as data: written out after every step."""

    root: Path
    # file -> (campaign, {externId: (phone, first name)}); b.yaml reads its leads from b.csv
    leads: dict[str, tuple[int, dict[str, tuple[str, str]]]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)
    priority: dict[int, str] = field(default_factory=dict)  # per campaign: its files agree
    prune_default: bool = False
    spacing: int = 0  # a reformatting: other bytes, the same leads
    next_id: int = 0
    handling: str = "REMOVE_ALL_EXISTING"

    def new_id(self) -> str:
        self.next_id += 1
        return f"P-{self.next_id:04d}"

    def write(self) -> None:
        config = "account: '99990001'\nleadsets: leadsets\noptions: {listState: ACTIVE}\n"
        if self.prune_default:
            config += "prune: true\n"
        write(self.root / "engage-sync.yaml", config)
        for name, (campaign, leads) in self.leads.items():
            head = [
                f"campaign: {campaign}",
                "options:",
                f"  duplicateHandling: {self.handling}",
                "  timeZoneOption: NPA_NXX",
                f"  dialPriority: {self.priority.get(campaign, 'NORMAL')}",
            ] + [""] * self.spacing
            if self.removed.get(name):
                head.append("removed:")
                head += [f"  - externId: {eid}" for eid in self.removed[name]]
            if name == "b.yaml":
                head.append("leadsFile: b.csv")
                rows = ["externId,leadPhone,firstName"]
                rows += [f"{e},{p},{f}" for e, (p, f) in sorted(leads.items())]
                write(self.root / "leadsets" / "b.csv", "\n".join(rows) + "\n")
            else:
                head.append("leads:" if leads else "leads: []")
                for eid, (phone, first) in sorted(leads.items()):
                    head += [f"  - externId: {eid}", f"    leadPhone: '{phone}'"]
                    head.append(f"    firstName: {first}")
            write(self.root / "leadsets" / name, "\n".join(head) + "\n")


def phone(n: int) -> str:
    return f"415555{n:04d}"


def start(root: Path) -> Files:
    files = Files(root)
    for name, campaign in (("a.yaml", A), ("b.yaml", A), ("c.yaml", B)):
        files.leads[name] = (campaign, {})
        for _ in range(3):
            eid = files.new_id()
            files.leads[name][1][eid] = (phone(files.next_id), "Ada")
    files.write()
    return files


def plans(root: Path) -> tuple[Any, Any, frozenset[int]]:
    """The plan read in full, and incrementally (with the campaigns it skipped)."""
    config = aimed(load_config(cwd=root))  # where the apply sends (the environment)
    out = []
    skipped: frozenset[int] = frozenset()
    for incremental in (False, True):
        try:
            planned = workspace.build_plan([], config, root / STATE, incremental=incremental)
        except ValidationFailed as e:
            out.append(("invalid", [str(p) for p in e.problems]))
            continue
        doc = plan_document(planned.plan, planned.rails)
        out.append(
            (
                doc,
                render_text(planned.plan, limit=1000, rails=planned.rails),
                render_markdown(planned.plan, planned.rails),
                sorted(str(p) for p in planned.sink.problems),  # the warnings, at their lines
            )
        )
        skipped = planned.skipped if incremental else skipped
    return out[0], out[1], skipped


@dataclass
class World:
    files: Files
    served: Served
    run: Any
    skipped_seen: int = 0
    snapshot: dict[str, Any] = field(default_factory=dict)  # the files at the last apply

    def cli(self, *args: str) -> Any:
        return self.run(*args)

    def apply(self, fault: str | None = None) -> None:
        if fault is not None:
            httpx.post(f"{self.served.origin}/_emulator/faults", json={"kind": fault}, timeout=5)
        self.cli("apply", "--auto-approve", "--max-retries", "0", "--rate-scale", "100")
        self.snapshot = copy.deepcopy(vars(self.files))
        httpx.delete(f"{self.served.origin}/_emulator/faults", timeout=5)


def step(world: World, op: str, rnd: random.Random) -> None:
    files = world.files
    name = rnd.choice(sorted(files.leads))
    campaign, leads = files.leads[name]
    ids = sorted(leads)
    if op == "edit" and ids:
        eid = rnd.choice(ids)
        old_phone, first = leads[eid]
        leads[eid] = (
            (old_phone, first + "x") if rnd.random() < 0.5 else (phone(rnd.randrange(9999)), first)
        )
    elif op == "add":
        eid = files.new_id()
        leads[eid] = (phone(files.next_id), "Grace")
    elif op == "share" and ids:  # a household's number: a warning, and still sealed
        mates = [e for n, (c, ls) in files.leads.items() if c == campaign for e in ls]
        eid, mate = rnd.choice(ids), rnd.choice(mates)
        others = {**leads, **{e: v for n, (c, ls) in files.leads.items() for e, v in ls.items()}}
        leads[eid] = (others[mate][0], leads[eid][1])
    elif op == "drop" and ids:
        del leads[rnd.choice(ids)]
    elif op == "tombstone" and ids:
        eid = rnd.choice(ids)
        del leads[eid]
        files.removed.setdefault(name, []).append(eid)
    elif op == "move" and ids:
        others = [n for n, (c, _) in files.leads.items() if c == campaign and n != name]
        if others:
            eid = rnd.choice(ids)
            files.leads[rnd.choice(others)][1][eid] = leads.pop(eid)
    elif op == "mode":  # under RETAIN_ALL a shared phone keeps both records: sealed, warnings too
        files.handling = "RETAIN_ALL" if files.handling != "RETAIN_ALL" else "REMOVE_ALL_EXISTING"
    elif op == "priority":
        files.priority[campaign] = (
            "IMMEDIATE" if files.priority.get(campaign) != "IMMEDIATE" else "NORMAL"
        )
    elif op == "reformat":
        files.spacing = (files.spacing + 1) % 3
    elif op == "prune-setting":
        files.prune_default = not files.prune_default
    elif op == "state-rm":
        state = (
            json.loads((files.root / STATE).read_text()) if (files.root / STATE).exists() else {}
        )
        owned = state.get("campaigns", {}).get(str(campaign), {}).get("leads", {})
        if owned:
            world.cli("state", "rm", str(campaign), rnd.choice(sorted(owned)))
    elif op == "import":
        world.cli("import", "--campaign", str(campaign), f"leadsets/{name}")
    elif op == "undo":  # back to the files of the last apply (git revert)
        vars(files).update(copy.deepcopy(world.snapshot))
    elif op == "apply":
        world.apply()
    elif op == "apply-rejected":
        world.apply("reject")
    elif op == "apply-failed":
        world.apply("500")
    files.write()


OPS = (
    "edit",
    "add",
    "share",
    "mode",
    "drop",
    "tombstone",
    "move",
    "priority",
    "reformat",
    "prune-setting",
    "state-rm",
    "import",
    "undo",
    "apply",
    "apply",
    "apply-rejected",
    "apply-failed",
)


@pytest.fixture
def world(served: Served, run: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for k, v in served.env("api-token").items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("ENGAGE_SYNC_LOOKUP_DELAY", "0.01")
    # apply paces at --rate-scale 100 (World.apply): the emulator counts at the same scale, or
    # its real 10 s and 60 s windows fill and every later apply waits out their 429s
    served.emulator.settings.rate_scale = 100.0
    for var in ("ENGAGE_SYNC_STATE", "ENGAGE_SYNC_CONFIG", "CI"):
        monkeypatch.delenv(var, raising=False)
    world = World(Files(Path(".")), served, run)
    yield world
    assert world.skipped_seen > 0, "no step ever planned incrementally: the test tests nothing"


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(st.sampled_from(OPS), min_size=3, max_size=15), seed=st.integers(0, 2**32))
def test_the_incremental_plan_always_equals_the_full_one(
    world: World, monkeypatch: pytest.MonkeyPatch, ops: list[str], seed: int
) -> None:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        monkeypatch.chdir(root)
        world.files = start(root)
        world.apply()  # start from a sealed state, then wander
        for op in ops:
            step(world, op, rnd)
            full, incremental, skipped = plans(root)
            assert incremental == full, f"after {op} ({ops}, {seed}): {DeepDiff(full, incremental)}"
            world.skipped_seen += len(skipped)


def test_an_applied_campaign_is_not_read_again_until_a_file_changes(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    world.files = start(tmp_path)
    read: list[str] = []
    real = leadsets.load_source

    def counting(path: Path, *args: Any, **kwargs: Any) -> Any:
        read.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(leadsets, "load_source", counting)
    monkeypatch.setattr("engage_sync.leadsets.sources.load_source", counting)
    world.apply()
    state = json.loads((tmp_path / STATE).read_text())
    assert {k for k, c in state["campaigns"].items() if "synced" in c} == {str(A), str(B)}
    listed = world.cli("state", "list", "--format", "json")
    assert [c["synced"] for c in json.loads(listed.out)["campaigns"]] == [True, True]
    assert "in sync (unchanged files are not read)" in world.cli("state", "list").out
    read.clear()
    full, incremental, skipped = plans(tmp_path)
    assert incremental == full and skipped == {A, B}
    assert sorted(read) == ["a.yaml", "b.yaml", "c.yaml"]  # by the full plan only
    # a changed leadsFile makes its campaign read whole, the other one still skipped
    _, leads = world.files.leads["b.yaml"]
    eid = sorted(leads)[0]
    leads[eid] = (leads[eid][0], "Changed")
    world.files.write()
    read.clear()
    full, incremental, skipped = plans(tmp_path)
    assert incremental == full and skipped == {B}
    assert sorted(read) == ["a.yaml", "a.yaml", "b.yaml", "b.yaml", "c.yaml"]
    listed = json.loads(world.cli("state", "list", "--format", "json").out)["campaigns"]
    assert {c["campaignId"]: c["synced"] for c in listed} == {A: False, B: True}  # files moved on
    world.skipped_seen += 1
    # a new file declaring a sealed campaign: that campaign is read whole
    write(tmp_path / "leadsets" / "d.yaml", (tmp_path / "leadsets" / "c.yaml").read_text())
    full, incremental, skipped = plans(tmp_path)
    assert incremental == full and skipped == frozenset()


def test_a_campaign_with_shared_phones_is_sealed_and_skipped_with_its_warnings(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    world.files = start(tmp_path)
    world.files.handling = "RETAIN_ALL"  # both records kept: the state equals the files
    _, leads = world.files.leads["c.yaml"]  # campaign B: a household shares one number
    first, second = sorted(leads)[:2]
    leads[second] = (leads[first][0], leads[second][1])
    world.files.write()
    world.apply()
    full, incremental, skipped = plans(tmp_path)
    assert skipped == {A, B} and incremental == full  # the plan, its markdown, its warnings
    assert any("same phone as the lead at leadsets/c.yaml" in p for p in full[3])
    assert any(f"campaign {B}: 1 lead(s) share a phone" in w for w in full[0]["warnings"])
    world.skipped_seen += 1


def test_a_seal_is_not_trusted_when_the_state_was_edited_by_hand(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    world.files = start(tmp_path)
    world.apply()
    path = tmp_path / STATE
    state = json.loads(path.read_text())
    leads = state["campaigns"][str(B)]["leads"]
    del leads[sorted(leads)[0]]  # by hand, not with `state rm`: the seal stays in the file
    path.write_text(json.dumps(state))
    full, incremental, skipped = plans(tmp_path)
    assert skipped == {A} and incremental == full
    assert full[0]["summary"]["create"] == 1
    world.skipped_seen += 1


@pytest.mark.parametrize("how", ["import", "state-rm-and-import"])
def test_a_state_changed_since_the_seal_is_read_again_even_with_the_old_bytes(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Sealed, then edited and imported (the state now holds the edit), then reverted: the
    files are the sealed bytes again, but the state is not what they declare."""
    monkeypatch.chdir(tmp_path)
    world.files = start(tmp_path)
    world.apply()
    before = (tmp_path / "leadsets" / "c.yaml").read_bytes()
    _, leads = world.files.leads["c.yaml"]
    eid = sorted(leads)[0]
    leads[eid] = (leads[eid][0], "Edited")
    world.files.write()
    if how == "state-rm-and-import":
        assert world.cli("state", "rm", str(B), eid).code == 0
    assert world.cli("import", "--campaign", str(B), "leadsets/c.yaml").code == 0
    (tmp_path / "leadsets" / "c.yaml").write_bytes(before)
    full, incremental, skipped = plans(tmp_path)
    assert skipped == {A} and incremental == full
    assert full[0]["summary"]["update"] == 1
    world.skipped_seen += 1
