"""Read lead sets (YAML/JSON files, with optional CSV or JSON Lines `leadsFile`) and report every
problem with file:line. Leads are streamed: a million-row leadsFile is never held in memory."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from yaml.nodes import SequenceNode

from ..display import UNSAFE, printable
from ..donotcall.phones import e164
from ..errors import InputError
from ..model import (
    CampaignRef,
    Desired,
    Lead,
    LeadSetFile,
    LoadOptions,
    PruneAction,
    Tombstone,
)
from ..optouts.calendar import latest_request_day
from . import boundary, dnclists, documents, readers
from .chunks import Span
from .fields import US_COUNTRIES, LeadContext, suggest
from .problems import DuplicateCheck, ExactCheck, NoCheck, Replay, Sink
from .schema import document_validator

SUFFIXES = (".yaml", ".yml", ".json")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # the schema reports other shapes
REQUIRED_OPTIONS = ("dialPriority", "duplicateHandling", "timeZoneOption")
DEFAULT_OPTIONS: Mapping[str, object] = {"listState": "ACTIVE"}
_TEXT_TOP = {("account",), ("leadsFile",), ("campaign", "name"), ("$schema",)}
_TEXT_OPTIONS = {
    "description",
    "numberOriginCountry",
    "dialPriority",
    "duplicateHandling",
    "timeZoneOption",
    "listState",
}


def shown_path(path: Path) -> str:
    """A path as users see it: relative to the working directory when below it."""
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


LEADS_SUFFIXES = (".csv", ".jsonl", ".ndjson")  # leadsFiles: leads without campaign or options


def discover(paths: Sequence[str], root: Path | None = None) -> list[Path]:
    """Lead-set files under the given files and folders, in a stable order.

    Each must be a regular file that resolves (symbolic links followed) inside `root` when the
    path given lies in it as written, else inside the folder given (or the file's own folder):
    boundary.py. One that does not is an InputError, never read."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        limit = boundary.limit_for(p, root)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if (
                    f.suffix.lower() in SUFFIXES
                    and f.is_file()
                    and not any(part.startswith(".") for part in f.relative_to(p).parts)
                    and f.name != "engage-sync.yaml"
                ):
                    boundary.check_file(f, shown_path(f), limit)
                    found.append(f)
        elif p.is_file() and p.suffix.lower() in LEADS_SUFFIXES:
            raise InputError(
                f"{printable(raw)}: a {p.suffix.lstrip('.').upper()} file holds leads only; it "
                "is read through a lead set that names it (`leadsFile: "
                f"{printable(p.name)}` beside `campaign:` and `options:`): validate that lead "
                "set, or the folder"
            )
        elif p.exists() or p.is_symlink():
            boundary.check_file(p, raw, limit)
            found.append(p)
        else:
            raise InputError(f"{printable(raw)}: no such file or folder")
    unique = list(dict.fromkeys(found))
    if not unique:
        shown = ", ".join(map(printable, paths))
        raise InputError(f"no lead-set files (*.yaml, *.yml, *.json) under {shown}")
    return unique


def _wants_text(path: tuple[object, ...]) -> bool:
    if path in _TEXT_TOP:
        return True
    if len(path) >= 2 and path[0] == "options":
        return path[1] in _TEXT_OPTIONS or path[1] == "dncTags"
    return (
        len(path) == 3
        and path[0] == "removed"
        and path[2] in ("externId", "reason", "requested", "leadPhone", "leadPhoneE164")
    )


@dataclass
class Source:
    """One parsed lead-set file, ready to stream its leads."""

    meta: LeadSetFile
    path: Path
    inline: bool  # the file has a `leads:` list, streamed from its events (readers.inline_leads)
    leads_path: Path | None
    ctx: LeadContext
    # only these chunks of the leadsFile are read (incremental/partial.py), else all of it
    ranges: tuple[Span, ...] | None = None


def load_source(
    path: Path,
    defaults: Mapping[str, Any],
    sink: Sink,
    prune: bool = False,
    prune_action: str = "cancel",
    root: Path | None = None,
) -> Source | None:
    """Parse one lead-set file. Unreadable files raise InputError; other problems go to the sink.

    `prune` and `prune_action` are the defaults from engage-sync.yaml for a file that does not say.
    Its leadsFile must resolve inside `root` when the file lies in it, else beside the file
    (boundary.limit_for); a leadsFile the schema refuses is not opened.
    """
    shown = shown_path(path)
    boundary.check_file(path, shown, None)  # a FIFO given on the command line must not block
    top = documents.compose(path, shown)
    if dnclists.is_list(top):  # not a lead set: phones never to call (read apart, by plans)
        found = dnclists.load_list(path, shown, top, sink, boundary.limit_for(path, root))
        if found is not None:
            sink.do_not_call.append(found)
        return None
    conv = documents.Converter(shown, _wants_text)
    doc: dict[str, Any] = {}
    inline = False
    for key_node, value_node in top.value:
        key = documents.mapping_key(key_node, shown)
        if key in doc:
            raise InputError(f"{shown}:{documents.line_of(key_node)}: {key}: duplicate key")
        conv.lines[(key,)] = documents.line_of(key_node)
        if key == "leads" and isinstance(value_node, SequenceNode):
            inline = True
            doc[key] = []
        else:
            doc[key] = conv.convert(value_node, (key,))
            conv.lines[(key,)] = documents.line_of(key_node)
    refused: set[object] = set()  # top-level keys the schema refused
    for error in _schema_errors(doc):
        where = tuple(error.absolute_path)
        refused.update(where[:1])
        if error.validator == "additionalProperties":
            extras = [e for e in error.instance if e not in error.schema.get("properties", {})]
            where = (*where, extras[0]) if extras else where
        name = ".".join(str(p) for p in where) or "(top level)"
        while where and where not in conv.lines:
            where = where[:-1]
        sink.add(shown, conv.lines.get(where, 1), name, _schema_message(error))
    options = {**DEFAULT_OPTIONS, **defaults, **_mapping(doc.get("options"))}
    for name in REQUIRED_OPTIONS:
        if name not in options:
            sink.add(
                shown,
                conv.lines.get(("options",), 1),
                f"options.{name}",
                "required (set it here or in engage-sync.yaml options)",
            )
    options.setdefault("description", f"engage-sync {path.stem}")
    # Go on with the leads even after problems above, so one run reports every problem; the
    # sink's errors keep the result from being planned or applied.
    campaign = _campaign(doc.get("campaign"))
    if campaign is None:
        return None
    leads_path: Path | None = None
    named = doc.get("leadsFile")
    if isinstance(named, str) and named and "leadsFile" not in refused:  # else not opened
        leads_path = path.parent / named
        try:
            boundary.check_file(leads_path, shown_path(leads_path), boundary.limit_for(path, root))
        except InputError as e:
            sink.add(shown, conv.lines[("leadsFile",)], "leadsFile", str(e))
            return None
    country = str(options.get("numberOriginCountry", "")).upper()
    meta = LeadSetFile(
        path=shown,
        campaign=campaign,
        account=doc["account"] if isinstance(doc.get("account"), str) else None,
        options=LoadOptions.of(options),
        leads_file=shown_path(leads_path) if leads_path else None,
        tombstones=_tombstones(doc.get("removed"), shown, conv.lines, sink),
        prune=doc["prune"] if isinstance(doc.get("prune"), bool) else prune,
        prune_action=PruneAction(
            doc["pruneAction"] if doc.get("pruneAction") in ("cancel", "delete") else prune_action
        ),
        key_lines=tuple(
            (str(k[0]), n) for k, n in conv.lines.items() if len(k) == 1 and isinstance(k[0], str)
        ),
    )
    ctx = LeadContext(options.get("timeZoneOption"), us_phones=country in US_COUNTRIES)
    return Source(meta, path, inline, leads_path, ctx)


def _tombstones(
    raw: object, shown: str, lines: Mapping[tuple[object, ...], int], sink: Sink
) -> tuple[Tombstone, ...]:
    """The well-formed entries of `removed:` (the schema reports the others), once each, with
    the date the person asked when one is given (a date that is no day, or a day that has not
    come yet, is an error here)."""
    if not isinstance(raw, list):
        return ()
    found: dict[str, Tombstone] = {}
    latest = latest_request_day()
    for i, item in enumerate(raw):
        eid = item.get("externId") if isinstance(item, dict) else None
        if not (isinstance(eid, str) and eid) or eid in found:
            continue
        text = item.get("requested")
        day = None
        if isinstance(text, str) and _ISO_DATE.fullmatch(text):
            where = lines.get(("removed", i, "requested"), lines.get(("removed", i), 1))
            try:
                day = date.fromisoformat(text)
            except ValueError:
                sink.add(
                    shown, where, f"removed.{i}.requested", f"{text!r} is not a date (YYYY-MM-DD)"
                )
            else:
                if day > latest:
                    sink.add(shown, where, f"removed.{i}.requested", f"{text} has not come yet")
                    day = None
        line = lines.get(("removed", i), 1)
        opt_out = item.get("optOut") is not False
        found[eid] = Tombstone(eid, shown, line, day, _phones(item, i, shown, line, sink), opt_out)
    return tuple(found.values())


def _phones(item: dict[str, Any], i: int, shown: str, line: int, sink: Sink) -> tuple[str, ...]:
    """A tombstone's own phones (the lead's `leadPhone`/`leadPhoneE164`, kept when it was moved
    from `leads:` to `removed:`), in E.164: they join the do-not-call set."""
    found: list[str] = []
    for name in ("leadPhone", "leadPhoneE164"):
        text = item.get(name)
        if not isinstance(text, str):
            continue
        phones = [e164(part, _REGION) for part in text.split("|")]
        if None in phones:
            sink.add(shown, line, f"removed.{i}.{name}", "is not a phone number")
        found.extend(p for p in phones if p is not None)
    return tuple(dict.fromkeys(found))


# a tombstone's 10-digit leadPhone is a North American number, as the loader reads it; one
# with a country code says so itself
_REGION = "US"


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _campaign(raw: object) -> CampaignRef | None:
    """The campaign reference, or None when it is unusable (the schema error says why)."""
    if isinstance(raw, dict):
        name = raw.get("name")
        return _campaign_ref(raw.get("id"), name if isinstance(name, str) else None)
    return _campaign_ref(raw, None)


def _campaign_ref(cid: object, name: str | None) -> CampaignRef | None:
    if isinstance(cid, int) and not isinstance(cid, bool) and cid > 0:
        return CampaignRef(cid, name)
    return None


def _schema_errors(doc: dict[str, Any]) -> Iterator[Any]:
    """The schema's errors; of `campaign: {id, name}` the problems inside it (`oneOf` would say
    only that it is neither an id nor such a mapping)."""
    for error in document_validator().iter_errors(doc):
        inner = [e for e in error.context or () if e.relative_path]
        if error.validator == "oneOf" and isinstance(error.instance, dict) and inner:
            yield from inner
        else:
            yield error


def _schema_message(error: Any) -> str:
    if (
        error.validator == "pattern"
        and isinstance(error.instance, str)
        and UNSAFE.search(error.instance)
    ):
        return "holds a control character (a line break, tab, escape or bidi control)"
    if error.validator == "additionalProperties":
        extras = [e for e in error.instance if e not in error.schema.get("properties", {})]
        hints = "".join(suggest(e) for e in extras[:1])
        return f"unknown field(s): {', '.join(map(str, extras))}{hints}"
    if error.validator == "oneOf" and error.absolute_path and error.absolute_path[-1] == "campaign":
        return "must be a campaign id (a positive whole number) or {id: ..., name: ...}"
    if error.validator == "pattern" and list(error.absolute_path)[-1:] == ["requested"]:
        return f"{error.instance!r} is not a date (YYYY-MM-DD, for example 2026-11-20)"
    if error.validator == "anyOf" and not error.absolute_path:
        return "a lead set needs `leads` or `leadsFile`"
    return str(error.message)


def iter_leads(source: Source, sink: Sink) -> Iterator[Lead]:
    """Every valid lead of the file: inline leads, then the leadsFile. Problems go to the sink."""
    campaign = source.meta.campaign.id
    handling = source.meta.options.get("duplicateHandling")
    if source.inline:
        track = sink.tracker(campaign, handling, source.meta.path)
        slow = readers.slow_path(source.ctx, sink, track)
        yield from readers.inline_leads(
            source.path, source.meta.path, sink, source.ctx, track, slow
        )
        sink.warn_personal(source.meta.path)
    if source.leads_path is not None:
        shown = shown_path(source.leads_path)
        track = sink.tracker(campaign, handling, shown)
        slow = readers.slow_path(source.ctx, sink, track)
        csv_file = source.leads_path.suffix.lower() == ".csv"
        read = readers.csv_leads if csv_file else readers.jsonl_leads
        yield from read(source.leads_path, shown, sink, source.ctx, track, slow, source.ranges)
        sink.warn_personal(shown)


def load_sources(
    files: Sequence[Path],
    defaults: Mapping[str, Any],
    sink: Sink,
    prune: bool = False,
    prune_action: str = "cancel",
    root: Path | None = None,
) -> list[Source]:
    """Parse every file; a file that cannot be read at all is one problem, the others go on."""
    sources = []
    for path in files:
        try:
            source = load_source(path, defaults, sink, prune, prune_action, root)
        except documents.TabIndented as e:  # each line a tab indents (grouped when shown)
            for line in e.lines:
                sink.add(e.shown, line, "", documents.TAB_INDENTS)
            continue
        except InputError as e:
            sink.add_fatal(str(e))
            continue
        if source is not None:
            sources.append(source)
    return sources


def _guarded(source: Source, sink: Sink) -> Iterator[Lead]:
    try:
        yield from iter_leads(source, sink)
    except InputError as e:
        sink.add_fatal(str(e))


def campaign_leads(campaign: int, sources: Sequence[Source], sink: Sink) -> Iterator[Lead]:
    """The leads of every file of one campaign; then the duplicates found, with their places,
    and any externId that is both declared and removed (an error at both places).

    A duplicate is streamed like any lead (it is only known once every lead has passed): the
    errors it causes keep the plan from being shown or applied."""
    tombstones = [t for s in sources for t in s.meta.tombstones]
    check = sink.check
    assert isinstance(check, DuplicateCheck), "a campaign is read whole on the first pass"
    check.watch(campaign, (t.extern_id for t in tombstones))
    for source in sources:
        yield from _guarded(source, sink)
    repeated = check.repeated(campaign)
    if repeated is not None:
        _replay(campaign, sources, repeated).report(campaign, sink.collected, check)
    declared = check.watched(campaign)
    clashes = [t for t in tombstones if t.extern_id in declared]
    if clashes:
        ids = {hash(t.extern_id) for t in clashes}
        where = _replay(campaign, sources, (ids, set())).first
        for t in clashes:
            place = where.get(t.extern_id, "a lead-set file")
            sink.add(
                t.file,
                t.line,
                "removed",
                f"'{t.extern_id}' is removed here but declared at {place}: keep one of the two",
            )
            file, _, line = place.rpartition(":")
            if file and line.isdigit():
                sink.add(
                    file,
                    int(line),
                    "externId",
                    f"'{t.extern_id}' is declared here but removed at {t.file}:{t.line}",
                )


def _replay(campaign: int, sources: Sequence[Source], hashes: Replay) -> ExactCheck:
    """Read a campaign's files again, checking the leads with these hashes exactly."""
    exact = ExactCheck(hashes)
    finder = Sink(exact)
    for source in sources:
        for _lead in _guarded(source, finder):
            pass
    return exact


def stream(source: Source) -> Iterator[Lead]:
    """The leads of a source already validated, for a second look (apply, --show-pii): no
    problem is collected and no duplicate checked (the plan did both)."""
    return iter_leads(source, Sink(NoCheck()))


class LeadStream:
    """A campaign's leads, read and checked as they stream: once. Reading them again is a bug
    (the problems would be found twice), so it raises rather than yield nothing."""

    def __init__(self, campaign: int, sources: Sequence[Source], sink: Sink) -> None:
        self.campaign, self.sources, self.sink = campaign, sources, sink
        self._read = False

    def __iter__(self) -> Iterator[Lead]:
        if self._read:
            raise RuntimeError(f"the leads of campaign {self.campaign} were read already")
        self._read = True
        return campaign_leads(self.campaign, self.sources, self.sink)


def by_campaign(sources: Sequence[Source]) -> dict[int, list[Source]]:
    """The files of each campaign, in the order given: "the sources of campaign N", here only."""
    found: dict[int, list[Source]] = {}
    for s in sources:
        found.setdefault(s.meta.campaign.id, []).append(s)
    return found


def group(sources: Sequence[Source], sink: Sink) -> list[Desired]:
    """One Desired per campaign; its leads stream from every file that targets it."""
    by_campaign_ = by_campaign(sources)
    result = []
    for cid in sorted(by_campaign_):
        group_sources = by_campaign_[cid]
        first = group_sources[0].meta
        for other in group_sources[1:]:
            _agree(cid, first, other.meta, sink)
        name = next((s.meta.campaign.name for s in group_sources if s.meta.campaign.name), None)
        result.append(
            Desired(
                campaign=CampaignRef(cid, name),
                account=first.account,
                files=tuple(s.meta.path for s in group_sources),
                options=first.options,
                leads=LeadStream(cid, group_sources, sink),
                tombstones=tuple(t for s in group_sources for t in s.meta.tombstones),
                prune=first.prune,
                prune_action=first.prune_action,
            )
        )
    return result


LIST_NAME = "description"  # the option that names the lead list a load makes


def _agree(cid: int, first: LeadSetFile, other: LeadSetFile, sink: Sink) -> None:
    """Files of one campaign declare one campaign: the same account, options and prune, each
    disagreement an error at both places (a campaign has one set of options in Engage, and
    the rails, the warnings and the state would otherwise judge some leads by another file's)."""

    def both(key: str, name: str, detail: Callable[[LeadSetFile], str]) -> None:
        for here, there in ((other, first), (first, other)):
            sink.add(
                here.path,
                here.line(key),
                name,
                f"campaign {cid} is also declared in {there.path}:{there.line(key)} with "
                f"{detail(there)}; files of one campaign must agree",
            )

    if other.account != first.account:
        both("account", "account", lambda m: f"account {m.account!r}")
    mine, theirs = other.options.body(), first.options.body()
    # the list name may differ: each file's leads go to a list of their own
    differ = sorted(
        k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k) and k != LIST_NAME
    )
    if differ:

        def options(m: LeadSetFile) -> str:
            body = m.options.body()
            return "options " + ", ".join(
                f"{k}: {json.dumps(body.get(k)) if k in body else '(unset)'}" for k in differ[:5]
            )

        both("options", "options", options)
    if other.campaign.name and first.campaign.name and other.campaign.name != first.campaign.name:
        sink.add(
            other.path,
            other.line("campaign"),
            "campaign.name",
            f"campaign {cid} is named {first.campaign.name!r} in {first.path}",
        )
    if (other.prune, other.prune_action) != (first.prune, first.prune_action):
        both("prune", "prune", lambda m: f"prune {_prune_text(m)}")


def _prune_text(meta: LeadSetFile) -> str:
    return f"{str(meta.prune).lower()} ({meta.prune_action.value})" if meta.prune else "false"


def leads_file_source(path: Path, campaign: int) -> Source:
    """A bare CSV or JSON Lines file as a lead set of one campaign (for `engage-sync import`):
    the user named it, so it may be anywhere, but it must be a regular file."""
    boundary.check_file(path, shown_path(path), None)
    if path.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        raise InputError(
            f"{printable(shown_path(path))}: expected a lead set (.yaml/.json) or leads "
            "(.csv/.jsonl)"
        )
    meta = LeadSetFile(
        shown_path(path), CampaignRef(campaign), None, LoadOptions(), shown_path(path)
    )
    return Source(meta, path, False, path, LeadContext(None))
