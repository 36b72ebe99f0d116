"""End to end with the state in S3: the installed `engage-sync` command against the Engage
emulator and moto's S3 server, each on a loopback socket. The same apply, crash and race as the
file backend's (test_apply_e2e.py), with no state file anywhere."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    ENGAGE_SYNC,
    S3Served,
    Served,
    engage_sync,
    finish,
    reap,
    run_on_terminal,
    spawn_engage_sync,
    start_emulator,
    stop_emulator,
    user_env,
    wait_until,
)
from test_apply_e2e import ALL_IDS, posted_ids, stored_ids

pytestmark = pytest.mark.e2e
KEY = "team/engage-sync.state.json"


@pytest.fixture
def s3_repo(repo: Path) -> Path:
    """The example repository with its state in the bucket."""
    config = repo / "engage-sync.yaml"
    text = config.read_text().replace(
        "state: engage-sync.state.json\n",
        f"state:\n  backend: s3\n  bucket: engage-state\n  key: {KEY}\n",
    )
    config.write_text(text)
    return repo


def env(emu: Served, s3: S3Served) -> dict[str, str]:
    return {**emu.env(), **s3.env(), "ENGAGE_SYNC_LOOKUP_DELAY": "0.05"}


def state_of(s3: S3Served) -> Any:
    return json.loads(s3.read(KEY))


def test_apply_keeps_the_state_in_the_bucket_and_the_second_apply_posts_nothing(
    s3_repo: Path, s3_server: S3Served
) -> None:
    emu = start_emulator()
    try:
        first = engage_sync("apply", "--auto-approve", env=env(emu, s3_server), cwd=s3_repo)
        assert first.code == 0, first.err
        assert f"Recorded 11 lead(s) in s3://engage-state/{KEY}." in first.out
        assert posted_ids(emu) == Counter(ALL_IDS)
        assert s3_server.listed() == [
            "team/engage-sync.state.json",
            "team/engage-sync.state.json.pacing",
        ]
        assert state_of(s3_server)["serial"] == 1
        assert [p.name for p in s3_repo.glob("engage-sync.*")] == ["engage-sync.yaml"]
        second = engage_sync("apply", "--auto-approve", env=env(emu, s3_server), cwd=s3_repo)
        assert second.code == 0 and "Nothing to post." in second.out
        assert posted_ids(emu) == Counter(ALL_IDS)
        where = {**emu.where(), **s3_server.env()}  # plan where the apply sent
        plan = engage_sync("plan", "--detailed-exitcode", env=where, cwd=s3_repo)
        assert plan.code == 0, plan.err
        assert plan.out.endswith(
            "Plan: 0 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 11 unchanged.\n"
        )
        listed = engage_sync("state", "list", env=s3_server.env(), cwd=s3_repo)
        assert listed.out.startswith(f"s3://engage-state/{KEY}: serial 1, lineage ")
        assert "11 lead(s) in 3 campaign(s)." in listed.out
    finally:
        stop_emulator(emu)


def test_without_credentials_the_bucket_is_one_clear_error(
    s3_repo: Path, s3_server: S3Served
) -> None:
    no_credentials = {**s3_server.env(), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    r = engage_sync("plan", env=no_credentials, cwd=s3_repo)
    assert r.code == 1
    assert r.err.startswith(f"error: s3://engage-state/{KEY}: cannot read state: no AWS ")
    assert "Traceback" not in r.err


def test_kill_9_mid_apply_then_rerun_reposts_no_acknowledged_lead(
    s3_repo: Path, s3_server: S3Served
) -> None:
    emu = start_emulator("--latency", "0.3")
    try:
        both = env(emu, s3_server)
        # 4 calls each 30 s: killed while waiting for the window, never after it finished
        slow = {**both, "ENGAGE_SYNC_LOADER_LIMITS": "4/30"}
        proc = spawn_engage_sync(
            "apply", "--auto-approve", "--batch-size", "1", env=slow, cwd=s3_repo
        )
        try:
            wait_until(lambda: len(emu.leads()) >= 4)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            reap(proc)
        acknowledged = {x["externId"] for x in emu.leads()}
        assert 4 <= len(acknowledged) < 11
        journal = s3_server.listed(f"{KEY}.journal/")
        assert journal and f"{KEY}.lock" in s3_server.listed()  # left by the run killed
        plan = engage_sync("plan", "--format", "json", env=s3_server.env(), cwd=s3_repo)
        assert plan.code == 0, plan.err  # the state and its journal load after kill -9
        locked = engage_sync("apply", "--auto-approve", env=both, cwd=s3_repo)
        assert locked.code == 1 and "no longer running" in locked.err
        lock_id = re.search(r"force-unlock (\w+)", locked.err)
        assert lock_id is not None
        unlocked = engage_sync("force-unlock", lock_id.group(1), env=s3_server.env(), cwd=s3_repo)
        assert unlocked.code == 0 and unlocked.out.startswith(f"Removed lock {lock_id.group(1)}")
        r = engage_sync("apply", "--auto-approve", env=both, cwd=s3_repo)
        assert r.code == 0, r.err
        counts = posted_ids(emu)
        reposted = {eid for eid, n in counts.items() if n > 1}
        assert len(reposted) <= 1  # at most the batch in flight (one lead here) is in doubt
        assert set(counts) == ALL_IDS
        assert len(acknowledged & reposted) <= 1
        assert s3_server.listed(f"{KEY}.journal/") == []  # folded into the state, then removed
        assert sorted(state_of(s3_server)["campaigns"]["136785"]["leads"]) == [
            "R-1001",
            "R-1002",
            "R-1003",
            "R-1004",
        ]
    finally:
        stop_emulator(emu)


def test_a_second_apply_fails_cleanly_on_the_lock_while_the_first_holds_it(
    s3_repo: Path, s3_server: S3Served
) -> None:
    emu = start_emulator("--latency", "0.3")
    try:
        tried: list[Any] = []

        def second_apply() -> None:  # while the first holds the lock, asking its question
            assert f"{KEY}.lock" in s3_server.listed()
            tried.append(
                engage_sync("apply", "--auto-approve", env=env(emu, s3_server), cwd=s3_repo)
            )

        code, out = run_on_terminal(
            ["apply", "--batch-size", "1"], env(emu, s3_server), s3_repo, b"y\n", second_apply
        )
        (second,) = tried
        assert second.code == 1
        assert second.err.startswith("error: the state is locked by ") and "pid" in second.err
        assert code == 0, out
        assert stored_ids(emu) == Counter(ALL_IDS)
        assert posted_ids(emu) == Counter(ALL_IDS)
        assert f"{KEY}.lock" not in s3_server.listed()
    finally:
        stop_emulator(emu)


def test_two_applies_started_at_once_one_waits_and_no_lead_is_loaded_twice(
    s3_repo: Path, s3_server: S3Served
) -> None:
    emu = start_emulator("--latency", "0.1")
    try:
        argv = [
            ENGAGE_SYNC,
            "apply",
            "--auto-approve",
            "--batch-size",
            "1",
            "--lock-timeout",
            "600",
        ]
        procs = [
            subprocess.Popen(
                argv,
                cwd=s3_repo,
                env=user_env(env(emu, s3_server)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            outs = [finish(proc) for proc in procs]
        finally:
            for proc in procs:
                reap(proc)
        assert [proc.returncode for proc in procs] == [0, 0], outs
        said = sorted("Nothing to post." in out for out, _ in outs)
        assert said == [False, True]  # one loaded everything, the other waited and found it done
        assert posted_ids(emu) == Counter(ALL_IDS)
        assert state_of(s3_server)["serial"] == 1
    finally:
        stop_emulator(emu)
