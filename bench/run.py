"""engage-sync benchmarks: plan and apply at scale, side by side with the floor, in one run.

    .venv/bin/python bench/run.py            # 10k, 100k, 1M leads (a few minutes, ~1 GB of files)
    .venv/bin/python bench/run.py --quick    # small sizes, seconds (the test suite runs this)

Generates seeded lead sets (YAML up to 100k: the benchmark's, and one of 8 plain fields with phones
written (415) 555-0100; CSV and JSON Lines at every size), then measures, each in a fresh
process: `plan` with an empty state (all creates) and in steady state (1% of the leads changed),
wall time and peak RSS, and the floor on the same file (YAML: libyaml's compose alone; CSV:
csv.reader plus hashing each row; JSON Lines: parsing each line plus hashing); then `apply` against
`engage-sync emulator` with its documented rate limits scaled and latency added. Prints a table and
writes JSON (bench/out/results.json unless --out). No pass/fail: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
ES = str(BIN / "engage-sync")
CAMPAIGN = 136785
OPTIONS = (
    "options: {dialPriority: NORMAL, duplicateHandling: REMOVE_ALL_EXISTING, "
    "timeZoneOption: NPA_NXX, description: bench}\n"
)
COLUMNS = [
    "externId",
    "leadPhone",
    "firstName",
    "lastName",
    "email",
    "city",
    "state",
    "zip",
    "extendedLeadData.plan",
]
FIRST = ["Ada", "Grace", "Alan", "Barbara", "Edsger", "Donald", "Frances", "Radia", "Katherine"]
LAST = ["Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Knuth", "Allen", "Perlman"]
CITIES = [("Springfield", "IL"), ("Toronto", "ON"), ("Boston", "MA"), ("Austin", "TX")]


# yaml: the 9 fields above, quoted, a custom field; yaml8: 8 plain fields, formatted phones
FORMATS = ("yaml", "yaml8", "csv", "jsonl")
SHARED_EVERY = 10_000  # in a set with shared phones, one lead in this many has an earlier's


def phone(i: int) -> str:
    return f"{200 + i // 10_000_000}{i % 10_000_000:07d}"


def written(digits: str) -> str:
    """A phone as call centres' exports and the README write it: `(415) 555-0100`."""
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def rows(
    n: int, seed: int, changed: float = 0.0, shared: bool = False, formatted: bool = False
) -> Any:
    """Deterministic leads; with `changed`, that share of them has a new first name; with
    `shared`, one lead in SHARED_EVERY has the phone of a lead half that many rows before it (a
    household: real lists have them, and each is a warning); with `formatted`, phones are
    written `(415) 555-0100` (`written`), not as 10 digits."""
    how = written if formatted else str
    rnd = random.Random(seed)
    pick = random.Random(seed + 1)
    for i in range(n):
        city, state = CITIES[rnd.randrange(len(CITIES))]
        first = FIRST[rnd.randrange(len(FIRST))]
        if changed and pick.random() < changed:
            first = first + "-Marie"
        household = shared and i % SHARED_EVERY == SHARED_EVERY - 1
        yield [
            f"E{i:08d}",
            how(phone(i - SHARED_EVERY // 2 if household else i)),
            first,
            LAST[rnd.randrange(len(LAST))],
            f"user{i}@example.com",
            city,
            state,
            f"{rnd.randrange(100_000):05d}",
            rnd.choice(("gold", "silver", "bronze")),
        ]


def write_csv(
    path: Path, n: int, seed: int, changed: float, shared: bool = False, formatted: bool = False
) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows(n, seed, changed, shared, formatted))


def lead_dict(row: list[str]) -> dict[str, Any]:
    lead: dict[str, Any] = dict(zip(COLUMNS[:-1], row[:-1], strict=True))
    lead["extendedLeadData"] = {"plan": row[-1]}
    return lead


def write_jsonl(path: Path, n: int, seed: int, changed: float) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows(n, seed, changed):
            f.write(json.dumps(lead_dict(row)) + "\n")


def write_yaml(path: Path, n: int, seed: int, changed: float) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(f"campaign: {CAMPAIGN}\naccount: '99990001'\n{OPTIONS}leads:\n")
        for row in rows(n, seed, changed):
            lead = lead_dict(row)
            f.write(f'  - externId: "{lead["externId"]}"\n')
            for key in COLUMNS[1:-1]:
                f.write(f'    {key}: "{lead[key]}"\n')
            f.write(f"    extendedLeadData: {{plan: {row[-1]}}}\n")


def write_yaml8(path: Path, n: int, seed: int, changed: float) -> None:
    """Inline leads of eight fields as people write them by hand: plain scalars, the phone
    written `(415) 555-0100` (issue #34; no custom field)."""
    with path.open("w", encoding="utf-8") as f:
        f.write(f"campaign: {CAMPAIGN}\naccount: '99990001'\n{OPTIONS}leads:\n")
        for row in rows(n, seed, changed, formatted=True):
            f.write(f"  - externId: {row[0]}\n")
            for key, value in zip(COLUMNS[1:8], row[1:8], strict=True):
                f.write(f"    {key}: {value}\n")


def make_set(
    root: Path, fmt: str, n: int, changed: float, shared: bool = False, formatted: bool = False
) -> Path:
    """A lead-set file (and its leadsFile) for one format and size; `shared` and `formatted`
    (phones written `(415) 555-0100`): CSV only."""
    tag = ("v2" if changed else "v1") + ("-shared" if shared else "")
    tag += "-formatted" if formatted else ""
    folder = root / f"{fmt}-{n}-{tag}"
    folder.mkdir(parents=True, exist_ok=True)
    leadset = folder / "leadset.yaml"
    if leadset.exists():
        return leadset
    if fmt in ("yaml", "yaml8"):
        (write_yaml if fmt == "yaml" else write_yaml8)(leadset, n, 7, changed)
        return leadset
    data = folder / f"leads.{fmt}"
    if fmt == "csv":
        write_csv(data, n, 7, changed, shared, formatted)
    else:
        write_jsonl(data, n, 7, changed)
    leadset.write_text(
        f"campaign: {CAMPAIGN}\naccount: '99990001'\n{OPTIONS}leadsFile: leads.{fmt}\n"
    )
    return leadset


def steady_state(leadset: Path, state: Path) -> None:
    """The state after applying `leadset` (recorded through the library, not timed)."""
    if state.exists():
        return
    code = (
        "import sys; from pathlib import Path\n"
        "from engage_sync import leadsets\n"
        "from engage_sync.state import State, save_state\n"
        "sink = leadsets.Sink()\n"
        "src = leadsets.load_source(Path(sys.argv[1]), {}, sink)\n"
        "st = State(Path(sys.argv[2]))\n"
        "camp = st.campaign(src.meta.campaign.id)\n"
        "for lead in leadsets.iter_leads(src, sink): camp.record(lead)\n"
        "save_state(st)\n"
    )
    subprocess.run([PYTHON, "-c", code, str(leadset), str(state)], check=True)


def measure(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run(
        [PYTHON, str(HERE / "measure.py"), *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def best_of(repeat: int, *args: str) -> dict[str, float]:
    runs = [measure(*args) for _ in range(repeat)]
    return min(runs, key=lambda r: r["seconds"])


def bench_plan(
    root: Path, sizes: list[int], yaml_max: int, repeat: int, formats: tuple[str, ...] = FORMATS
) -> list[dict[str, Any]]:
    results = []
    for fmt in formats:
        for n in sizes:
            if fmt.startswith("yaml") and n > yaml_max:
                continue
            v1 = make_set(root, fmt, n, 0.0)
            v2 = make_set(root, fmt, n, 0.01)
            state = v1.parent / "state2.json"
            steady_state(v1, state)
            empty = root / "no-state.json"
            inline = fmt.startswith("yaml")
            data = v2 if inline else v2.parent / f"leads.{fmt}"
            floor = best_of(repeat, "floor-yaml" if inline else f"floor-{fmt}", str(data))
            for scenario, state_file in (("empty", empty), ("steady", state)):
                plan = best_of(repeat, "plan", str(v2), str(state_file))
                results.append(
                    {
                        "format": fmt,
                        "leads": n,
                        "scenario": scenario,
                        "plan_s": round(plan["seconds"], 4),
                        "plan_rss_mb": round(plan["peak_rss_mb"]),
                        "floor_s": round(floor["seconds"], 4),
                        "floor_rss_mb": round(floor["peak_rss_mb"]),
                        "ratio": round(plan["seconds"] / floor["seconds"], 2),
                    }
                )
                print_row(results[-1])
    return results


def print_row(r: dict[str, Any]) -> None:
    print(
        f"  plan {r['format']:5} {r['leads']:>9,} {r['scenario']:6}  "
        f"{r['plan_s']:8.2f} s {r['plan_rss_mb']:6} MB | floor {r['floor_s']:7.2f} s "
        f"{r['floor_rss_mb']:5} MB | plan/floor {r['ratio']:5.2f}",
        flush=True,
    )


def growth(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time and memory growth between consecutive sizes; linear when time grows like size."""
    out = []
    for fmt in FORMATS:
        for scenario in ("empty", "steady"):
            series = sorted(
                (r for r in results if r["format"] == fmt and r["scenario"] == scenario),
                key=lambda r: r["leads"],
            )
            for a, b in itertools.pairwise(series):
                size = b["leads"] / a["leads"]
                t = b["plan_s"] / a["plan_s"] if a["plan_s"] else float("inf")
                out.append(
                    {
                        "format": fmt,
                        "scenario": scenario,
                        "from": a["leads"],
                        "to": b["leads"],
                        "size_x": size,
                        "time_x": round(t, 2),
                        "rss_x": round(b["plan_rss_mb"] / a["plan_rss_mb"], 2),
                        "linear": 0.6 * size <= t <= 1.4 * size,
                    }
                )
    return out


@contextlib.contextmanager
def emulator(
    *args: str, token: str = "emulator-legacy-api-token"
) -> Iterator[tuple[str, dict[str, str]]]:
    """`engage-sync emulator` on a free port: (origin, the environment to reach it)."""
    proc = subprocess.Popen(
        [ES, "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        origin = proc.stdout.readline().split("listening on ", 1)[1].split(" ", 1)[0]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ENGAGE_", "RINGC"))},
            "ENGAGE_BASE_URL": f"{origin}/voice",
            "ENGAGE_ACCOUNT_ID": "99990001",
            "ENGAGE_API_TOKEN": token,
            # under CI a loopback host must be named (engage/hosts.py)
            "ENGAGE_SYNC_ALLOWED_HOSTS": origin.split("://", 1)[1],
        }
        yield origin, env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ideal_seconds(requests: int, limits: list[tuple[int, float]]) -> float:
    """The least time `requests` calls can take within every window (zero latency, greedy)."""
    times: list[float] = []
    for k in range(requests):
        t = times[-1] if times else 0.0
        for count, period in limits:
            if k >= count:
                t = max(t, times[k - count] + period)
        times.append(t)
    return times[-1] - times[0] if times else 0.0


def bench_apply(root: Path, n: int, batch: int, scale: float, latency: float) -> dict[str, Any]:
    work = root / f"apply-{n}"
    if work.exists():
        shutil.rmtree(work)
    (work / "leadsets").mkdir(parents=True)
    write_csv(work / "leadsets" / "leads.csv", n, 11, 0.0)
    leadset = work / "leadsets" / "bench.yaml"
    leadset.write_text(
        f"campaign: {CAMPAIGN}\naccount: '99990001'\n{OPTIONS}leadsFile: leads.csv\n"
    )
    (work / "engage-sync.yaml").write_text("rails: {maxCreates: 10000000}\n")
    scaled = ("--rate-scale", str(scale), "--latency", str(latency), "--max-leads", str(batch))
    with emulator(*scaled) as (origin, env):

        def run_apply() -> float:
            started = time.perf_counter()
            subprocess.run(
                [
                    ES,
                    "apply",
                    "--auto-approve",
                    "--batch-size",
                    str(batch),
                    "--rate-scale",
                    str(scale),
                ],
                cwd=work,
                env=env,
                check=True,
                capture_output=True,
            )
            return time.perf_counter() - started

        import httpx

        seconds = run_apply()
        first_429 = httpx.get(f"{origin}/_emulator/stats").json()["loader429"]
        log = [
            r
            for r in httpx.get(f"{origin}/_emulator/requests").json()
            if r["path"].endswith("/direct")
        ]
        ok = [r for r in log if r["status"] == 200]
        span = ok[-1]["t"] - ok[0]["t"]
        limits = [(30, 10.0 / scale), (120, 60.0 / scale)]
        ideal = ideal_seconds(len(ok), limits)
        first_posted = sum(len(r["body"]["uploadLeads"]) for r in ok)
        # steady state: change 1% of the leads, plan, apply, count what was posted
        write_csv(work / "leadsets" / "leads.csv", n, 11, 0.01)
        plan = json.loads(
            subprocess.run(
                [ES, "plan", "--format", "json"],
                cwd=work,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        changed = plan["summary"]["create"] + plan["summary"]["update"]
        httpx.delete(f"{origin}/_emulator/requests")
        time.sleep(60.0 / scale)  # a new process knows nothing of the last one's calls
        run_apply()
        again = [
            r
            for r in httpx.get(f"{origin}/_emulator/requests").json()
            if r["path"].endswith("/direct") and r["status"] == 200
        ]
        posted = sum(len(r["body"]["uploadLeads"]) for r in again)
        stats = httpx.get(f"{origin}/_emulator/stats").json()
    return {
        "leads": n,
        "batch_size": batch,
        "rate_scale": scale,
        "latency_s": latency,
        "requests": len(ok),
        "first_apply_s": round(seconds, 2),
        "loader_span_s": round(span, 3),
        "ideal_span_s": round(ideal, 3),
        "achieved_rps": round((len(ok) - 1) / span, 2) if span else None,
        "ceiling_rps": round((len(ok) - 1) / ideal, 2) if ideal else None,
        "of_ceiling": round(ideal / span, 3) if span else None,
        "http_429": first_429,
        "http_429_steady": stats["loader429"] - first_429,
        "first_posted": first_posted,
        "changed": changed,
        "posted": posted,
        "posted_per_changed": round(posted / changed, 3) if changed else None,
    }


def bench_lean_apply(root: Path, n: int, batch: int, scale: float) -> dict[str, Any]:
    """Issue #34, item 2: a first apply of `n` new leads (`--look-first probe`, as `ci apply`
    runs it) against the plan of the same files, each in a fresh process: peak RSS, and how
    often each file was parsed (the readers) and opened (a parse, a hash, chunking); then an
    apply with 1% of the leads changed (their updates' earlier records looked up in the same
    pass); then what writing the state of `n` leads allocates at its peak."""
    work = root / f"lean-{n}"
    if work.exists():
        shutil.rmtree(work)
    (work / "leadsets").mkdir(parents=True)
    data = work / "leadsets" / "leads.csv"
    write_csv(data, n, 17, 0.0)
    leadset = work / "leadsets" / "bench.yaml"
    leadset.write_text(
        f"campaign: {CAMPAIGN}\naccount: '99990001'\n{OPTIONS}leadsFile: leads.csv\n"
    )
    (work / "engage-sync.yaml").write_text("rails: {maxCreates: 10000000}\n")
    plan = measure("plan", str(leadset), str(root / "no-state.json"))
    flags = ("--batch-size", str(batch), "--rate-scale", str(scale))
    scaled = ("--rate-scale", str(scale), "--max-leads", str(batch), "--request-log", "0")
    with emulator(*scaled) as (_, env):
        first = measure("apply", str(work), *flags, "--look-first", "probe", env=env)
        write_csv(data, n, 17, 0.01)
        steady = measure("apply", str(work), *flags, env=env)
    state = work / "engage-sync.state.json"
    written = measure("save-state", str(state))
    out = {
        "leads": n,
        "plan_rss_mb": round(plan["peak_rss_mb"]),
        "apply_rss_mb": round(first["peak_rss_mb"]),
        "apply_over_plan_rss": round(first["peak_rss_mb"] / plan["peak_rss_mb"], 2),
        "apply_s": round(first["seconds"], 2),
        "first_parsed": first["parsed"].get("leads.csv", 0),
        "first_opened": first["opened"].get("leads.csv", 0),
        # the do-not-call look-ahead's first rows (at most 20,000), read before the loader's pass
        "first_prefix": first.get("prefix", {}).get("leads.csv", 0),
        "steady_rss_mb": round(steady["peak_rss_mb"]),
        "steady_parsed": steady["parsed"].get("leads.csv", 0),
        "steady_opened": steady["opened"].get("leads.csv", 0),
        "steady_prefix": steady.get("prefix", {}).get("leads.csv", 0),
        "state_mb": written["state_mb"],
        "state_write_peak_mb": written["write_peak_mb"],
    }
    print(
        f"  lean apply of {n:,} new leads: peak {out['apply_rss_mb']} MB against plan's "
        f"{out['plan_rss_mb']} MB (x{out['apply_over_plan_rss']}); leads.csv parsed "
        f"{out['first_parsed']}x in full and its first rows {out['first_prefix']}x, opened "
        f"{out['first_opened']}x; 1% changed: parsed "
        f"{out['steady_parsed']}x, opened {out['steady_opened']}x, peak {out['steady_rss_mb']} "
        f"MB; writing the {out['state_mb']} MB state allocates {out['state_write_peak_mb']} MB "
        "at its peak",
        flush=True,
    )
    return out


# `apply` with the do-not-call look-ups replaced by answers of "none held": the loader calls
# alone, for comparison (a bench-only harness: engage-sync has no switch to turn them off)
NO_LOOKUPS = (
    "import sys\n"
    "from engage_sync.reconcile import operation\n"
    "from engage_sync.reconcile.donotcall import Sweeper\n"
    "Sweeper.held = lambda self, account, phones: set()\n"
    "operation.look_ahead = lambda *args: None\n"
    "from engage_sync.cli import main\n"
    "main(sys.argv[1:])\n"
)


def _dnc_apply(
    root: Path, n: int, batch: int, scale: float, latency: float, lookups: bool
) -> dict[str, Any]:
    work = root / f"dnc-{n}-{'with' if lookups else 'without'}"
    if work.exists():
        shutil.rmtree(work)
    (work / "leadsets").mkdir(parents=True)
    write_csv(work / "leadsets" / "leads.csv", n, 13, 0.0)
    (work / "leadsets" / "bench.yaml").write_text(
        f"campaign: {CAMPAIGN}\naccount: '99990001'\n{OPTIONS}leadsFile: leads.csv\n"
    )
    (work / "engage-sync.yaml").write_text("rails: {maxCreates: 10000000}\n")
    scaled = ("--rate-scale", str(scale), "--latency", str(latency), "--max-leads", str(batch))
    command = [ES] if lookups else [PYTHON, "-c", NO_LOOKUPS]
    flags = ["apply", "--auto-approve", "--batch-size", str(batch), "--rate-scale", str(scale)]
    with emulator(*scaled) as (origin, env):
        import httpx

        started = time.perf_counter()
        done = subprocess.run(
            [*command, *flags],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(done.stderr)
        log = httpx.get(f"{origin}/_emulator/requests").json()
        stats = httpx.get(f"{origin}/_emulator/stats").json()
    loads = [r for r in log if r["path"].endswith("/direct") and r["status"] == 200]
    looks = [
        r for r in log if r["path"].endswith("/leadSearch") and (r["body"] or {}).get("leadStates")
    ]
    return {
        "apply_s": round(seconds, 2),
        "loader_calls": len(loads),
        "lookups": len(looks),
        "loader_span_s": round(loads[-1]["t"] - loads[0]["t"], 3) if len(loads) > 1 else 0.0,
        "http_429": stats.get("loader429", 0) + stats.get("leadSearch429", 0),
    }


def bench_dnc_lookups(
    root: Path, n: int, batch: int, scale: float, latency: float
) -> dict[str, Any]:
    """What do not call's look-ups add to an apply of `n` new leads: before each batch is
    posted, its phones are searched for records Engage holds as DO-NOT-CALL (one search a
    batch, run ahead of the loads in a thread of their own). The same apply with the look-ups
    answered "none" at once is the loader calls alone; the target is at most 25% more time.
    The documented limits and `latency` are run `scale` times faster."""
    alone = _dnc_apply(root, n, batch, scale, latency, lookups=False)
    looked = _dnc_apply(root, n, batch, scale, latency, lookups=True)
    ideal = ideal_seconds(looked["loader_calls"], [(30, 10.0 / scale), (120, 60.0 / scale)])
    return {
        "leads": n,
        "batch_size": batch,
        "rate_scale": scale,
        "latency_s": latency,
        "loader_ideal_s": round(ideal, 3),
        "without_lookups": alone,
        "with_lookups": looked,
        "added": round(looked["apply_s"] / alone["apply_s"] - 1, 3) if alone["apply_s"] else None,
    }


def bench_burst(
    root: Path, calls: int, latency: float, scale: float, repeat: int = 1
) -> dict[str, Any]:
    """A short apply of `calls` loader calls at `latency` seconds of server latency, with the
    documented limits (30 per 10 s, 120 per 60 s), run `scale` times faster (windows and latency
    scaled alike): the time from the first call's sending to the last answer, against the least
    the limits allow (the greedy schedule plus one latency) (issue #23, item 3); and the whole
    apply against that plus a plan of the same files (issue #34, item 4). The best of `repeat`
    runs (by the latter), each against a fresh emulator."""
    runs = [_burst(root, calls, latency, scale) for _ in range(repeat)]
    out = max(runs, key=lambda r: r["of_floor"])
    out["of_floor_runs"] = [r["of_floor"] for r in runs]
    print(
        f"  burst: {out['calls']} calls at {latency:g} s latency: {out['seconds']} s against "
        f"{out['allowed_s']} s the limits allow ({out['of_allowed']:.0%}), {out['http_429']} x "
        f"429, every lead posted once: {out['posted_once']}; the whole apply {out['apply_s']} s "
        f"against the windows plus a plan ({out['plan_s']} s) {out['floor_s']} s at scale "
        f"{scale:g} ({out['of_floor']:.0%}; with one look-up's latency "
        f"{out['of_floor_with_lookup']:.0%}; best of {out['of_floor_runs']})",
        flush=True,
    )
    return out


def _burst(root: Path, calls: int, latency: float, scale: float) -> dict[str, Any]:
    import httpx

    batch = 10
    work = root / f"burst-{calls}-{latency:g}"
    if work.exists():
        shutil.rmtree(work)
    (work / "leadsets").mkdir(parents=True)
    write_csv(work / "leadsets" / "leads.csv", calls * batch, 13, 0.0)
    (work / "leadsets" / "bench.yaml").write_text(
        f"campaign: {CAMPAIGN}\naccount: '99990001'\n{OPTIONS}leadsFile: leads.csv\n"
    )
    (work / "engage-sync.yaml").write_text("rails: {maxCreates: 10000000}\n")
    scaled_latency = latency / scale
    args = ("--rate-scale", str(scale), "--latency", str(scaled_latency), "--max-leads", str(batch))
    with emulator(*args) as (origin, env):
        # the plan apply makes first, alone: a process that reads the same files, no network
        started = time.perf_counter()
        subprocess.run([ES, "plan"], cwd=work, env=env, check=True, capture_output=True)
        plan_s = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run(
            [ES, "apply", "--auto-approve", "--batch-size", str(batch), "--rate-scale", str(scale)],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        apply_s = time.perf_counter() - started
        log = [
            r
            for r in httpx.get(f"{origin}/_emulator/requests").json()
            if r["path"].endswith("/direct")
        ]
        stats = httpx.get(f"{origin}/_emulator/stats").json()
    ok = [r for r in log if r["status"] == 200]
    posted = [lead["externId"] for r in ok for lead in r["body"]["uploadLeads"]]
    took = (ok[-1]["t"] - ok[0]["t"] + scaled_latency) * scale  # in real seconds
    allowed = ideal_seconds(len(ok), [(30, 10.0), (120, 60.0)]) + latency
    # issue #34: the whole apply (start-up, plan, login, posting, the state saved), against the
    # windows and one latency plus the plan alone, in the bench's (scaled) seconds
    floor = allowed / scale + plan_s
    # apply must look the phones up (do not call, issue #30) before the first load: one more
    # round trip, which no apply that posts them can spare
    with_lookup = floor + scaled_latency
    out = {
        "calls": len(ok),
        "latency_s": latency,
        "rate_scale": scale,
        "seconds": round(took, 2),
        "allowed_s": round(allowed, 2),
        "of_allowed": round(allowed / took, 3),
        "apply_s": round(apply_s, 3),
        "plan_s": round(plan_s, 3),
        "floor_s": round(floor, 3),
        "of_floor": round(floor / apply_s, 3),
        "of_floor_with_lookup": round(with_lookup / apply_s, 3),
        "http_429": stats["loader429"],
        "leads": calls * batch,
        "posted": len(posted),
        "posted_once": len(posted) == len(set(posted)) == calls * batch,
    }
    return out


def bench_refresh(root: Path, n: int, scale: float) -> dict[str, Any]:
    """`plan --refresh-only` of n owned leads against the emulator, with the documented search
    limits (15 per 10 s, 60 per 30 s) scaled; the floor is the least time that many searches
    can take within those windows."""
    import httpx

    work = root / f"refresh-{n}"
    if work.exists():
        shutil.rmtree(work)
    (work / "leadsets").mkdir(parents=True)
    write_csv(work / "leadsets" / "leads.csv", n, 13, 0.0)
    (work / "leadsets" / "bench.yaml").write_text(
        f"campaign: {CAMPAIGN}\naccount: '99990001'\n{OPTIONS}leadsFile: leads.csv\n"
    )
    (work / "engage-sync.yaml").write_text("rails: {maxCreates: 10000000}\n")
    with emulator("--rate-scale", str(scale), "--max-leads", "1000") as (origin, env):
        env["ENGAGE_SYNC_RATE_SCALE"] = str(scale)
        subprocess.run(
            [ES, "apply", "--auto-approve", "--batch-size", "1000"],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        httpx.delete(f"{origin}/_emulator/requests")
        started = time.perf_counter()
        out = subprocess.run(
            [ES, "plan", "--refresh-only", "--format", "json"],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        seconds = time.perf_counter() - started
        searches = [
            r
            for r in httpx.get(f"{origin}/_emulator/requests").json()
            if r["path"].endswith("/leadSearch")
        ]
        stats = httpx.get(f"{origin}/_emulator/stats").json()
    doc = json.loads(out)
    floor = ideal_seconds(len(searches), [(15, 10.0 / scale), (60, 30.0 / scale)])
    return {
        "leads": n,
        "rate_scale": scale,
        "searches": len(searches),
        "searches_per_1000_leads": round(1000 * len(searches) / n, 2),
        "refresh_s": round(seconds, 2),
        "search_floor_s": round(floor, 2),
        "of_ceiling": round(floor / seconds, 3) if seconds else None,
        "http_429": stats.get("leadSearch429", 0),
        "drift": sum(doc["summary"]["drift"].values()),
        "unmanaged": sum(doc["unmanaged"].values()),
    }


def bench_first_plans(root: Path, sizes: list[int]) -> dict[str, Any]:
    """Issue #13: the first plan of a CSV set (every lead a create) in each format, at two sizes,
    next to the CSV floor; the CI plan step in one pass against the three passes it used to be;
    and the state's bytes per lead."""
    rows_out = []
    for n in sizes:
        leadset = make_set(root, "csv", n, 0.0)
        empty = root / "no-state.json"
        floor = measure("floor-csv", str(leadset.parent / "leads.csv"))
        for fmt in ("text", "markdown", "json"):
            m = measure("plan", str(leadset), str(empty), "--format", fmt)
            rows_out.append(
                {
                    "leads": n,
                    "format": fmt,
                    "plan_s": round(m["seconds"], 2),
                    "plan_rss_mb": round(m["peak_rss_mb"]),
                    "floor_s": round(floor["seconds"], 2),
                    "ratio": round(m["seconds"] / floor["seconds"], 2),
                }
            )
            r = rows_out[-1]
            print(
                f"  first plan csv {n:>9,} {fmt:8} {r['plan_s']:7.2f} s "
                f"{r['plan_rss_mb']:5} MB (floor {r['floor_s']} s, x{r['ratio']})",
                flush=True,
            )
    n = sizes[0]
    leadset = make_set(root, "csv", n, 0.0)
    empty = root / "no-state.json"
    out = root / "ci-out"
    out.mkdir(exist_ok=True)
    one = measure(
        "plan", str(leadset), str(empty), "--out", str(out / "p.md"), "--out", str(out / "p.json")
    )
    single = measure("plan", str(leadset), str(empty), "--format", "json")
    three = [
        measure("validate", str(leadset)),
        measure("plan", str(leadset), str(empty), "--format", "markdown"),
        measure("plan", str(leadset), str(empty), "--format", "json"),
    ]
    ci = {
        "leads": n,
        "one_pass_s": round(one["seconds"], 2),
        "one_pass_rss_mb": round(one["peak_rss_mb"]),
        "single_json_plan_s": round(single["seconds"], 2),
        "three_passes_s": round(sum(m["seconds"] for m in three), 2),
        "one_pass_over_single": round(one["seconds"] / single["seconds"], 2),
    }
    print(
        f"  CI plan step, {n:,} leads: one pass {ci['one_pass_s']} s ({ci['one_pass_rss_mb']} MB) "
        f"= x{ci['one_pass_over_single']} one JSON plan; three passes {ci['three_passes_s']} s",
        flush=True,
    )
    state = make_set(root, "csv", n, 0.0).parent / "state2.json"
    steady_state(leadset, state)
    per_lead = state.stat().st_size / n
    print(f"  state: {per_lead:.1f} bytes per lead at {n:,} leads", flush=True)
    return {"first_plans": rows_out, "ci": ci, "state_bytes_per_lead": round(per_lead, 1)}


def sealed_state(leadset: Path, state: Path) -> None:
    """`state` as apply leaves it: every lead recorded and the campaign sealed, so an unchanged
    plan reads no lead (what a `Nothing to post` apply records; not timed)."""
    if state.exists():
        return
    steady_state(leadset, state)
    code = (
        "import sys; from pathlib import Path\n"
        "from engage_sync import workspace\n"
        "from engage_sync.config import load_config\n"
        "from engage_sync.state import save_state\n"
        "planned = workspace.build_plan(\n"
        "    [sys.argv[1]], load_config(), Path(sys.argv[2]), sealing=True\n"
        ")\n"
        "assert workspace.record_seals(planned, lambda cid: True) == 1\n"
        "save_state(planned.state)\n"
        "again = workspace.build_plan([sys.argv[1]], load_config(), Path(sys.argv[2]))\n"
        "assert again.skipped, 'the sealed campaign is read again'\n"
    )
    subprocess.run([PYTHON, "-c", code, str(leadset), str(state)], check=True)


APPENDED = 1_000  # leads appended to the end of the file: a day's new leads


def edited_set(root: Path, n: int, edit: str, formatted: bool = False) -> tuple[Path, Path]:
    """The CSV set of `n` leads (shared phones; `formatted`: written `(415) 555-0100`) as apply
    sealed it (the state), then edited (the files): "one", the first name of one lead in the
    middle changed; "append", APPENDED new leads (phones of their own) at the end."""
    base = make_set(root, "csv", n, 0.0, shared=True, formatted=formatted)
    folder = root / f"csv-{n}-{edit}-shared{'-formatted' if formatted else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    leadset, state = folder / "leadset.yaml", folder / "sealed4.json"
    if not state.exists():
        text = (base.parent / "leads.csv").read_text(encoding="utf-8")
        (folder / "leads.csv").write_text(text, encoding="utf-8")
        leadset.write_text(base.read_text())
        sealed_state(leadset, state)
        if edit == "one":
            lines = text.split("\n")
            middle = len(lines) // 2
            first = lines[middle].split(",")[2]
            lines[middle] = lines[middle].replace(f",{first},", f",{first}-Marie,", 1)
            (folder / "leads.csv").write_text("\n".join(lines), encoding="utf-8")
        else:
            with (folder / "leads.csv").open("a", encoding="utf-8", newline="") as f:
                more = rows(n + APPENDED, 7, formatted=formatted)
                csv.writer(f).writerows(itertools.islice(more, n, None))
    code = (
        "import sys; from pathlib import Path\n"
        "from engage_sync import workspace\n"
        "from engage_sync.config import load_config\n"
        "planned = workspace.build_plan([sys.argv[1]], load_config(), Path(sys.argv[2]))\n"
        "assert planned.partial, 'the edited campaign is read whole'\n"
    )
    subprocess.run([PYTHON, "-c", code, str(leadset), str(state)], check=True)
    return leadset, state


def bench_incremental(root: Path, n: int, repeat: int) -> dict[str, Any]:
    """Issues #13 and #23, on the CSV set with shared phones (one lead in SHARED_EVERY, each a
    warning): an unchanged plan against a sealed state (the files are not read) and against a
    state without a seal (read in full), next to the floor of hashing the files and parsing the
    state; one lead changed, and APPENDED leads appended, next to the read+hash floor; one lead
    changed in the same set with its phones written `(415) 555-0100` (issue #34), next to that
    file's read+hash floor; reading the state; its size."""
    leadset = make_set(root, "csv", n, 0.0, shared=True)
    sealed = leadset.parent / "sealed4.json"
    plain = leadset.parent / "state2.json"
    sealed_state(leadset, sealed)
    steady_state(leadset, plain)
    changed, changed_state = edited_set(root, n, "one")
    appended, appended_state = edited_set(root, n, "append")
    # issue #34: the same one-lead edit, the phones written `(415) 555-0100`
    styled, styled_state = edited_set(root, n, "one", formatted=True)
    styled_data = make_set(root, "csv", n, 0.0, shared=True, formatted=True).parent / "leads.csv"
    steady_floor = best_of(repeat, "floor-steady", str(leadset), str(sealed))
    read_floor = best_of(repeat, "floor-csv", str(leadset.parent / "leads.csv"))
    styled_floor = best_of(repeat, "floor-csv", str(styled_data))
    incremental = best_of(repeat, "plan", str(leadset), str(sealed))
    full = best_of(repeat, "plan", str(leadset), str(plain))
    one = best_of(repeat, "plan", str(changed), str(changed_state))
    one_styled = best_of(repeat, "plan", str(styled), str(styled_state))
    append = best_of(repeat, "plan", str(appended), str(appended_state))
    read = best_of(repeat, "read-state", str(plain))
    result = {
        "leads": n,
        "shared_phones": n // SHARED_EVERY,
        "steady_floor_s": round(steady_floor["seconds"], 3),
        "incremental_steady_s": round(incremental["seconds"], 3),
        "incremental_steady_rss_mb": round(incremental["peak_rss_mb"]),
        "incremental_over_floor": round(incremental["seconds"] / steady_floor["seconds"], 2),
        "full_steady_s": round(full["seconds"], 3),
        "read_hash_floor_s": round(read_floor["seconds"], 3),
        "one_changed_s": round(one["seconds"], 3),
        "one_changed_rss_mb": round(one["peak_rss_mb"]),
        "one_changed_over_floor": round(one["seconds"] / read_floor["seconds"], 2),
        "formatted_read_hash_floor_s": round(styled_floor["seconds"], 3),
        "one_changed_formatted_s": round(one_styled["seconds"], 3),
        "one_changed_formatted_rss_mb": round(one_styled["peak_rss_mb"]),
        "one_changed_formatted_over_floor": round(
            one_styled["seconds"] / styled_floor["seconds"], 2
        ),
        "appended": APPENDED,
        "appended_s": round(append["seconds"], 3),
        "appended_over_floor": round(append["seconds"] / read_floor["seconds"], 2),
        "read_state_s": round(read["seconds"], 3),
        "state_bytes_per_lead": round(plain.stat().st_size / n, 1),
    }
    r = result
    print(
        f"  incremental steady {n:,} ({r['shared_phones']} shared phones): "
        f"{r['incremental_steady_s']} s "
        f"({r['incremental_steady_rss_mb']} MB) vs floor {r['steady_floor_s']} s "
        f"= x{r['incremental_over_floor']}; read in full {r['full_steady_s']} s\n"
        f"  one lead changed {n:,}: {r['one_changed_s']} s vs read+hash floor "
        f"{r['read_hash_floor_s']} s = x{r['one_changed_over_floor']}; phones written "
        f"(415) 555-0100: {r['one_changed_formatted_s']} s vs "
        f"{r['formatted_read_hash_floor_s']} s = x{r['one_changed_formatted_over_floor']}; "
        f"{APPENDED:,} appended "
        f"{r['appended_s']} s = x{r['appended_over_floor']}; reading the state "
        f"{r['read_state_s']} s; {r['state_bytes_per_lead']} bytes per lead",
        flush=True,
    )
    return result


def bench_accounts(
    root: Path, n: int, scale: float, latency: float, batch: int = 100
) -> dict[str, Any]:
    """The same leads loaded into one account, then split between two: rate limits are per
    sub-account, so two load in about half the time. The searches each account was sent
    count the do-not-call look-ups: in a run of two accounts each asks the other too."""
    seed = root / "two-accounts.yaml"
    seed.write_text(
        "accounts:\n"
        + "".join(
            f'  - accountId: "{a}"\n    dialGroups:\n      - {{dialGroupId: {g}, campaigns: '
            f"[{{campaignId: {c}, campaignName: C{c}}}]}}\n"
            for a, g, c in (("11110001", 1, 501), ("22220002", 2, 502))
        )
        + "credentials: {clientId: i, clientSecret: s, jwt: j, apiTokens: [bench-token]}\n"
    )
    import httpx

    results = {}
    for accounts in (1, 2):
        work = root / f"accounts-{accounts}"
        if work.exists():
            shutil.rmtree(work)
        (work / "leadsets").mkdir(parents=True)
        split = [("11110001", 501), ("22220002", 502)][:accounts]
        for k, (account, campaign) in enumerate(split):
            part = n // accounts
            write_csv(work / "leadsets" / f"leads{k}.csv", part, 20 + k, 0.0)
            (work / "leadsets" / f"set{k}.yaml").write_text(
                f"campaign: {campaign}\naccount: '{account}'\n{OPTIONS}leadsFile: leads{k}.csv\n"
            )
        (work / "engage-sync.yaml").write_text("rails: {maxCreates: 10000000}\n")
        args = ("--seed", str(seed), "--rate-scale", str(scale), "--latency", str(latency))
        with emulator(*args, "--max-leads", str(batch), token="bench-token") as (origin, env):
            env["ENGAGE_SYNC_RATE_SCALE"] = str(scale)
            started = time.perf_counter()
            subprocess.run(
                [ES, "apply", "--auto-approve", "--batch-size", str(batch)],
                cwd=work,
                env=env,
                check=True,
                capture_output=True,
            )
            seconds = time.perf_counter() - started
            stats = httpx.get(f"{origin}/_emulator/stats").json()
            loaded = len(httpx.get(f"{origin}/_emulator/leads", timeout=60).json())
            searches: dict[str, int] = {}
            for r in httpx.get(f"{origin}/_emulator/requests", timeout=60).json():
                if r["path"].endswith("/campaignLeads/leadSearch"):
                    account = r["path"].split("/accounts/", 1)[1].split("/", 1)[0]
                    searches[account] = searches.get(account, 0) + 1
        results[accounts] = {
            "seconds": round(seconds, 2),
            "http_429": stats["loader429"],
            "loaded": loaded,
            "searches": searches,
        }
    speedup = results[1]["seconds"] / results[2]["seconds"]
    print(
        f"  {n:,} leads in batches of {batch} into one account {results[1]['seconds']} s, split "
        f"between two {results[2]['seconds']} s (x{speedup:.2f}) at rate scale {scale:g}, 429s "
        f"{results[1]['http_429']}/{results[2]['http_429']}, searches "
        f"{results[1]['searches']}/{results[2]['searches']}",
        flush=True,
    )
    return {
        "leads": n,
        "batch_size": batch,
        "rate_scale": scale,
        "one_account": results[1],
        "two_accounts": results[2],
        "speedup": round(speedup, 2),
    }


def bytes_read() -> int | None:
    """Bytes this process has read so far (Linux), or None."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    return int(text.split("rchar:", 1)[1].split()[0])


def bench_ledger(root: Path, n: int) -> dict[str, Any]:
    """The evidence ledger (issue #22): bytes per opt-out on disk and once git packed it, and
    what appending a day's removals to a ledger of `n` costs, and that cost at a tenth of `n`
    (an append reads the ledger's last lines only: flat, issue #34). Entries as apply writes
    them: one cancel of one or two records."""
    from datetime import date, datetime, timedelta, timezone

    from engage_sync.optouts import DateSource, Deadline, OptOutRules, Requested, ledger

    rules = OptOutRules()
    rng = random.Random(22)
    where = root / "ledger"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    path = where / "engage-sync.evidence.jsonl"
    git = ["git", "-C", str(where), "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q"], check=True)
    start = date(2022, 1, 3)
    per_day = max(1, n // 1_250)  # about five years of business days
    day = 0

    def one(i: int, when: date) -> dict[str, Any]:
        asked = when - timedelta(days=rng.randint(0, 9))
        source = DateSource.LEAD_SET if rng.random() < 0.7 else DateSource.GIT
        d = Deadline(Requested(asked, source, f"{rng.getrandbits(160):040x}"), when, rules)
        ids = [600_000_000 + i] + ([600_000_000 + n + i] if rng.random() < 0.2 else [])
        at = datetime(when.year, when.month, when.day, 14, rng.randint(0, 59), tzinfo=timezone.utc)
        act = {"action": "CANCEL_LEADS", "leadIds": ids, "at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        act["answered"] = True
        return ledger.entry(rng.randint(100_000, 100_040), f"C-{i:08d}", d, [act], at)

    i = 0
    commits = 0
    costs: dict[int, float] = {}  # the append of a day's removals, at a tenth of n and at n
    read: dict[int, int | None] = {}  # and the bytes it read (Linux: /proc/self/io)
    while i < n:
        when = start + timedelta(days=day)
        day += 1
        if when.weekday() >= 5:
            continue
        batch = [one(i + k, when) for k in range(min(per_day, n - i))]
        t0, r0 = time.perf_counter(), bytes_read()
        ledger.append(path, batch)
        if i < n // 10 <= i + len(batch) or i + len(batch) >= n:
            costs[i + len(batch)] = time.perf_counter() - t0
            after = bytes_read()
            read[i + len(batch)] = after - r0 if after is not None and r0 is not None else None
        i += len(batch)
        if day % 30 == 0 or i >= n:  # a commit a month, as a team's applies would add up
            subprocess.run([*git, "add", path.name], check=True)
            subprocess.run([*git, "commit", "-qm", f"d{day}"], check=True)
            commits += 1
    size = path.stat().st_size
    subprocess.run([*git, "gc", "-q", "--aggressive"], check=True)
    packed = sum(p.stat().st_size for p in (where / ".git" / "objects" / "pack").glob("*.pack"))
    extra = [one(n + k, start + timedelta(days=day)) for k in range(per_day)]
    t0 = time.perf_counter()
    ledger.append(path, extra)
    append_s = time.perf_counter() - t0
    small, large = sorted(costs)[0], sorted(costs)[-1]
    out = {
        "removals": n,
        "append_at_tenth_s": round(costs[small], 4),
        "append_at_full_s": round(costs[large], 4),
        "append_full_over_tenth": round(costs[large] / costs[small], 2) if costs[small] else None,
        "append_read_bytes_at_tenth": read[small],
        "append_read_bytes_at_full": read[large],
        "bytes": size,
        "bytes_per_removal": round(size / n, 1),
        "git_packed_bytes": packed,
        "git_packed_bytes_per_removal": round(packed / n, 1),
        "commits": commits,
        "append_day_s": round(append_s, 3),
        "removals_per_day": per_day,
    }
    print(
        f"  evidence ledger: {n:,} removals, {out['bytes_per_removal']} bytes each "
        f"({out['git_packed_bytes_per_removal']} once git packed {commits} commits); appending "
        f"a day's {per_day} to it: {out['append_day_s']} s; a day's append at {large:,} entries "
        f"against at {small:,}: x{out['append_full_over_tenth']}, reading {read[large]} and "
        f"{read[small]} bytes",
        flush=True,
    )
    return out


def issue34(root: Path, n: int, yaml_max: int, repeat: int, scale: float, out: Path) -> None:
    """Issue #34's targets, each against its floor, in one run: inline YAML at most 0.6x the
    compose floor (the benchmark's set, and one of 8 plain fields with formatted phones); one
    lead changed at most 2.0x the read+hash floor with phones written (415) 555-0100 as with
    digits; a 60-call apply at 1 s and 3 s of latency at least 0.9 of the windows plus a plan;
    a first apply's peak at most 1.5x its plan's, and the ledger append's cost."""
    load = [round(x, 1) for x in os.getloadavg()]
    print(f"  load average at the start: {load}", flush=True)
    yaml = bench_plan(root, [yaml_max], yaml_max, repeat, formats=("yaml", "yaml8"))
    incremental = bench_incremental(root, n, repeat)
    bursts = [bench_burst(root, 60, latency, scale, repeat) for latency in (1.0, 3.0)]
    # item 2: a first apply of n leads against plan's peak, the files' reads, the ledger append
    lean = (
        bench_lean_apply(root, n, 500, 1000.0)
        if n >= 100_000
        else bench_lean_apply(root, n, 50, 40.0)
    )
    ledger = bench_ledger(root, 100_000 if n >= 100_000 else 2_000)
    doc = {"machine": machine(), "load_average_at_start": load, "issue34": True, "plan": yaml}
    doc |= {"incremental": incremental, "burst": bursts, "lean_apply": lean}
    doc |= {"evidence_ledger": ledger}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


def machine() -> dict[str, Any]:
    return {
        "arch": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def compile_bytecode() -> None:
    """engage-sync's bytecode, as installing it compiles it: with PYTHONDONTWRITEBYTECODE set
    (as on the machine this ran on) an editable checkout is compiled again by every process
    measured, about a second of start-up that an installed engage-sync does not pay."""
    import compileall

    import engage_sync

    compileall.compile_dir(Path(engage_sync.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "results.json")
    parser.add_argument(
        "--data",
        type=Path,
        default=HERE / "out" / "data",
        help="where generated lead sets are kept (reused across runs)",
    )
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement (best)")
    parser.add_argument(
        "--accounts",
        action="store_true",
        help="only the one-account against two-accounts applies: the full run's shape, and a "
        "first apply in batches of 500 at rate scale 2 (where the searches could set the pace)",
    )
    parser.add_argument(
        "--issue34",
        action="store_true",
        help="only issue #34's measurements: inline YAML at its largest size, the one-changed "
        "plans (digits and formatted phones), the 60-call bursts (minutes, not half an hour)",
    )
    args = parser.parse_args()
    sizes = [1_000, 5_000] if args.quick else [10_000, 100_000, 1_000_000]
    yaml_max = 5_000 if args.quick else 100_000
    repeat = args.repeat or (1 if args.quick else 3)
    args.data.mkdir(parents=True, exist_ok=True)
    compile_bytecode()
    if args.issue34:
        issue34(args.data, sizes[-1], yaml_max, repeat, 10.0 if args.quick else 2.0, args.out)
        return
    if args.accounts:
        shapes = [(2_000, 10.0, 100)] if args.quick else [(40_000, 10.0, 100), (60_000, 2.0, 500)]
        runs = [
            bench_accounts(args.data, n, s, 0.05, b) for n, s, b in shapes for _ in range(repeat)
        ]
        doc = {"machine": machine(), "accounts": runs}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        return
    print(
        f"engage-sync benchmark on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}{' (quick)' if args.quick else ''}",
        flush=True,
    )
    plans = bench_plan(args.data, sizes, yaml_max, repeat)
    grow = growth(plans)
    for g in grow:
        print(
            f"  growth {g['format']:5} {g['scenario']:6} {g['from']:>9,} -> {g['to']:>9,}: "
            f"time x{g['time_x']}, memory x{g['rss_x']} "
            f"({'linear' if g['linear'] else 'NOT linear'})"
        )
    # The loader answers only when it has processed the list: apply at several server latencies,
    # the documented limits and the latency scaled by the same factor (the same physics, faster)
    n, batch, scale = (1_000, 20, 40.0) if args.quick else (20_000, 50, 10.0)
    latencies = (0.005, 1.0) if args.quick else (0.005, 0.5, 1.0, 2.0, 5.0)
    applies = []
    for latency in latencies:
        a = bench_apply(args.data, n, batch, scale, latency / scale)
        a["real_latency_s"] = latency
        applies.append(a)
        print(
            f"  apply {a['leads']:,} leads in {a['requests']} calls, server latency {latency:g} s "
            f"(scaled x{scale:g}): {a['achieved_rps']} calls/s of a {a['ceiling_rps']} ceiling "
            f"({a['of_ceiling']:.0%}), {a['http_429']} x 429, posted/changed "
            f"{a['posted']}/{a['changed']} = {a['posted_per_changed']}, "
            f"first posted {a['first_posted']:,}",
            flush=True,
        )
    apply = applies[0]
    refresh = (
        bench_refresh(args.data, 1_000, 40.0)
        if args.quick
        else bench_refresh(args.data, 100_000, 20.0)
    )
    print(
        f"  refresh of {refresh['leads']:,} owned leads: {refresh['searches']} searches "
        f"({refresh['searches_per_1000_leads']} per 1,000), {refresh['refresh_s']} s against a "
        f"pacing floor of {refresh['search_floor_s']} s at rate scale {refresh['rate_scale']:g}, "
        f"{refresh['http_429']} x 429, drift {refresh['drift']}"
    )
    first = bench_first_plans(args.data, [2_000, 5_000] if args.quick else [1_000_000, 3_000_000])
    incremental = bench_incremental(args.data, 2_000 if args.quick else 1_000_000, repeat)
    accounts = bench_accounts(args.data, 2_000 if args.quick else 40_000, 10.0, 0.05)
    bursts = [
        bench_burst(args.data, calls, latency, 10.0 if args.quick else 2.0, repeat)
        for calls in ((60,) if args.quick else (60, 240))
        for latency in (1.0, 3.0)
    ]
    evidence = bench_ledger(args.data, 500 if args.quick else 100_000)
    lean = (
        bench_lean_apply(args.data, 2_000, 50, 40.0)
        if args.quick
        else bench_lean_apply(args.data, 1_000_000, 500, 1000.0)
    )
    dnc = [
        bench_dnc_lookups(args.data, size, 500, 10.0, 0.5 / 10.0)
        for size in ((1_000, 2_000) if args.quick else (1_000, 100_000))
    ]
    for d in dnc:
        w, wo = d["with_lookups"], d["without_lookups"]
        print(
            f"  do-not-call look-ups in an apply of {d['leads']:,} new leads: {w['lookups']} "
            f"searches beside {w['loader_calls']} loader calls; apply {w['apply_s']} s against "
            f"{wo['apply_s']} s for the loader calls alone ({d['added']:+.0%}), loader span "
            f"{w['loader_span_s']} s vs {wo['loader_span_s']} s, "
            f"{w['http_429'] + wo['http_429']} x 429",
            flush=True,
        )
    doc = {
        "machine": machine(),
        "quick": args.quick,
        "plan": plans,
        "growth": grow,
        "apply": apply,
        "apply_by_latency": applies,
        "refresh": refresh,
        "issue13": first,
        "incremental": incremental,
        "accounts": accounts,
        "evidence_ledger": evidence,
        "lean_apply": lean,
        "dnc_lookups": dnc,
        "burst": bursts,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
