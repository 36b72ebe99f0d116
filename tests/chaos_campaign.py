"""A randomized convergence campaign (issue #32): engage-sync's promise checked against faults
combined in random order, the way production meets them.

Each schedule is drawn from one seed: one or two campaigns, each under a random
`duplicateHandling`, and rounds of random lead-set edits (adds, field changes, phone changes,
tombstones, do-not-call entries), records duplicated or cancelled by hand in Engage, and applies
(the installed `engage-sync apply`, as a subprocess) under injected faults (docs/emulator.md), some
of them `kill -9`ed or sent Ctrl-C when the emulator has received their Nth call of some endpoint.
Then a clean `apply --refresh`, after which the emulator's store must hold exactly one dialable
record per declared lead (at most one for a lead cancelled by hand: "stopped" is never undone),
with its declared phone and content; none for a removed lead, a blocked lead or a do-not-call
phone; the records engage-sync does not own untouched; and `plan --refresh --detailed-exitcode`
must have nothing left to do.

The emulator is served on 127.0.0.1 from this process (one per schedule, in memory). A failing
schedule prints its seed, its steps and what is wrong; `scripts/chaos.sh --replay SEED` runs it
again. `scripts/chaos.sh --schedules N --seed S` runs seeds S .. S+N-1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # conftest's helpers, run as a script
from conftest import ENGAGE_SYNC, Served, interruptible, user_env

from engage_sync.emulator import Emulator, Settings, default_seed
from engage_sync.emulator.server import serve

ACCOUNT = "99990001"
CAMPAIGNS = (136785, 136792)  # declared by the lead sets; 136790 holds foreign records only
OTHER_CAMPAIGN = 136790
MODES = ("RETAIN_ALL", "REMOVE_ALL_EXISTING", "REMOVE_FROM_LIST")
TODAY = "2026-12-01"  # ENGAGE_SYNC_TODAY and every `requested:`: no deadline ever passes
NAMES = ("Ada", "Bea", "Cy", "Dee", "Eve", "Fay")
NOT_DIALABLE = {
    "CANCELLED",
    "PAUSED",
    "COMPLETE",
    "DO-NOT-CALL",
    "MAX-DIAL-LIMIT",
    "DISCONNECTED",
    "INTERCEPT",
}
# the faults each endpoint is given (docs/emulator.md); `scrub` is left out: a record Engage's
# own do-not-call scrub drops is legitimately missing, which the invariant would call a loss
FAULTS = {
    "loader": (
        "500",
        "503",
        "429",
        "hang",
        "drop",
        "failed",
        "reject",
        "lost",
        "unsupplied",
        "stall",
        "expired",
        "echo",
    ),
    "search": ("500", "503", "429", "hang", "drop", "stall", "expired", "echo"),
    "actions": ("500", "503", "429", "hang", "drop", "unsuccessful", "stall", "expired", "echo"),
}
CALLS = {"loader": "loaderCalls", "search": "leadSearchCalls", "actions": "actionsCalls"}
TIMEOUT = 2.0  # the client's timeout in the faulted applies (ENGAGE_SYNC_TIMEOUT)
HANG = 2.5  # the emulator's hangs, and the long stalls: past that timeout
RATE_SCALE = 20.0  # the documented limits twenty times faster, on both sides
BOUND = 300.0  # a bound on one command, not a measurement


# -- a schedule: what is drawn from the seed ----------------------------------------------------


@dataclass(frozen=True)
class Lead:
    extern_id: str
    phone: str
    name: str


@dataclass(frozen=True)
class Edit:
    kind: str  # add | field | phone | tombstone | dnc
    campaign: int = 0
    lead: Lead | None = None  # add: the new lead; field/phone: the lead as it becomes
    extern_id: str = ""
    phone: str = ""  # dnc: the phone
    keep_phone: bool = False  # tombstone: keeps the lead's leadPhone
    what: str = ""  # dnc: whose phone it is

    def describe(self) -> str:
        if self.kind == "dnc":
            return f"do-not-call {self.phone} ({self.what})"
        lead = self.lead
        if self.kind == "add" and lead:
            return f"add {self.campaign}/{lead.extern_id} phone {lead.phone} name {lead.name}"
        if self.kind == "field" and lead:
            return f"field {self.campaign}/{lead.extern_id} name -> {lead.name}"
        if self.kind == "phone" and lead:
            return f"phone {self.campaign}/{lead.extern_id} -> {lead.phone}"
        keep = " (keeps its phone)" if self.keep_phone else ""
        return f"tombstone {self.campaign}/{self.extern_id}{keep}"


@dataclass(frozen=True)
class Hand:
    kind: str  # duplicate | cancel: done by hand in Engage
    campaign: int
    extern_id: str

    def describe(self) -> str:
        return f"by hand: {self.kind} {self.campaign}/{self.extern_id}"


@dataclass(frozen=True)
class Fault:
    endpoint: str
    kind: str
    count: int = 1
    rows: int = 1
    seconds: float | None = None

    def describe(self) -> str:
        extra = f" rows={self.rows}" if self.kind == "reject" else ""
        extra += f" {self.seconds}s" if self.seconds is not None else ""
        return f"{self.endpoint}:{self.kind}x{self.count}{extra}"


@dataclass(frozen=True)
class Interrupt:
    how: str  # kill (SIGKILL) | int (SIGINT)
    endpoint: str
    after: int  # once the emulator has received this many calls of the endpoint in this apply

    def describe(self) -> str:
        return (
            f"{'kill -9' if self.how == 'kill' else 'Ctrl-C'} at {self.endpoint} call {self.after}"
        )


@dataclass(frozen=True)
class Apply:
    batch: int
    force: bool
    refresh: bool
    faults: tuple[Fault, ...] = ()
    interrupt: Interrupt | None = None

    def describe(self) -> str:
        flags = f"--batch-size {self.batch}" + " --force" * self.force + " --refresh" * self.refresh
        faults = ", ".join(f.describe() for f in self.faults) or "no faults"
        stop = f"; {self.interrupt.describe()}" if self.interrupt else ""
        return f"apply {flags} under {faults}{stop}"


Step = Edit | Hand | Apply


@dataclass(frozen=True)
class Schedule:
    seed: int
    modes: tuple[tuple[int, str], ...]  # (campaign, duplicateHandling)
    token_ttl: float
    foreign: tuple[tuple[int, str, str], ...]  # (campaign, externId, phone) loaded by hand first
    steps: tuple[Step, ...]

    def describe(self) -> list[str]:
        modes = ", ".join(f"{c} {m}" for c, m in self.modes)
        lines = [f"campaigns {modes}; token ttl {self.token_ttl:g}s; {len(self.foreign)} foreign"]
        lines += [f"{i:>3}. {s.describe()}" for i, s in enumerate(self.steps, 1)]
        return lines


@dataclass
class Model:
    """What the lead sets declare, and what happened by hand: the expectation."""

    declared: dict[int, dict[str, Lead]] = field(default_factory=dict)
    removed: dict[int, dict[str, tuple[Lead, bool]]] = field(default_factory=dict)
    dnc: list[tuple[str, str]] = field(default_factory=list)  # (phone, whose)
    cancelled_by_hand: set[tuple[int, str]] = field(default_factory=set)

    def edit(self, e: Edit) -> None:
        if e.kind == "dnc":
            self.dnc.append((e.phone, e.what))
        elif e.kind == "tombstone":
            lead = self.declared[e.campaign].pop(e.extern_id)
            self.removed.setdefault(e.campaign, {})[e.extern_id] = (lead, e.keep_phone)
        elif e.lead is not None:
            self.declared.setdefault(e.campaign, {})[e.lead.extern_id] = e.lead

    def dnc_phones(self) -> set[str]:
        return {p for p, _ in self.dnc}


def draw(seed: int) -> Schedule:
    """The schedule of one seed (the same on every machine: only `random.Random(seed)`)."""
    rng = random.Random(seed)
    campaigns = CAMPAIGNS[:1] if rng.random() < 0.7 else CAMPAIGNS
    modes = tuple((c, rng.choice(MODES)) for c in campaigns)
    token_ttl = rng.choice((300.0, 300.0, 300.0, 1.5))
    model = Model()
    phones = iter(range(1, 100_000))
    numbers = {c: iter(range(1, 1000)) for c in campaigns}

    def phone() -> str:
        return f"41555{next(phones):05d}"

    foreign = tuple(
        (c, f"F-{c}-{i}", f"41556{c % 1000:03d}{i:02d}")
        for c in (*campaigns, OTHER_CAMPAIGN)
        for i in range(rng.randint(1, 2))
    )
    steps: list[Step] = []

    def add(c: int) -> None:
        e = Edit("add", c, Lead(f"K{c % 100}-{next(numbers[c]):03d}", phone(), rng.choice(NAMES)))
        model.edit(e)
        steps.append(e)

    for c in campaigns:
        for _ in range(rng.randint(2, 5)):
            add(c)
    for round_ in range(rng.randint(2, 4)):
        if round_:
            for _ in range(rng.randint(1, 3)):
                edit = _draw_edit(rng, model, campaigns, foreign, phone)
                if edit is None:
                    add(rng.choice(campaigns))
                else:
                    model.edit(edit)
                    steps.append(edit)
            if rng.random() < 0.35:
                c = rng.choice(campaigns)
                ids = sorted(model.declared[c]) + sorted(model.removed.get(c, {}))
                steps.append(
                    Hand(rng.choice(("duplicate", "duplicate", "cancel")), c, rng.choice(ids))
                )
        steps.append(_draw_apply(rng))
    return Schedule(seed, modes, token_ttl, foreign, tuple(steps))


def _draw_edit(
    rng: random.Random,
    model: Model,
    campaigns: tuple[int, ...],
    foreign: tuple[tuple[int, str, str], ...],
    phone: Callable[[], str],
) -> Edit | None:
    c = rng.choice(campaigns)
    leads = model.declared[c]
    kind = rng.choice(("add", "field", "field", "phone", "phone", "tombstone", "dnc"))
    if kind == "add" or not leads:
        return None
    lead = leads[rng.choice(sorted(leads))]
    if kind == "field":
        others = [n for n in NAMES if n != lead.name]
        return Edit("field", c, Lead(lead.extern_id, lead.phone, rng.choice(others)))
    if kind == "phone":
        return Edit("phone", c, Lead(lead.extern_id, phone(), lead.name))
    if kind == "tombstone" and len(leads) > 1:  # an emptied lead set is a rail of its own
        return Edit("tombstone", c, extern_id=lead.extern_id, keep_phone=rng.random() < 0.5)
    whose = rng.choice(("declared", "declared", "removed", "foreign", "nobody"))
    removed = [x for x, _ in model.removed.get(c, {}).values()]
    if whose == "declared":
        return Edit("dnc", phone=lead.phone, what=f"declared {c}/{lead.extern_id}")
    if whose == "removed" and removed:
        gone = rng.choice(removed)
        return Edit("dnc", phone=gone.phone, what=f"removed {c}/{gone.extern_id}")
    if whose == "foreign":
        _, extern_id, number = rng.choice(foreign)
        return Edit("dnc", phone=number, what=f"foreign {extern_id}")
    return Edit("dnc", phone=phone(), what="no record")


def _draw_apply(rng: random.Random) -> Apply:
    faults = []
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
        endpoint = rng.choice(("loader", "loader", "search", "actions"))
        kind = rng.choice(FAULTS[endpoint])
        seconds = rng.choice((0.3, HANG)) if kind == "stall" else None
        count = 1 if kind in ("hang", "stall") else rng.randint(1, 3)
        faults.append(Fault(endpoint, kind, count, rng.randint(1, 3), seconds))
    interrupt = None
    if rng.random() < 0.35:
        endpoint = rng.choice(("loader", "loader", "search", "actions"))
        interrupt = Interrupt(rng.choice(("kill", "kill", "int")), endpoint, rng.randint(1, 3))
    return Apply(
        batch=rng.choice((1, 2, 3, 500)),
        force=rng.random() < 0.7,
        refresh=rng.random() < 0.2,
        faults=tuple(faults),
        interrupt=interrupt,
    )


# -- running a schedule -------------------------------------------------------------------------


class InFlight:
    """The emulator's WSGI app, counting the requests inside it: the harness waits until none
    is (a stalled load finishes after its client gave up) before it looks or acts by hand."""

    def __init__(self, app: Any) -> None:
        self.app, self.count, self.lock = app, 0, threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            self.count += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self.count -= 1

    def wait_idle(self) -> None:
        deadline = time.monotonic() + BOUND
        while self.count and time.monotonic() < deadline:
            time.sleep(0.02)


@dataclass
class Outcome:
    seed: int
    ok: bool
    problems: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    struck: Counter[str] = field(default_factory=Counter)  # endpoint:kind -> faults that struck
    interrupts: Counter[str] = field(default_factory=Counter)  # kill/int that were sent
    codes: Counter[str] = field(default_factory=Counter)  # apply exit codes
    hand: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    workdir: str = ""


@contextlib.contextmanager
def emulator(token_ttl: float) -> Iterator[tuple[Served, Emulator, InFlight]]:
    emu = Emulator(
        default_seed(), Settings(hang_seconds=HANG, rate_scale=RATE_SCALE, token_ttl=token_ttl)
    )
    server = serve(emu, "127.0.0.1", 0)
    counted = InFlight(server.get_app())
    server.set_app(counted)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield Served(f"http://{host}:{port}", emulator=emu), emu, counted
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        emu.store.close()


class Runner:
    def __init__(self, schedule: Schedule, root: Path, served: Served, emu: Emulator) -> None:
        self.s, self.root, self.served, self.emu = schedule, root, served, emu
        self.model = Model()
        self.out = Outcome(schedule.seed, ok=True, workdir=str(root))
        self.http = httpx.Client(base_url=served.origin, timeout=BOUND)
        self.modes = dict(schedule.modes)
        self.runs = 0

    def env(self, faulted: bool) -> dict[str, str]:
        env = {
            **self.served.env("jwt"),
            "ENGAGE_SYNC_RATE_SCALE": str(RATE_SCALE),
            "ENGAGE_SYNC_TODAY": TODAY,
            "ENGAGE_SYNC_LOOKUP_DELAY": "0.1",
        }
        if faulted:
            env.update(ENGAGE_SYNC_TIMEOUT=str(TIMEOUT), ENGAGE_SYNC_MAX_RETRIES="3")
        return env

    # -- the repository's files
    def write_files(self) -> None:
        sets = self.root / "leadsets"
        for c, mode in self.s.modes:
            lines = [
                f"campaign: {c}",
                f"options: {{description: chaos, duplicateHandling: {mode}, "
                "timeZoneOption: NPA_NXX, dialPriority: NORMAL}",
                "leads:",
            ]
            for lead in sorted(self.model.declared.get(c, {}).values(), key=lambda x: x.extern_id):
                lines.append(
                    f'  - {{externId: "{lead.extern_id}", leadPhone: "{lead.phone}", '
                    f"firstName: {lead.name}}}"
                )
            removed = self.model.removed.get(c, {})
            if removed:
                lines.append("removed:")
                for eid, (lead, keep) in sorted(removed.items()):
                    phone = f', leadPhone: "{lead.phone}"' if keep else ""
                    lines.append(f'  - {{externId: "{eid}", requested: {TODAY}{phone}}}')
            (sets / f"c{c}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if self.model.dnc:
            rows = [
                f'  - {{phone: "{p}", requested: {TODAY}, source: IVR}}' for p, _ in self.model.dnc
            ]
            (sets / "do-not-call.yaml").write_text("doNotCall:\n" + "\n".join(rows) + "\n")

    # -- engage-sync
    def command(self, *args: str, faulted: bool = False) -> tuple[int, str, str]:
        self.runs += 1
        out_path, err_path = self.root / f"out-{self.runs}.txt", self.root / f"err-{self.runs}.txt"
        with out_path.open("w") as out, err_path.open("w") as err:
            done = subprocess.run(
                [ENGAGE_SYNC, *args],
                cwd=self.root,
                env=user_env(self.env(faulted)),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                timeout=BOUND,
            )
        return done.returncode, out_path.read_text(), err_path.read_text()

    def apply(self, step: Apply, counted: InFlight) -> None:
        for f in step.faults:
            spec: dict[str, Any] = {
                "kind": f.kind,
                "endpoint": f.endpoint,
                "count": f.count,
                "rows": f.rows,
            }
            if f.seconds is not None:
                spec["seconds"] = f.seconds
            self.http.post("/_emulator/faults", json=spec).raise_for_status()
        self.runs += 1
        out_path, err_path = self.root / f"out-{self.runs}.txt", self.root / f"err-{self.runs}.txt"
        args = ["apply", "--auto-approve", "--batch-size", str(step.batch)]
        args += ["--force"] * step.force + ["--refresh"] * step.refresh
        stop = step.interrupt
        base = self.emu.stats.get(CALLS[stop.endpoint], 0) if stop else 0
        started = time.monotonic()
        with out_path.open("w") as out, err_path.open("w") as err:
            proc = subprocess.Popen(
                interruptible([ENGAGE_SYNC, *args]),
                cwd=self.root,
                env=user_env(self.env(faulted=True)),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
            try:
                if stop is not None:
                    key = CALLS[stop.endpoint]
                    deadline = started + BOUND  # an apply that hangs fails the wait below
                    while (
                        proc.poll() is None
                        and self.emu.stats.get(key, 0) < base + stop.after
                        and time.monotonic() < deadline
                    ):
                        time.sleep(0.005)
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL if stop.how == "kill" else signal.SIGINT)
                        self.out.interrupts[stop.how] += 1
                        self.out.log.append(f"     sent {stop.describe()}")
                code = proc.wait(timeout=BOUND)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        err_text = err_path.read_text()
        self.out.codes[str(code)] += 1
        self.out.log.append(f"     exit {code} ({time.monotonic() - started:.1f}s)")
        if code == 70 or "Traceback" in err_text:
            self.problem(f"apply crashed (exit {code}): {err_text.strip()[-2000:]}")
        lock = self.root / "engage-sync.state.json.lock"
        if code == -signal.SIGKILL and lock.exists():
            lock_id = json.loads(lock.read_text())["id"]
            unlocked, _, err_unlock = self.command("force-unlock", lock_id)
            if unlocked != 0:
                self.problem(f"force-unlock {lock_id} failed: {err_unlock.strip()}")
        counted.wait_idle()
        left = self.http.get("/_emulator/faults").json()
        self.http.delete("/_emulator/faults").raise_for_status()
        posted: Counter[tuple[str, str]] = Counter()
        for f in step.faults:
            posted[(f.endpoint, f.kind)] += f.count
        for x in left:
            posted[(x.get("endpoint", "loader"), x["kind"])] -= x["remaining"]
        for (endpoint, kind), struck in posted.items():
            self.out.struck[f"{endpoint}:{kind}"] += max(0, struck)

    def by_hand(self, step: Hand) -> None:
        rows = [
            r
            for r in self.emu.store.all_leads(step.campaign)
            if r["externId"] == step.extern_id and dialable(r)
        ]
        if not rows:
            self.out.log.append("     nothing dialable: nothing done")
            return
        if step.kind == "duplicate":
            newest = max(rows, key=lambda r: r["leadId"])
            spec = {"accountId": ACCOUNT, "campaignId": step.campaign, "leads": [newest["lead"]]}
            self.http.post("/_emulator/leads", json=spec).raise_for_status()
        else:
            ids = [r["leadId"] for r in rows]
            spec = {"leadIds": ids, "leadState": "CANCELLED"}
            self.http.post("/_emulator/leads/state", json=spec).raise_for_status()
            self.model.cancelled_by_hand.add((step.campaign, step.extern_id))
        self.out.hand[step.kind] += 1

    def problem(self, text: str) -> None:
        self.out.ok = False
        self.out.problems.append(text)

    def run(self, counted: InFlight) -> None:
        (self.root / "leadsets").mkdir()
        (self.root / "engage-sync.yaml").write_text(f'account: "{ACCOUNT}"\n')
        for c, extern_id, number in self.s.foreign:
            spec = {
                "accountId": ACCOUNT,
                "campaignId": c,
                "leads": [{"externId": extern_id, "leadPhone": number, "firstName": "Foreign"}],
            }
            self.http.post("/_emulator/leads", json=spec).raise_for_status()
        foreign = {r["leadId"]: r for r in self.emu.store.all_leads(None)}
        self.out.modes.update(mode for _, mode in self.s.modes)
        for i, step in enumerate(self.s.steps, 1):
            self.out.log.append(f"{i:>3}. {step.describe()}")
            if isinstance(step, Edit):
                self.model.edit(step)
            elif isinstance(step, Hand):
                counted.wait_idle()
                self.by_hand(step)
            else:
                self.write_files()
                self.apply(step, counted)
        self.write_files()
        counted.wait_idle()
        started = time.monotonic()
        code, out, err = self.command("apply", "--auto-approve", "--refresh", "--force")
        self.out.log.append(
            f"  final apply --refresh: exit {code} ({time.monotonic() - started:.1f}s)"
        )
        if code != 0:
            self.problem(f"the clean apply --refresh exited {code}: {(out + err).strip()[-3000:]}")
        counted.wait_idle()
        self.problems_in_store(foreign)
        code, out, err = self.command("plan", "--refresh", "--detailed-exitcode")
        if code != 0:
            self.problem(f"plan --refresh --detailed-exitcode exited {code}: {out.strip()[-3000:]}")

    def problems_in_store(self, foreign: dict[int, dict[str, Any]]) -> None:
        for text in check(self.model, self.emu.store.all_leads(None), foreign):
            self.problem(text)


def dialable(row: dict[str, Any]) -> bool:
    return (
        str(row["leadState"]).upper().replace("_", "-") not in NOT_DIALABLE
        and not row["suppressed"]
    )


def digits(phone: object) -> str:
    text = "".join(ch for ch in str(phone or "") if ch.isdigit())
    return text[1:] if len(text) == 11 and text.startswith("1") else text


def check(
    model: Model, rows: Iterable[dict[str, Any]], foreign: dict[int, dict[str, Any]]
) -> list[str]:
    """Every way the store breaks the promise, for the model's final lead sets."""
    rows = list(rows)
    dnc = {digits(p) for p in model.dnc_phones()}
    problems = []
    live: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in rows:
        if dialable(r):
            live.setdefault((r["campaignId"], r["externId"]), []).append(r)
            if digits(r["lead"].get("leadPhone")) in dnc:
                problems.append(
                    f"campaign {r['campaignId']}: record {r['leadId']} ({r['externId']}) is "
                    "dialable with a do-not-call phone"
                )
    for c, leads in model.declared.items():
        for eid, lead in sorted(leads.items()):
            mine = live.get((c, eid), [])
            blocked = digits(lead.phone) in dnc
            low = 0 if blocked or (c, eid) in model.cancelled_by_hand else 1
            high = 0 if blocked else 1
            if not low <= len(mine) <= high:
                want = "none (blocked)" if blocked else "one" if low else "at most one"
                problems.append(f"campaign {c}: {eid}: {len(mine)} dialable record(s), want {want}")
            for r in mine[:1] if len(mine) == 1 else []:
                got = (digits(r["lead"].get("leadPhone")), r["lead"].get("firstName"))
                if got != (lead.phone, lead.name):
                    problems.append(
                        f"campaign {c}: {eid}: the dialable record has {got}, "
                        f"declared {(lead.phone, lead.name)}"
                    )
    for c, gone in model.removed.items():
        for eid in sorted(gone):
            if live.get((c, eid)):
                problems.append(f"campaign {c}: {eid}: removed, but {len(live[(c, eid)])} dialable")
    now = {r["leadId"]: r for r in rows}
    for lead_id, before in sorted(foreign.items()):
        after = now.get(lead_id)
        stopped = digits(before["lead"].get("leadPhone")) in dnc
        if after is None:
            problems.append(f"foreign record {lead_id} ({before['externId']}) is gone")
        elif stopped:
            if dialable(after):
                pass  # said above: dialable with a do-not-call phone
        elif (after["leadState"], after["suppressed"], after["lead"]) != (
            before["leadState"],
            before["suppressed"],
            before["lead"],
        ):
            problems.append(f"foreign record {lead_id} ({before['externId']}) was changed")
    known = {(c, eid) for c, leads in model.declared.items() for eid in leads}
    known |= {(c, eid) for c, gone in model.removed.items() for eid in gone}
    for (c, eid), mine in sorted(live.items()):
        if eid.startswith("K") and (c, eid) not in known:
            problems.append(f"campaign {c}: {eid}: {len(mine)} dialable, never declared here")
    return problems


def run_schedule(seed: int, workdir: Path | None = None, keep: bool = False) -> Outcome:
    schedule = draw(seed)
    root = Path(tempfile.mkdtemp(prefix=f"chaos-{seed}-", dir=workdir))
    started = time.monotonic()
    try:
        with emulator(schedule.token_ttl) as (served, emu, counted):
            runner = Runner(schedule, root, served, emu)
            try:
                runner.run(counted)
            except Exception as e:  # the harness's own trouble is a failed schedule, said so
                runner.problem(f"harness: {type(e).__name__}: {e}")
            finally:
                runner.http.close()
        outcome = runner.out
    finally:
        pass
    outcome.seconds = time.monotonic() - started
    if outcome.ok and not keep:
        shutil.rmtree(root, ignore_errors=True)
    return outcome


def report(outcome: Outcome, verbose: bool = False) -> str:
    head = f"chaos: seed {outcome.seed}: " + (
        f"ok ({outcome.seconds:.1f}s)" if outcome.ok else "FAILED"
    )
    if outcome.ok and not verbose:
        return head
    schedule = draw(outcome.seed)
    lines = [head, *("  " + x for x in schedule.describe()[:1]), *("  " + x for x in outcome.log)]
    if not outcome.ok:
        lines += ["  what is wrong:", *(f"  - {p}" for p in outcome.problems)]
        lines.append(f"  files kept in {outcome.workdir}")
        lines.append(f"  replay: scripts/chaos.sh --replay {outcome.seed}")
    return "\n".join(lines)


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    total: dict[str, Counter[str]] = {
        k: Counter() for k in ("struck", "interrupts", "codes", "hand", "modes")
    }
    for o in outcomes:
        for k, counter in total.items():
            counter.update(getattr(o, k))
    seeds = sorted(o.seed for o in outcomes)
    return {
        "schedules": len(outcomes),
        "seeds": [seeds[0], seeds[-1]] if seeds else [],
        "failed": sorted(o.seed for o in outcomes if not o.ok),
        "seconds": round(sum(o.seconds for o in outcomes), 1),
        **{k: dict(sorted(v.items())) for k, v in total.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/chaos.sh", description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=5, help="how many schedules [5]")
    parser.add_argument("--seed", type=int, default=1, help="the first seed [1]")
    parser.add_argument("--replay", type=int, metavar="SEED", help="run this one seed, verbosely")
    parser.add_argument("--jobs", type=int, default=1, help="schedules run at once [1]")
    parser.add_argument("--workdir", type=Path, help="where schedules' files go [a temp dir]")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the summary as JSON")
    parser.add_argument("--verbose", action="store_true", help="print every schedule's steps")
    args = parser.parse_args(argv)
    first, count = (args.replay, 1) if args.replay is not None else (args.seed, args.schedules)
    verbose = args.verbose or args.replay is not None
    if args.workdir is not None:  # a folder to keep them in need not exist yet
        args.workdir.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    outcomes: list[Outcome] = []

    def one(seed: int) -> Outcome:
        outcome = run_schedule(seed, args.workdir, keep=verbose)
        with lock:
            print(report(outcome, verbose), flush=True)
            outcomes.append(outcome)
            if args.json:  # after each schedule: a campaign stopped early keeps its numbers
                done = summary(sorted(outcomes, key=lambda o: o.seed))
                args.json.write_text(json.dumps(done, indent=2) + "\n")
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(one, range(first, first + count)))
    result = summary(sorted(outcomes, key=lambda o: o.seed))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
