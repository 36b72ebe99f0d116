"""Read lead sets (YAML/JSON files, with optional CSV or JSON Lines `leadsFile`) and report every
problem with file:line. Leads are streamed: a million-row leadsFile is never held in memory."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import documents
from .errors import InputError
from .fields import (
    INTEGER_FIELDS,
    KNOWN_FIELDS,
    US_COUNTRIES,
    LeadContext,
    check_lead,
    suggest,
)
from .model import EXTENDED, CampaignRef, Lead, LeadSetFile, Problem, Severity
from .planner import Desired
from .schema import document_validator

SUFFIXES = (".yaml", ".yml", ".json")
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
DUPLICATE_EFFECT = {
    "REMOVE_ALL_EXISTING": "Engage keeps only the last lead loaded with it",
    "REMOVE_FROM_LIST": "Engage will not insert the later lead",
    "RETAIN_ALL": "Engage keeps both as separate dial records",
}


def shown_path(path: Path) -> str:
    """A path as users see it: relative to the working directory when below it."""
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def discover(paths: Sequence[str]) -> list[Path]:
    """Lead-set files under the given files and folders, in a stable order."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.suffix.lower() in SUFFIXES
                    and f.is_file()
                    and not any(part.startswith(".") for part in f.relative_to(p).parts)
                    and f.name != "engage-sync.yaml"
                )
            )
        elif p.is_file():
            found.append(p)
        else:
            raise InputError(f"{raw}: no such file or folder")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise InputError(f"no lead-set files (*.yaml, *.yml, *.json) under {', '.join(paths)}")
    return unique


def _wants_text(path: tuple[object, ...]) -> bool:
    if path in _TEXT_TOP:
        return True
    if len(path) >= 2 and path[0] == "options":
        return path[1] in _TEXT_OPTIONS or path[1] == "dncTags"
    return False


@dataclass
class Source:
    """One parsed lead-set file, ready to stream its leads."""

    meta: LeadSetFile
    path: Path
    leads_node: SequenceNode | None
    leads_path: Path | None
    ctx: LeadContext


@dataclass
class Sink:
    """Collects problems while leads stream past; checks duplicates per campaign."""

    problems: list[Problem] = field(default_factory=list)
    _files: list[str] = field(default_factory=list)
    _ids: dict[int, dict[str, int]] = field(default_factory=dict)
    _phones: dict[int, dict[int, int]] = field(default_factory=dict)
    shared_phones: dict[int, int] = field(default_factory=dict)  # campaign -> leads

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    def add(self, file: str, line: int, name: str, message: str, warn: bool = False) -> None:
        severity = Severity.WARNING if warn else Severity.ERROR
        self.problems.append(Problem(file, line, name, message, severity))

    def add_fatal(self, message: str) -> None:
        """A whole-file error whose message already says where (InputError)."""
        self.problems.append(Problem(message, 0, "", ""))

    def _where(self, packed: int) -> str:
        return f"{self._files[packed >> 32]}:{packed & 0xFFFFFFFF}"

    def _pack(self, file: str, line: int) -> int:
        # (file index, line) packed in one int: a million of them stay small
        if not self._files or self._files[-1] != file:
            if file not in self._files:
                self._files.append(file)
            return (self._files.index(file) << 32) | line
        return ((len(self._files) - 1) << 32) | line

    def see(
        self,
        campaign: int,
        extern_id: str,
        phone: object,
        file: str,
        line: int,
        duplicate_handling: object,
    ) -> bool:
        """Record a lead; False (with an error) if its externId was declared before."""
        ids = self._ids.setdefault(campaign, {})
        packed = self._pack(file, line)
        first = ids.setdefault(extern_id, packed)
        if first != packed:
            self.add(
                file,
                line,
                "externId",
                f"duplicate externId '{extern_id}' in campaign {campaign}: "
                f"first declared at {self._where(first)}",
            )
            return False
        if isinstance(phone, str):
            phones = self._phones.setdefault(campaign, {})
            # keyed by hash, not the number: memory for a million leads, and no PII kept
            earlier = phones.setdefault(hash(phone), packed)
            if earlier != packed:
                self.shared_phones[campaign] = self.shared_phones.get(campaign, 0) + 1
                effect = DUPLICATE_EFFECT.get(str(duplicate_handling), "")
                self.add(
                    file,
                    line,
                    "leadPhone",
                    f"same phone as the lead at {self._where(earlier)}; with "
                    f"duplicateHandling {duplicate_handling} {effect}",
                    warn=True,
                )
        return True

    def declared(self, campaign: int) -> set[str]:
        return set(self._ids.get(campaign, ()))


def load_source(path: Path, defaults: Mapping[str, Any], sink: Sink) -> Source | None:
    """Parse one lead-set file. Unreadable files raise InputError; other problems go to the sink."""
    shown = shown_path(path)
    root = documents.compose(path, shown)
    conv = documents.Converter(shown, _wants_text)
    doc: dict[str, Any] = {}
    leads_node: SequenceNode | None = None
    for key_node, value_node in root.value:
        key = documents.mapping_key(key_node, shown)
        if key in doc:
            raise InputError(f"{shown}:{documents.line_of(key_node)}: {key}: duplicate key")
        conv.lines[(key,)] = documents.line_of(key_node)
        if key == "leads" and isinstance(value_node, SequenceNode):
            leads_node = value_node
            doc[key] = []
        else:
            doc[key] = conv.convert(value_node, (key,))
            conv.lines[(key,)] = documents.line_of(key_node)
    for error in document_validator().iter_errors(doc):
        where = tuple(error.absolute_path)
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
    if isinstance(doc.get("leadsFile"), str) and doc["leadsFile"]:
        leads_path = path.parent / str(doc["leadsFile"])
        if not leads_path.is_file():
            sink.add(
                shown,
                conv.lines[("leadsFile",)],
                "leadsFile",
                f"{shown_path(leads_path)}: file not found",
            )
            return None
    country = str(options.get("numberOriginCountry", "")).upper()
    meta = LeadSetFile(
        path=shown,
        campaign=campaign,
        account=doc["account"] if isinstance(doc.get("account"), str) else None,
        options=tuple(
            sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items())
        ),
        leads_file=shown_path(leads_path) if leads_path else None,
        inline_count=len(leads_node.value) if leads_node else 0,
    )
    ctx = LeadContext(options.get("timeZoneOption"), us_phones=country in US_COUNTRIES)
    return Source(meta, path, leads_node, leads_path, ctx)


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


def _schema_message(error: Any) -> str:
    if error.validator == "additionalProperties":
        extras = [e for e in error.instance if e not in error.schema.get("properties", {})]
        hints = "".join(suggest(e) for e in extras[:1])
        return f"unknown field(s): {', '.join(map(str, extras))}{hints}"
    if error.validator == "oneOf" and error.absolute_path and error.absolute_path[-1] == "campaign":
        return "must be a campaign id (a positive whole number) or {id: ..., name: ...}"
    if error.validator == "anyOf" and not error.absolute_path:
        return "a lead set needs `leads` or `leadsFile`"
    return str(error.message)


def iter_leads(source: Source, sink: Sink) -> Iterator[Lead]:
    """Every valid lead of the file: inline leads, then the leadsFile. Problems go to the sink."""
    campaign = source.meta.campaign.id
    dup = dict(source.meta.options).get("duplicateHandling")
    streams: list[Iterator[tuple[dict[str, object], str, int, Node | None]]] = []
    if source.leads_node is not None:
        streams.append(_inline(source.leads_node, source.meta.path, sink))
    if source.leads_path is not None:
        shown = shown_path(source.leads_path)
        if source.leads_path.suffix.lower() == ".csv":
            streams.append(_csv_rows(source.leads_path, shown, sink))
        else:
            streams.append(_jsonl_rows(source.leads_path, shown, sink))
    for stream in streams:
        for raw, file, line, node in stream:
            data, issues = check_lead(raw, source.ctx)
            for name, message in issues:
                sink.add(file, _field_line(node, name, line), name, message)
            extern_id = data.get("externId")
            if not isinstance(extern_id, str):
                continue
            phone = data.get("leadPhone") or data.get("leadPhoneE164")
            if sink.see(campaign, extern_id, phone, file, line, dup) and not issues:
                yield Lead.from_mapping(data, file, line)


def _field_line(node: Node | None, name: str, default: int) -> int:
    if isinstance(node, MappingNode):
        top = name.split(".", 1)[0]
        for key, _value in node.value:
            if isinstance(key, ScalarNode) and key.value == top:
                return documents.line_of(key)
    return default


def _inline(
    leads: SequenceNode, shown: str, sink: Sink
) -> Iterator[tuple[dict[str, object], str, int, Node | None]]:
    seen: set[int] = set()
    scalar = documents.scalar
    for node in leads.value:
        line = node.start_mark.line + 1
        if not isinstance(node, MappingNode):
            sink.add(shown, line, "leads", "each lead must be a mapping of field names to values")
            continue
        documents.check_alias(node, seen, shown)
        raw: dict[str, object] = {}
        for key, value in node.value:
            name = documents.mapping_key(key, shown)
            if name in raw:
                sink.add(shown, documents.line_of(key), name, "duplicate key in this lead")
                continue
            if isinstance(value, ScalarNode):
                raw[name] = scalar(value, text=name not in INTEGER_FIELDS)
            elif isinstance(value, MappingNode):
                documents.check_alias(value, seen, shown)
                raw[name] = {
                    documents.mapping_key(k, shown): (
                        scalar(v, text=True) if isinstance(v, ScalarNode) else [v]
                    )
                    for k, v in value.value
                }
            else:
                raw[name] = [value]
        yield raw, shown, line, node


def _header(row: list[str], shown: str) -> list[str]:
    names = [c.strip() for c in row]
    bad = [n for n in names if n not in KNOWN_FIELDS and not n.startswith(EXTENDED)]
    if bad:
        raise InputError(
            f"{shown}:1: bad header: unknown column(s) {', '.join(repr(b) for b in bad)}"
            f"{suggest(bad[0])}; columns are lead field names, custom fields as "
            "extendedLeadData.NAME"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{shown}:1: bad header: column(s) repeated: {', '.join(dupes)}")
    if "externId" not in names or not {"leadPhone", "leadPhoneE164"} & set(names):
        raise InputError(
            f"{shown}:1: bad header: needs an externId and a leadPhone or leadPhoneE164 column"
        )
    return names


def _csv_rows(
    path: Path, shown: str, sink: Sink
) -> Iterator[tuple[dict[str, object], str, int, Node | None]]:
    try:
        f = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    with f:
        reader = csv.reader(f)
        try:
            first = next(reader, None)
            if first is None:
                raise InputError(f"{shown}:1: bad header: the file is empty")
            names = _header(first, shown)
            width = len(names)
            extended = [
                (i, n[len(EXTENDED) :]) for i, n in enumerate(names) if n.startswith(EXTENDED)
            ]
            plain = [(i, n) for i, n in enumerate(names) if not n.startswith(EXTENDED)]
            line = reader.line_num + 1
            for row in reader:
                if len(row) != width:
                    if not row or row == [""]:
                        line = reader.line_num + 1
                        continue
                    sink.add(
                        shown,
                        line,
                        "(row)",
                        f"has {len(row)} values but the header has {width} columns",
                    )
                    line = reader.line_num + 1
                    continue
                raw: dict[str, object] = {n: row[i] for i, n in plain}
                if extended:
                    raw["extendedLeadData"] = {n: row[i] for i, n in extended}
                yield raw, shown, line, None
                line = reader.line_num + 1
        except UnicodeDecodeError as e:
            raise InputError(f"{shown}:{reader.line_num + 1}: file is not valid UTF-8") from e
        except csv.Error as e:
            raise InputError(f"{shown}:{reader.line_num}: malformed CSV: {e}") from e


def _jsonl_rows(
    path: Path, shown: str, sink: Sink
) -> Iterator[tuple[dict[str, object], str, int, Node | None]]:
    try:
        f = path.open(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    with f:
        number = 0
        try:
            for number, text in enumerate(f, 1):
                if not text.strip():
                    continue
                try:
                    # numbers keep their exact text: a zip of 02134 must not become 2134
                    raw = json.loads(text, parse_int=str, parse_float=str)
                except json.JSONDecodeError as e:
                    sink.add(shown, number, "(line)", f"invalid JSON: {e.msg}")
                    continue
                if not isinstance(raw, dict):
                    sink.add(shown, number, "(line)", "each line must be a JSON object (one lead)")
                    continue
                yield raw, shown, number, None
        except UnicodeDecodeError as e:
            raise InputError(f"{shown}:{number + 1}: file is not valid UTF-8") from e


def load_sources(files: Sequence[Path], defaults: Mapping[str, Any], sink: Sink) -> list[Source]:
    """Parse every file; a file that cannot be read at all is one problem, the others go on."""
    sources = []
    for path in files:
        try:
            source = load_source(path, defaults, sink)
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


def group(sources: Sequence[Source], sink: Sink) -> list[Desired]:
    """One Desired per campaign; its leads stream from every file that targets it."""
    by_campaign: dict[int, list[Source]] = {}
    for s in sources:
        by_campaign.setdefault(s.meta.campaign.id, []).append(s)
    result = []
    for cid in sorted(by_campaign):
        group_sources = by_campaign[cid]
        first = group_sources[0].meta
        for other in group_sources[1:]:
            if other.meta.account != first.account:
                sink.add(
                    other.meta.path,
                    1,
                    "account",
                    f"campaign {cid} is also declared in {first.path} with account "
                    f"{first.account!r}; files of one campaign must agree",
                )
            if (
                other.meta.campaign.name
                and first.campaign.name
                and (other.meta.campaign.name != first.campaign.name)
            ):
                sink.add(
                    other.meta.path,
                    1,
                    "campaign.name",
                    f"campaign {cid} is named {first.campaign.name!r} in {first.path}",
                )
        name = next((s.meta.campaign.name for s in group_sources if s.meta.campaign.name), None)
        result.append(
            Desired(
                campaign=CampaignRef(cid, name),
                account=first.account,
                files=tuple(s.meta.path for s in group_sources),
                options=first.options,
                leads=itertools.chain.from_iterable(_guarded(s, sink) for s in group_sources),
            )
        )
    return result


def leads_file_source(path: Path, campaign: int) -> Source:
    """A bare CSV or JSON Lines file as a lead set of one campaign (for `engage-sync import`)."""
    if not path.is_file():
        raise InputError(f"{shown_path(path)}: file not found")
    if path.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        raise InputError(
            f"{shown_path(path)}: expected a lead set (.yaml/.json) or leads (.csv/.jsonl)"
        )
    meta = LeadSetFile(shown_path(path), CampaignRef(campaign), None, (), shown_path(path), 0)
    return Source(meta, path, None, path, LeadContext(None))
