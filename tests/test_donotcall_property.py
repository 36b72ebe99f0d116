"""A randomized property of do not call (issue #30), in process against the emulator (httpx's WSGI
transport): random lead sets in two campaigns, random modes, random opt-outs by tombstone, by
list and by Engage's own DO-NOT-CALL state; after apply, no dialable record carries a
do-not-call phone, and every other declared lead has exactly one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_client import FakeClock, make
from test_operation import Hooks

from engage_sync.config import load_config
from engage_sync.donotcall.keys import resolve
from engage_sync.emulator import Emulator, Settings, default_seed
from engage_sync.reconcile.operation import ApplyRequest, apply
from engage_sync.state import load_state

pytestmark = pytest.mark.slow
ACCOUNT = "99990001"
CAMPAIGNS = (136785, 136792)
MODES = ("REMOVE_ALL_EXISTING", "RETAIN_ALL", "REMOVE_FROM_LIST")
POOL = [f"30355501{i:02d}" for i in range(40, 48)]
UNDIALABLE = ("CANCELLED", "PAUSED", "COMPLETE", "DO-NOT-CALL")


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    leads: dict[str, tuple[int, str]] = {}
    for n, cid in enumerate(CAMPAIGNS):
        phones = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=5, unique=True))
        for i, phone in enumerate(phones):
            leads[f"C{n}-{i}"] = (cid, phone)
    ids = sorted(leads)
    return {
        "leads": leads,
        "modes": {cid: draw(st.sampled_from(MODES)) for cid in CAMPAIGNS},
        "tombstoned": draw(st.sets(st.sampled_from(ids), max_size=2)),
        "keep_phone": draw(st.booleans()),  # the tombstone keeps the lead's phone, or not
        "listed": draw(st.sets(st.sampled_from(POOL), max_size=2)),
        # records an agent sets to DO-NOT-CALL (one record: the lead's), and whether the
        # second apply looks at Engage first (--refresh)
        "in_engage": draw(st.sets(st.sampled_from(ids), max_size=2)),
        "refresh": draw(st.booleans()),
        "changed": draw(st.sets(st.sampled_from(ids), max_size=3)),
        "new": draw(st.lists(st.sampled_from(POOL), max_size=2, unique=True)),
    }


@contextlib.contextmanager
def folder() -> Iterator[Path]:
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            write(Path(tmp) / "engage-sync.yaml", f'account: "{ACCOUNT}"\nleadsets: leadsets\n')
            yield Path(tmp)
        finally:
            os.chdir(here)


def write_sets(root: Path, s: dict[str, Any], second: bool) -> None:
    for n, cid in enumerate(CAMPAIGNS):
        lines = [
            f"campaign: {cid}",
            f"options: {{duplicateHandling: {s['modes'][cid]}, timeZoneOption: NPA_NXX, "
            "dialPriority: NORMAL}",
            "leads:",
        ]
        removed = []
        declared = 0
        for eid, (c, phone) in sorted(s["leads"].items()):
            if c != cid:
                continue
            if second and eid in s["tombstoned"]:
                keep = f', leadPhone: "{phone}"' if s["keep_phone"] else ""
                removed.append(f'  - {{externId: "{eid}"{keep}}}')
                continue
            first = "Grace" if second and eid in s["changed"] else "Ada"
            lines.append(f'  - {{externId: "{eid}", leadPhone: "{phone}", firstName: {first}}}')
            declared += 1
        if second and n == 0:  # new people, some with a phone that opted out
            used = {p for c, p in s["leads"].values() if c == cid}
            for i, phone in enumerate(p for p in s["new"] if p not in used):
                lines.append(f'  - {{externId: "N-{i}", leadPhone: "{phone}"}}')
                declared += 1
        if not declared:
            lines[-1] = "leads: []"
        if removed:
            lines += ["removed:", *removed]
        write(root / "leadsets" / f"c{n}.yaml", "\n".join(lines) + "\n")
    if second and s["listed"]:
        write(
            root / "leadsets" / "dnc.yaml",
            "doNotCall:\n"
            + "".join(f'  - {{phone: "{p}", requested: 2026-11-20}}\n' for p in s["listed"]),
        )


def run(emu: Emulator, refresh: bool = False) -> Any:
    client = make(emu, FakeClock())
    req = ApplyRequest(default_account=ACCOUNT, lookup_delay=0.0, refresh=refresh)
    return apply(req, load_config(None), Path("engage-sync.state.json"), client, Hooks())


def declared(s: dict[str, Any]) -> dict[str, tuple[int, str]]:
    found = {e: v for e, v in s["leads"].items() if e not in s["tombstoned"]}
    used = {p for c, p in s["leads"].values() if c == CAMPAIGNS[0]}
    for i, phone in enumerate(p for p in s["new"] if p not in used):
        found[f"N-{i}"] = (CAMPAIGNS[0], phone)
    return found


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenarios())
def test_no_dialable_record_carries_a_do_not_call_phone_and_every_other_lead_has_one(
    s: dict[str, Any],
) -> None:
    emu = Emulator(default_seed(), Settings(rate_scale=1000.0))
    try:
        with folder() as root:
            write_sets(root, s, second=False)
            first = run(emu)
            assert first.report.ok, first.report.as_dict()
            engage_dnc = {  # (campaign, externId) of the records agents set to DO-NOT-CALL
                (s["leads"][e][0], e) for e in s["in_engage"]
            }
            with emu.store.transaction() as store:
                ids = [
                    r["leadId"]
                    for r in store.all_leads(None)
                    if (r["campaignId"], r["externId"]) in engage_dnc
                ]
                store.set_state(ids, "DO-NOT-CALL", None)
            write_sets(root, s, second=True)
            second = run(emu, s["refresh"])
            assert second.report.ok, second.report.as_dict()
            state = load_state(root / "engage-sync.state.json")
            key, _ = resolve(state.do_not_call.key)
            learned = {
                p
                for p in POOL
                if key is not None and key.digest("+1" + p) in state.do_not_call.done
            }
            dnc = set(s["listed"]) | {s["leads"][e][1] for e in s["tombstoned"]} | learned
            held = {s["leads"][e][1] for e in s["in_engage"]}
            if s["refresh"]:  # apply --refresh stops every phone Engage holds as do-not-call
                assert held <= dnc
            live = [r for r in emu.store.all_leads(None) if r["leadState"] not in UNDIALABLE]
            assert not [r for r in live if r["lead"]["leadPhone"] in dnc]
            for eid, (cid, phone) in declared(s).items():
                mine = [r for r in live if r["externId"] == eid and r["campaignId"] == cid]
                if phone in dnc or (cid, eid) in engage_dnc:
                    assert mine == []  # Engage's opt-out was never revived
                    continue
                assert len(mine) == 1, (eid, cid, s)
    finally:
        emu.store.close()
