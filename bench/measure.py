"""One measurement in a fresh process, so peak RSS is this measurement's own.

    python bench/measure.py plan LEADSET STATE [PLAN OPTIONS...]
    python bench/measure.py floor-yaml FILE | floor-csv FILE | floor-jsonl FILE
    python bench/measure.py floor-steady LEADSET STATE | read-state STATE
    python bench/measure.py apply FOLDER [APPLY OPTIONS...]   (the Engage env from the caller)
    python bench/measure.py save-state STATE

Prints one JSON line: {"seconds": wall time of the work, "peak_rss_mb": peak resident memory},
and what the work adds (apply: how often each lead-set file was parsed and opened; save-state:
the Python memory allocated at the peak of writing the state).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def floor_yaml(path: str) -> None:
    """libyaml composing the file's node tree (what engage-sync did before it streamed)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        yaml.compose(f, Loader=yaml.CSafeLoader)


def floor_csv(path: str) -> None:
    import csv
    import hashlib

    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            hashlib.sha256("\x1f".join(row).encode()).digest()


def floor_jsonl(path: str) -> None:
    import hashlib

    with open(path, encoding="utf-8") as f:
        for line in f:
            json.loads(line)
            hashlib.sha256(line.encode()).digest()


def floor_steady(leadset: str, state: str) -> None:
    """What an unchanged plan cannot avoid: hash the lead set's bytes, parse the state."""
    import hashlib
    from pathlib import Path

    folder = Path(leadset).parent
    for path in (Path(leadset), *folder.glob("leads.*")):
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    json.loads(Path(state).read_text(encoding="utf-8"))


def read_state(state: str) -> None:
    from pathlib import Path

    from engage_sync.state import load_state

    load_state(Path(state))


def plan(leadset: str, state: str, *options: str) -> None:
    from engage_sync import cli

    outs = [] if "--out" in options else ["--out", os.devnull]
    try:
        cli.main(["--state", state, "plan", leadset, *outs, *options])
    except SystemExit as e:
        if e.code not in (0, None):
            raise RuntimeError(f"plan exited {e.code}") from None


def validate(leadset: str) -> None:
    from engage_sync import cli

    try:
        cli.main(["validate", leadset])
    except SystemExit as e:
        if e.code not in (0, None):
            raise RuntimeError(f"validate exited {e.code}") from None


def counting_reads() -> dict[str, dict[str, int]]:
    """Count, per file, each pass that parses its leads (the readers) and each open (a parse, a
    hash, chunking, counting lines): the files-read count of issue #34."""
    import builtins
    import io

    from engage_sync.leadsets import readers

    parsed: dict[str, int] = {}
    prefix: dict[str, int] = {}  # passes stopped early: the do-not-call look-ahead's first rows
    opened: dict[str, int] = {}
    for name in ("csv_leads", "jsonl_leads", "inline_leads"):
        original = getattr(readers, name)

        def wrapped(path, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            key = os.path.basename(str(path))
            whole = False
            try:
                yield from _original(path, *args, **kwargs)
                whole = True
            finally:
                counts = parsed if whole else prefix
                counts[key] = counts.get(key, 0) + 1

        setattr(readers, name, wrapped)
    real_open = io.open

    def counted_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = os.path.basename(str(file))
        if name.endswith((".csv", ".jsonl", ".yaml")) and "engage-sync" not in name:
            opened[name] = opened.get(name, 0) + 1
        return real_open(file, *args, **kwargs)

    io.open = builtins.open = counted_open  # type: ignore[assignment]
    return {"parsed": parsed, "prefix": prefix, "opened": opened}


def apply(folder: str, *options: str) -> dict[str, dict[str, int]]:
    from engage_sync import cli

    os.chdir(folder)
    reads = counting_reads()
    try:
        cli.main(["apply", "--auto-approve", *options])
    except SystemExit as e:
        if e.code not in (0, None):
            raise RuntimeError(f"apply exited {e.code}") from None
    return reads


def save_state(state: str) -> dict[str, float]:
    """Load a state, then write it again; what writing it allocated at its peak."""
    import tracemalloc
    from pathlib import Path

    from engage_sync.state import load_state
    from engage_sync.state import save_state as save

    loaded = load_state(Path(state))
    tracemalloc.start()
    save(loaded)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "write_peak_mb": round(peak / 2**20, 1),
        "state_mb": round(Path(state).stat().st_size / 2**20, 1),
    }


def main() -> None:
    mode, *args = sys.argv[1:]
    work = {
        "plan": plan,
        "validate": validate,
        "floor-yaml": floor_yaml,
        "floor-csv": floor_csv,
        "floor-jsonl": floor_jsonl,
        "floor-steady": floor_steady,
        "read-state": read_state,
        "apply": apply,
        "save-state": save_state,
    }[mode]
    if mode in (
        "plan",
        "validate",
        "read-state",
        "apply",
        "save-state",
    ):  # imports are start-up cost, not work: load them first
        import engage_sync.cli  # noqa: F401
    started = time.perf_counter()
    more = work(*args) or {}
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), **more}))


if __name__ == "__main__":
    main()
