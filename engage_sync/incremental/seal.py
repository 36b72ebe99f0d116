"""Incremental plans (issue #13): a campaign whose files are byte-identical to what the last apply
recorded, read with the same settings by the same engage-sync, is not parsed again: the state
holds its leads by construction.

Apply records a `Seal` in the campaign's state when the plan it carried out was clean (no problem
or warning at the campaign's files, no orphan, no lead in doubt) and all of it was done (every
lead recorded, every removal confirmed), so the state then holds exactly the declared leads. Any
later change to the campaign's leads in the state drops the seal (an apply's journal, `state rm`,
`import`, a journal replayed). A plan trusts a seal only when every input's sha256 is as recorded,
the settings key too, and the state's lead count is the sealed one with none in doubt.

Whole campaigns, not single files: the checks across a campaign's files (duplicate externIds and
phones, tombstones that clash with a lead) need every file of the campaign, so a campaign with one
changed file is read whole. A file that is not sealed but turns out to declare a sealed campaign
makes that campaign read whole too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..model import (
    CampaignRef,
    Desired,
    LeadSetPlan,
    LoadOptions,
    Problem,
    PruneAction,
    Severity,
)
from ..state import CampaignState

# 2: the warnings a read finds (shared phones) travel with the seal; 3: a leadsFile's chunks;
# 4: how each chunk writes its phones (a chunk `plain` in 3 may not be in 4)
SEAL_VERSION = 4
_CHUNK = 1 << 20


def file_digest(path: Path) -> str | None:
    """sha256 of a file's bytes, streamed; None when it cannot be read (the parse says why)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def settings_key(
    defaults: Mapping[str, Any], prune: bool, prune_action: str, target: str | None = None
) -> str:
    """What besides the bytes changes how files are read: engage-sync.yaml's option defaults and
    prune settings, engage-sync itself (its rules and hashes), and where the leads go (the
    default account at the Engage service: a plan for elsewhere reads and creates every lead)."""
    text = json.dumps(
        [SEAL_VERSION, __version__, dict(defaults), prune, prune_action, target],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A chunk of a sealed leadsFile (leadsets/chunks.py) and its leads: how many, and the XOR
    and the sum (mod 2**64) of their content hashes read as 64-bit numbers (the state holds
    each hash, so a plan can tell which leads a vanished chunk held); `plain` when each of its
    leads' phones can be searched for in its bytes (no JSON escape, each phone written as
    digits or in one of `shapes`: leadsets/shapes.py)."""

    start: int
    end: int
    line: int
    lines: int
    sha: str
    leads: int
    xor: int
    total: int
    plain: bool
    shapes: tuple[str, ...] = ()

    def to_json(self) -> list[object]:
        fields = [self.start, self.end, self.line, self.lines, self.sha, self.leads, self.xor]
        return [*fields, self.total, int(self.plain), *([list(self.shapes)] if self.shapes else [])]

    @classmethod
    def from_json(cls, raw: list[Any]) -> Chunk:
        start, end, line, lines, sha, leads, xor, total, plain, *more = raw
        shapes = tuple(str(s) for s in more[0]) if more else ()
        return cls(
            int(start), int(end), int(line), int(lines), str(sha), int(leads), int(xor),
            int(total), bool(plain), shapes,
        )  # fmt: skip


Group = tuple[tuple[str, int], ...]  # leads that share a phone: (externId, line), first first


@dataclass(frozen=True)
class Seal:
    """What a plan needs of a campaign it does not read, and how to tell it is still true."""

    key: str
    inputs: tuple[tuple[str, str], ...]  # (path as shown, sha256): lead-set files, leadsFiles
    leads: int
    files: tuple[str, ...]  # the lead-set files, in the order a plan lists them
    name: str | None
    account: str | None
    options: LoadOptions
    prune: bool
    prune_action: PruneAction
    # the warnings a full read finds at the campaign's files (file, line, field, message), and
    # how many leads share a phone: a plan that skips the campaign shows them all the same
    warnings: tuple[tuple[str, int, str, str], ...] = ()
    shared_phones: int = 0
    # a campaign whose leads all come from one leadsFile: its chunks and the groups of its
    # leads that share a phone, so one changed row re-reads a chunk (partial.py)
    leads_file: str | None = None
    chunks: tuple[Chunk, ...] = ()
    groups: tuple[Group, ...] = ()
    # the do-not-call set it was checked against (donotcall/registry.py: its fingerprint, ""
    # for none): another set may block some of its leads, so the campaign is read again
    dnc: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SEAL_VERSION,
            "key": self.key,
            "inputs": [list(i) for i in self.inputs],
            "leads": self.leads,
            "files": list(self.files),
            "name": self.name,
            "account": self.account,
            "options": [[k, list(v) if isinstance(v, tuple) else v] for k, v in self.options.items],
            "prune": self.prune,
            "pruneAction": self.prune_action.value,
            "warnings": [list(w) for w in self.warnings],
            "sharedPhones": self.shared_phones,
            "leadsFile": self.leads_file,
            "chunks": [c.to_json() for c in self.chunks],
            "groups": [[list(m) for m in g] for g in self.groups],
            **({"doNotCall": self.dnc} if self.dnc else {}),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Seal | None:
        """None for a seal this engage-sync cannot use (another version, or mangled)."""
        try:
            if raw["version"] != SEAL_VERSION:
                return None
            return cls(
                key=str(raw["key"]),
                inputs=tuple((str(p), str(d)) for p, d in raw["inputs"]),
                leads=int(raw["leads"]),
                files=tuple(str(f) for f in raw["files"]),
                name=None if raw["name"] is None else str(raw["name"]),
                account=None if raw["account"] is None else str(raw["account"]),
                options=LoadOptions(
                    tuple(
                        (str(k), tuple(v) if isinstance(v, list) else v) for k, v in raw["options"]
                    )
                ),
                prune=bool(raw["prune"]),
                prune_action=PruneAction(raw["pruneAction"]),
                warnings=tuple(
                    (str(f), int(n), str(field), str(m)) for f, n, field, m in raw["warnings"]
                ),
                shared_phones=int(raw["sharedPhones"]),
                leads_file=None if raw["leadsFile"] is None else str(raw["leadsFile"]),
                chunks=tuple(Chunk.from_json(c) for c in raw["chunks"]),
                groups=tuple(tuple((str(e), int(n)) for e, n in g) for g in raw["groups"]),
                dnc=str(raw.get("doNotCall", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def desired(self, campaign: int) -> Desired:
        """The campaign as a plan sees it, without reading a lead: every one is unchanged."""
        return Desired(
            campaign=CampaignRef(campaign, self.name),
            account=self.account,
            files=self.files,
            options=self.options,
            leads=(),
            prune=self.prune,
            prune_action=self.prune_action,
            unread=True,
        )


def holds(
    camp: CampaignState | None,
    key: str,
    digests: dict[str, str | None],
    dnc: str | None = None,
    but: str | None = None,
) -> Seal | None:
    """The campaign's seal when it still holds: the one rule. The state agrees with it (the
    sealed count of leads, none in doubt), it was made by this engage-sync with these settings
    (`key`) and, given `dnc`, against this do-not-call set, and every input's bytes are as
    sealed, but for `but` (a leadsFile a partial read compares chunk by chunk). `digests` has
    every discovered lead-set file; other inputs are hashed here (once) and added to it."""
    if camp is None or camp.seal is None or camp.in_doubt or (camp.acts and camp.reloading()):
        return None
    seal = Seal.from_json(camp.seal)
    if seal is None or seal.key != key or seal.leads != camp.count():
        return None
    if dnc is not None and seal.dnc != dnc:
        return None
    for shown, recorded in seal.inputs:
        if shown == but:
            continue
        if shown not in digests:
            digests[shown] = file_digest(Path(shown))
        if digests[shown] != recorded:
            return None
    return seal


def seal_for(
    ls: LeadSetPlan,
    inputs: Iterable[tuple[str, str | None]],
    key: str,
    problems: Iterable[Problem],
    shared_phones: int = 0,
    chunked: tuple[str, tuple[Chunk, ...], tuple[Group, ...]] | None = None,
    dnc: str = "",
) -> Seal | None:
    """The seal a campaign gets if apply carries out all of this plan, or None when the state
    will not equal the files afterwards (an error at its files, an orphan, a lead in doubt,
    drift). Warnings do not prevent it: they are kept, to be shown as a full read shows them."""
    pairs = tuple(inputs)
    if ls.orphans or ls.in_doubt or ls.drift or ls.blocked or any(d is None for _, d in pairs):
        return None  # a blocked lead: the state will not hold every declared lead
    mine = {p for p, _ in pairs}
    at_files = [p for p in problems if p.file in mine]
    if any(p.severity is Severity.ERROR for p in at_files):
        return None
    return Seal(
        key=key,
        inputs=tuple((p, d) for p, d in pairs if d is not None),
        leads=ls.declared,
        files=ls.files,
        name=ls.campaign.name,
        account=ls.account,
        options=ls.options,
        prune=ls.prune,
        prune_action=ls.prune_action,
        warnings=tuple(sorted((p.file, p.line, p.field, p.message) for p in at_files)),
        shared_phones=shared_phones,
        leads_file=chunked[0] if chunked else None,
        chunks=chunked[1] if chunked else (),
        groups=chunked[2] if chunked else (),
        dnc=dnc,
    )
