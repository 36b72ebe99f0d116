"""The git side of the apply job: which commits it carries out, and getting its state to main.

The state lives on main, next to the lead sets it describes, and only the apply job (one at a
time, `concurrency: engage-sync-apply`) commits it. When main moved on while an apply ran, the
state commit is rebased onto the new main and pushed again (bounded retries with backoff, never
a force push); the rebase only conflicts when someone else changed the state file, and then the
commit goes to a rescue branch that the next apply restores before it does anything else.

Each state commit names the main commit it applied in a trailer (`Engage-Sync-Applied: <sha>`),
so the next apply knows which merges it has to carry out: those after that commit, however many
landed and whichever run got to them. A shallow checkout is deepened until that commit is found.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import GitError

SUBJECT = "engage-sync: record applied leads [skip ci]"  # [skip ci]: no apply of its own
TRAILER = "Engage-Sync-Applied:"
RESCUE = "engage-sync/rescue/"
BOT_NAME = "engage-sync[bot]"
BOT_EMAIL = "engage-sync@users.noreply.github.com"


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    message: str

    @property
    def is_state(self) -> bool:
        return self.message.startswith(SUBJECT.split(" [")[0])

    @property
    def applied(self) -> str | None:
        """The main commit a state commit recorded the apply of (older ones: their parent)."""
        for line in self.message.splitlines():
            if line.startswith(TRAILER):
                return line[len(TRAILER) :].strip()
        return self.parents[0] if self.parents else None


class Git:
    def __init__(
        self,
        cwd: Path,
        remote: str = "origin",
        branch: str = "main",
        sleep: Callable[[float], None] = time.sleep,
        auth: Mapping[str, str] | None = None,
    ) -> None:
        self.cwd = cwd
        self.remote = remote
        self.branch = branch
        self.sleep = sleep
        self._auth = dict(auth or {})

    @staticmethod
    def token_auth(server: str, token: str) -> dict[str, str]:
        """Git's configuration, as environment variables, that gives `token` to `server` (the
        checkout keeps no credentials: `persist-credentials: false`). Only the commands that
        talk to the remote get it; it is in no file and on no command line."""
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{server.rstrip('/')}/.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        remote = bool(self._auth) and args[0] in ("fetch", "push", "ls-remote")
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self._auth} if remote else None,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise GitError(f"git {' '.join(args)}: {e}") from e
        if check and done.returncode != 0:
            raise GitError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout}")
        return done

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def head(self) -> str:
        return self.out("rev-parse", "HEAD")

    def has_remote(self) -> bool:
        return self.run("remote", "get-url", self.remote, check=False).returncode == 0

    def _shallow(self) -> bool:
        return self.out("rev-parse", "--is-shallow-repository") == "true"

    def _has(self, sha: str) -> bool:
        return self.run("cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0

    def _deepen(self, by: int) -> bool:
        """Fetch `by` more commits of history; False when there is nothing more to fetch."""
        if not self._shallow() or not self.has_remote():
            return False
        self.run("fetch", "--quiet", f"--deepen={by}", self.remote, self.branch)
        return True

    def first_parent_log(self) -> list[Commit]:
        raw = self.out("log", "--first-parent", "--format=%H%x1f%P%x1f%B%x1e", "HEAD")
        commits = []
        for record in raw.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            sha, parents, message = record.split("\x1f", 2)
            commits.append(Commit(sha, tuple(parents.split()), message.strip()))
        return commits

    def since_last_apply(self) -> tuple[str | None, list[Commit]]:
        """The main commit the newest state commit applied (None: never applied), and the
        commits on main after it (state commits left out), oldest first. Deepens a shallow
        clone as far as it must."""
        depth = 50
        while True:
            log = self.first_parent_log()
            applied = next((c.applied for c in log if c.is_state), None)
            if applied is not None and self._has(applied):
                ahead = self.out("rev-list", "--first-parent", f"{applied}..HEAD").split()
                by_sha = {c.sha: c for c in log}
                return applied, [by_sha[s] for s in reversed(ahead) if not by_sha[s].is_state]
            if not self._deepen(depth):
                if applied is not None:
                    raise GitError(
                        f"the last apply recorded commit {applied}, which is not in main's "
                        "history (was main rewritten?)"
                    )
                return None, [c for c in reversed(log) if not c.is_state]
            depth *= 2

    def changed(self, *paths: Path) -> bool:
        return bool(self.out("status", "--porcelain", "--", *map(str, paths)))

    def _identity(self) -> None:
        """Commits, rebases and cherry-picks need a committer; a CI checkout has none."""
        if self.run("config", "user.name", check=False).returncode != 0:
            self.run("config", "user.name", BOT_NAME)
        if self.run("config", "user.email", check=False).returncode != 0:
            self.run("config", "user.email", BOT_EMAIL)

    def commit_state(self, path: Path, applied: str, *more: Path) -> str:
        """Commit the state file (and `more`: the evidence ledger) alone; returns the commit."""
        self._identity()
        paths = [str(p) for p in (path, *more) if (self.cwd / p).exists()]
        self.run("add", "--", *paths)
        message = f"{SUBJECT}\n\n{TRAILER} {applied}\n"
        self.run("commit", "--quiet", "-m", message, "--", *paths)
        return self.head()

    def push(self, attempts: int = 5, backoff: float = 2.0) -> tuple[bool, str]:
        """Push HEAD to the branch; when main moved on, rebase onto it and try again (never a
        force push). Returns (pushed, why not)."""
        why = ""
        for attempt in range(attempts):
            pushed = self.run("push", "--quiet", self.remote, f"HEAD:{self.branch}", check=False)
            if pushed.returncode == 0:
                return True, ""
            why = pushed.stderr.strip().splitlines()[-1] if pushed.stderr.strip() else "refused"
            if attempt + 1 == attempts:
                break
            self.sleep(backoff * 2**attempt)
            fetched = self.run("fetch", "--quiet", self.remote, self.branch, check=False)
            if fetched.returncode != 0:
                why = fetched.stderr.strip() or "fetch failed"
                continue
            rebased = self.run("rebase", "--quiet", "FETCH_HEAD", check=False)
            if rebased.returncode != 0:
                self.run("rebase", "--abort", check=False)
                return False, (
                    f"the state commit does not rebase onto the new {self.branch} (someone "
                    "else changed the state file)"
                )
        return False, why

    def push_rescue(self, name: str) -> bool:
        ref = f"{RESCUE}{name}"
        done = self.run("push", "--quiet", self.remote, f"HEAD:refs/heads/{ref}", check=False)
        return done.returncode == 0

    def rescues(self) -> list[str]:
        """Rescue branches on the remote (oldest first: their names start with a UTC time)."""
        if not self.has_remote():
            return []
        listed = self.out("ls-remote", "--heads", self.remote, f"{RESCUE}*")
        return sorted(line.split("refs/heads/", 1)[1] for line in listed.splitlines() if line)

    def fetch_branch(self, branch: str) -> Commit:
        """Fetch a branch's tip and return it (what was fetched is what is checked and picked,
        however the branch moves meanwhile)."""
        self.run("fetch", "--quiet", "--no-tags", self.remote, f"refs/heads/{branch}")
        sha = self.out("rev-parse", "FETCH_HEAD^{commit}")
        raw = self.out("log", "-1", "--format=%H%x1f%P%x1f%B", sha)
        sha, parents, message = raw.split("\x1f", 2)
        return Commit(sha, tuple(parents.split()), message.strip())

    def changed_paths(self, commit: Commit) -> list[str]:
        """The paths a commit changes against its first parent (a root commit: all of them)."""
        base = commit.parents[0] if commit.parents else "--root"
        listed = self.out(
            "diff-tree", "--no-commit-id", "--name-only", "-r", "-z", base, commit.sha
        )
        return [p for p in listed.split("\0") if p]

    def blob_id(self, commit: str, path: str) -> str | None:
        done = self.run("rev-parse", "--verify", "--quiet", f"{commit}:{path}", check=False)
        return done.stdout.strip() or None

    def first_parent_after(self, sha: str) -> list[Commit] | None:
        """The commits of main's first-parent history after `sha`, newest first; None when
        `sha` is not on it (deepening a shallow clone as far as it must)."""
        depth = 50
        while True:
            log = self.first_parent_log()
            for i, c in enumerate(log):
                if c.sha == sha:
                    return log[:i]
            if not self._deepen(depth):
                return None
            depth *= 2

    def top(self) -> Path:
        return Path(self.out("rev-parse", "--show-toplevel"))

    def restore(self, commit: Commit, branch: str) -> None:
        """Put a rescued state commit on top of HEAD (raises GitError when it conflicts)."""
        self._identity()
        picked = self.run("cherry-pick", commit.sha, check=False)
        if picked.returncode != 0:
            self.run("cherry-pick", "--abort", check=False)
            raise GitError(
                f"the state kept on {branch} does not apply to {self.branch} (the state file "
                f"changed since): {restore_hint(branch, self.remote, self.branch)}"
            )

    def delete_remote_branch(self, branch: str, expect: str | None = None) -> bool:
        """Delete a branch on the remote; with `expect`, only while it still points there."""
        lease = [f"--force-with-lease=refs/heads/{branch}:{expect}"] if expect else []
        done = self.run(
            "push", "--quiet", *lease, self.remote, f":refs/heads/{branch}", check=False
        )
        return done.returncode == 0


def restore_hint(branch: str, remote: str = "origin", main: str = "main") -> str:
    return (
        f"restore it by hand: `git fetch {remote} {branch} && git cherry-pick FETCH_HEAD` (keep "
        f"both sides' leads if it conflicts), `git push {remote} HEAD:{main}`, then "
        f"`git push {remote} --delete {branch}`"
    )
