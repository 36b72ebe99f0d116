"""Shared fixtures: real files in tmp_path, the CLI called as users call it, and the emulator."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from engage_sync import cli as cli_module
from engage_sync.emulator import Emulator, Settings, default_seed
from engage_sync.emulator.server import serve

pytest_plugins = ("github_fake",)  # the fake GitHub API fixture, for the GitOps tests

# the suite must pass on a loaded machine, and nothing in it passes or fails on time: no
# example has a deadline, and a slow draw is not a failed health check (both are timed)
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
BIN = Path(sys.executable).parent
ENGAGE_SYNC = shutil.which("engage-sync", path=str(BIN)) or "engage-sync"
# an emulator seed (`--seed`) of two accounts, a campaign each, one API token for both
TWO_ACCOUNTS = """\
accounts:
  - accountId: "11110001"
    accountName: East
    dialGroups:
      - {dialGroupId: 1, dialGroupName: East, campaigns: [{campaignId: 501, campaignName: E}]}
  - accountId: "22220002"
    accountName: West
    dialGroups:
      - {dialGroupId: 2, dialGroupName: West, campaigns: [{campaignId: 502, campaignName: W}]}
credentials: {clientId: id, clientSecret: secret, jwt: my-jwt, apiTokens: [two-accounts-token]}
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, one in every two places (in the order pytest-randomly drew): with
    `-n N --dist load --maxschedchunk 1` (scripts/test.sh) each worker starts on one, and none
    is left to start last while the others have finished."""
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    rest = [item for item in items if item.get_closest_marker("slow") is None]
    paired = [item for pair in zip(slow, rest, strict=False) for item in pair]
    items[:] = paired + slow[len(rest) :] + rest[len(slow) :]


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Any:
    """Call the CLI in-process, exactly as the console script does; returns (code, out, err)."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        try:
            cli_module.main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0
        else:  # pragma: no cover - main always exits
            code = 0
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository like a user's: engage-sync.yaml and the bundled example lead sets."""
    shutil.copytree(REPO / "leadsets", tmp_path / "leadsets")
    shutil.copy(REPO / "engage-sync.yaml", tmp_path / "engage-sync.yaml")
    monkeypatch.chdir(tmp_path)
    for var in (
        "ENGAGE_SYNC_STATE",
        "ENGAGE_SYNC_CONFIG",
        "CI",
        "ENGAGE_ACCOUNT_ID",
        "ENGAGE_BASE_URL",
        "RINGCENTRAL_CLIENT_ID",
        "RINGCENTRAL_CLIENT_SECRET",
        "RINGCENTRAL_JWT",
        "ENGAGE_ACCESS_TOKEN",
        "ENGAGE_API_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard output taken for a terminal and no CI variable set: where lead values may be
    shown (`plan --show-pii`). The terminal is the process's boundary, patched as one."""
    from engage_sync.cli import common
    from engage_sync.settings.ci_vars import CI_VARIABLES

    monkeypatch.setattr(common, "stdout_is_terminal", lambda: True)
    for var in CI_VARIABLES:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of this repository's example lead sets and settings, outside the working directory
    (for the installed command run in it as a subprocess)."""
    shutil.copytree(REPO / "leadsets", tmp_path / "leadsets")
    shutil.copy(REPO / "engage-sync.yaml", tmp_path / "engage-sync.yaml")
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class Clock:
    """The in-process emulator's clock: real time, which a test can stop and move forward
    rather than sleep (a token's expiry, a rate window's end)."""

    def __init__(self) -> None:
        self.ahead = 0.0
        self.stopped: float | None = None

    def __call__(self) -> float:
        return (time.monotonic() if self.stopped is None else self.stopped) + self.ahead

    def stop(self) -> None:
        self.stopped = time.monotonic()

    def advance(self, seconds: float) -> None:
        self.ahead += seconds


@dataclass
class Served:
    """An emulator served on a real loopback socket."""

    origin: str
    emulator: Emulator | None = None
    process: subprocess.Popen[str] | None = None
    clock: Clock | None = None

    @property
    def base_url(self) -> str:
        return f"{self.origin}/voice"

    def get(self, path: str) -> Any:
        return httpx.get(f"{self.origin}{path}", timeout=120).json()  # bounds, not measures

    def post(self, path: str, body: Any) -> Any:
        return httpx.post(f"{self.origin}{path}", json=body, timeout=120).json()

    def fault(self, kind: str, count: int = 1, rows: int = 1) -> None:
        self.post("/_emulator/faults", {"kind": kind, "count": count, "rows": rows})

    def leads(self, campaign: int | None = None) -> list[dict[str, Any]]:
        suffix = f"?campaignId={campaign}" if campaign else ""
        result: list[dict[str, Any]] = self.get(f"/_emulator/leads{suffix}")
        return result

    def loader_posts(self) -> list[dict[str, Any]]:
        return [r for r in self.get("/_emulator/requests") if r["path"].endswith("/direct")]

    def where(self) -> dict[str, str]:
        """Where this emulator is, without credentials: what an offline `plan` needs to plan for
        it (the state records the account and service each campaign was applied to)."""
        env = self.env("none")
        return {k: env[k] for k in ("ENGAGE_BASE_URL", "ENGAGE_ACCOUNT_ID")}

    def env(self, kind: str = "jwt") -> dict[str, str]:
        env = {
            "ENGAGE_BASE_URL": self.base_url,
            "ENGAGE_ACCOUNT_ID": "99990001",
            # the suite runs with CI=true: a loopback host must be named (engage/hosts.py)
            "ENGAGE_SYNC_ALLOWED_HOSTS": self.origin.split("://", 1)[1],
        }
        if kind == "jwt":
            env.update(
                RINGCENTRAL_SERVER_URL=self.origin,
                RINGCENTRAL_CLIENT_ID="emulator-client-id",
                RINGCENTRAL_CLIENT_SECRET="emulator-client-secret",
                RINGCENTRAL_JWT="emulator-jwt-assertion",
            )
        elif kind == "api-token":
            env["ENGAGE_API_TOKEN"] = "emulator-legacy-api-token"
        return env


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """The emulator in this process on its default seed, no socket: the Engage the applier's
    and the operations' fast tests talk to through an in-process transport."""
    e = Emulator(default_seed(), Settings())
    yield e
    e.store.close()


@pytest.fixture
def served() -> Iterator[Served]:
    """The emulator app on a real socket in this process (fast; fault and clock control)."""
    clock = Clock()
    emu = Emulator(default_seed(), Settings(hang_seconds=3.0), clock=clock)
    server = serve(emu, "127.0.0.1", 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield Served(f"http://{host}:{port}", emulator=emu, clock=clock)
    finally:
        server.shutdown()
        server.server_close()
        emu.store.close()


def untraced_env() -> dict[str, str]:
    """This process's environment without coverage's variables: a command started with it is
    not measured (for processes whose code other tests cover and whose tracing costs CPU the
    two-core suite is short of)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}


def start_emulator(*args: str) -> Served:
    """`engage-sync emulator --port 0 ...` as a user starts it; the caller stops it by pid.
    Not under the suite's coverage (`untraced_env`): the in-process emulator tests cover its
    code, and tracing every request it serves cost two end-to-end test files 6% of their CPU."""
    proc = subprocess.Popen(
        [ENGAGE_SYNC, "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=untraced_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise AssertionError(
            f"emulator did not start: {line}{proc.stderr.read() if proc.stderr else ''}"
        )
    origin = line.split("listening on ", 1)[1].split(" ", 1)[0]
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    return Served(origin, process=proc)


def _drain(pipe: Any) -> None:
    with contextlib.suppress(ValueError, OSError):  # closed by stop_emulator
        pipe.read()


def stop_emulator(served: Served) -> int:
    assert served.process is not None
    served.process.send_signal(signal.SIGTERM)
    try:
        return served.process.wait(timeout=120)
    except subprocess.TimeoutExpired:  # pragma: no cover - only when shutdown is broken
        served.process.kill()
        served.process.wait()  # reaped: a process left running fails a later test's teardown
        raise
    finally:
        for pipe in (served.process.stdout, served.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def emulator_process() -> Iterator[Served]:
    served = start_emulator()
    try:
        yield served
    finally:
        if served.process is not None and served.process.poll() is None:
            stop_emulator(served)


def user_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any Engage settings or credentials, nor GitHub
    Actions' variables (when the suite itself runs in Actions), plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ENGAGE_", "RINGCENTRAL_", "GITHUB_"))
    }
    # a file or socket the command leaves open is said on its stderr (Python hides it by
    # default), and `engage_sync` fails the test on it, as pytest does in-process
    env["PYTHONWARNINGS"] = "always::ResourceWarning"
    env.update(extra or {})
    return env


def engage_sync(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600
) -> Result:
    """Run the installed engage-sync command in a subprocess, as a user would."""
    proc = subprocess.run(
        [ENGAGE_SYNC, *args],
        env=user_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert "ResourceWarning" not in proc.stderr, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)


def interruptible(argv: list[str]) -> list[str]:
    """`argv` with Ctrl-C's default restored first. A command started in the background by a
    non-interactive shell (`.ci/run &`, a CI runner) ignores SIGINT, and so does every process
    under it; Python then installs no KeyboardInterrupt handler, and an apply sent SIGINT by a
    test would run to its end."""
    restore = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    return [sys.executable, "-c", restore + "os.execv(sys.argv[1], sys.argv[1:])", *argv]


def spawn_engage_sync(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start the installed engage-sync command in the background (the caller waits or kills it)."""
    return subprocess.Popen(
        [ENGAGE_SYNC, *args],
        cwd=cwd,
        env=user_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )


def finish(proc: subprocess.Popen[str], bound: float = 600) -> tuple[str, str]:
    """Wait for a command started in the background to exit; its stdout and stderr. `bound` is
    a bound, not a measurement (what a test checks never depends on it): past it the command is
    killed and the test fails saying so."""
    try:
        out, err = proc.communicate(timeout=bound)
    except subprocess.TimeoutExpired:
        reap(proc)
        raise AssertionError(f"{proc.args!r} still running after {bound:.0f} s: killed") from None
    assert "ResourceWarning" not in err, err  # see user_env
    return out, err


def reap(proc: subprocess.Popen[Any]) -> None:
    """Kill a command started in the background if it still runs, and close its pipes: a test
    that fails half way leaves no process, and no open file for a later test's ResourceWarning."""
    if proc.poll() is None:
        proc.kill()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()
    proc.wait()


def run_on_terminal(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    answer: bytes,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Run the installed command with a pseudo-terminal as its stdin/stdout/stderr; `meanwhile`
    runs while it waits for the answer to its question."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [ENGAGE_SYNC, *args],
        cwd=cwd,
        env=user_env(env),
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    output = b""
    answered = False
    while True:
        ready, _, _ = select.select([leader], [], [], 300)  # a bound, not a measurement
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the command exited and closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"[y/N]" in output:
            if meanwhile is not None:
                meanwhile()
            os.write(leader, answer)
            answered = True
    os.close(leader)
    return proc.wait(timeout=300), output.decode("utf-8", "replace")


def served_is_idle(served: Served, endpoint: str = "loader") -> bool:
    """Every call to `endpoint` the emulator has received is answered (none still inside it).
    Asked on a new connection, which the server accepts after those of a client just killed."""
    stats = served.get("/_emulator/stats")
    path = {"loader": "/direct", "search": "/search", "actions": "/actions"}[endpoint]
    answered = sum(1 for r in served.get("/_emulator/requests") if r["path"].endswith(path))
    return answered >= int(stats.get(f"{endpoint}Calls", 0))


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def wait_until(predicate: Any, timeout: float = 600.0) -> None:
    """Poll for an event; `timeout` bounds a test that would otherwise hang, it measures nothing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def dated_git(where: Path, *args: str, when: str = "2026-12-01T12:00:00+00:00") -> str:
    """git in `where` as one author, its commits dated `when` (for what git blame dates)."""
    env = {
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
        "GIT_AUTHOR_NAME": "Ops",
        "GIT_AUTHOR_EMAIL": "ops@example.com",
        "GIT_COMMITTER_NAME": "Ops",
        "GIT_COMMITTER_EMAIL": "ops@example.com",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(where),
    }
    done = subprocess.run(["git", *args], cwd=where, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class _OneAtATime:
    """moto's S3 checks a PUT's condition and then writes, in two steps; S3 does both at once.
    Answering one request at a time gives the emulator S3's atomicity (without it two PUTs with
    `If-None-Match: *` racing could both pass)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


@dataclass
class S3Served:
    """moto's S3 server on a loopback socket, with one bucket."""

    endpoint: str
    bucket: str
    client: Any

    def env(self) -> dict[str, str]:
        """The usual AWS environment, pointed at this server (and nowhere else: no profile
        files, no instance metadata)."""
        return {
            "AWS_ACCESS_KEY_ID": "moto-access-key-id",
            "AWS_SECRET_ACCESS_KEY": "moto-secret-access-key",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def listed(self, prefix: str = "") -> list[str]:
        answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for obj in answer.get("Contents", []))

    def read(self, key: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Served]:
    """moto's S3 application served on 127.0.0.1 in this process (its server mode), one bucket."""
    import boto3
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = _OneAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    endpoint = f"http://127.0.0.1:{server.port}"
    httpx.post(f"{endpoint}/moto-api/reset", timeout=120)  # moto's backends are per process
    served = S3Served(endpoint, "engage-state", None)
    for name, value in served.env().items():  # this process's boto3 too
        monkeypatch.setenv(name, value)
    served.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    served.client.create_bucket(Bucket=served.bucket)
    try:
        yield served
    finally:
        served.client.close()
        server.shutdown()
        server.server_close()
        thread.join()
