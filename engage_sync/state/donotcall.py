"""The do-not-call part of the state (issue #30): the phones stopped, by keyed hash only.

`key` is the key the hashes were made with (donotcall/keys.py: the salt itself, or a short id of
the secret); `done` maps each phone's hash to when it was asked for, where that came from and
when a search confirmed that no record with it was dialable; `acts` keeps the cancels already
sent for a phone not confirmed yet (a run cut short), so their lead ids reach the evidence
ledger. A declared lead whose phone hashes to a key of `done` is never loaded: the blocking
outlives the file that named the phone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DoNotCallState:
    key: dict[str, Any] | None = None
    done: dict[str, list[Any]] = field(default_factory=dict)  # hash -> [requested, from, at]
    acts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # hash -> acts sent

    def __bool__(self) -> bool:
        return bool(self.key or self.done or self.acts)

    # the transitions: the live journal and its replay both call them

    def keyed(self, key: Mapping[str, Any]) -> None:
        """The key the hashes are made with, recorded with the first of them."""
        if self.key is None:
            self.key = dict(key)

    def stopped(
        self,
        done: Mapping[str, list[Any]],
        account: str | None = None,
        here: Iterable[str] | None = None,
    ) -> None:
        """Phones confirmed not dialable anywhere the scope says in this account (`here`; None:
        those of `done`); `done`, those confirmed in every account the run was to stop them
        in: blocked for good. The cancels that went to this account's ledger line are dropped
        (acts_for says which); another account's wait for its own."""
        for digest in done.keys() if here is None else here:
            whole = digest in done
            left = [a for a in self.acts.pop(digest, []) if not _goes(a, account, whole)]
            if left:
                self.acts[digest] = left
        for digest, fields in done.items():
            if digest not in self.done:
                self.done[digest] = list(fields)

    def acted(self, acts: Mapping[str, Mapping[str, Any]]) -> None:
        for digest, act in acts.items():
            self.acts.setdefault(digest, []).append(dict(act))

    @property
    def hashes(self) -> frozenset[str]:
        return frozenset(self.done)


def _goes(act: Mapping[str, Any], account: str | None, whole: bool) -> bool:
    """Whether a cancel sent goes to this account's ledger line: its own (one sent before acts
    named their account goes to the first line), and, on the line that completes the phone,
    any left (no other line will take them)."""
    return whole or account is None or act.get("account") in (None, account)


def acts_for(
    dnc: DoNotCallState, digest: str, account: str | None, whole: bool
) -> list[dict[str, Any]]:
    """The cancels sent for a phone that go to this account's ledger line (`stopped` drops
    the same ones)."""
    return [dict(a) for a in dnc.acts.get(digest, []) if _goes(a, account, whole)]


def read(raw: object) -> DoNotCallState:
    """The state file's `do_not_call` (absent: an empty one); ValueError when malformed."""
    if raw is None:
        return DoNotCallState()
    if not isinstance(raw, dict):
        raise ValueError("do_not_call: not an object")
    key, done, acts = raw.get("key"), raw.get("done", {}), raw.get("acts", {})
    if key is not None and not isinstance(key, dict):
        raise ValueError("do_not_call.key: not an object")
    if not isinstance(done, dict) or not all(isinstance(v, list) for v in done.values()):
        raise ValueError("do_not_call.done: malformed")
    if not isinstance(acts, dict):
        raise ValueError("do_not_call.acts: malformed")
    return DoNotCallState(key, {str(k): list(v) for k, v in done.items()}, dict(acts))


def render(dnc: DoNotCallState) -> list[str]:
    """The lines of the state file's `"do_not_call": {...},` (one phone a line, sorted)."""
    dumps = json.dumps
    lines = ['  "do_not_call": {', f'    "key": {dumps(dnc.key, sort_keys=True)},']
    if dnc.acts:
        lines.append(f'    "acts": {dumps(dnc.acts, sort_keys=True)},')
    if dnc.done:
        done = ",\n".join(f"      {dumps(k)}:{dumps(dnc.done[k])}" for k in sorted(dnc.done))
        lines.append(f'    "done": {{\n{done}\n    }}')
    else:
        lines.append('    "done": {}')
    lines.append("  },")
    return lines
