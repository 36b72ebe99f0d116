"""One measurement in a fresh process, so peak RSS is this measurement's own.

    python bench/measure.py plan LEADSET STATE [PLAN OPTIONS...]
    python bench/measure.py floor-yaml FILE | floor-csv FILE | floor-jsonl FILE
    python bench/measure.py floor-steady LEADSET STATE | read-state STATE

Prints one JSON line: {"seconds": wall time of the work, "peak_rss_mb": peak resident memory}.
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
    }[mode]
    if mode in (
        "plan",
        "validate",
        "read-state",
    ):  # imports are start-up cost, not work: load them first
        import engage_sync.cli  # noqa: F401
    started = time.perf_counter()
    work(*args)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
