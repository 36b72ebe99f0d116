"""Stream the leads of one lead set: inline YAML/JSON leads, CSV and JSON Lines files.

Each reader yields valid Leads and reports every problem to the sink (duplicates are found once
a campaign has been read whole: see problems.py). CSV and JSON
Lines rows take a compiled fast path (fields.HeaderPlan) when they are clean, and the general
check (fields.check_lead) otherwise, so a million-row file costs little more than reading it.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from yaml.error import Mark
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)
from yaml.nodes import Node

from ..errors import InputError
from ..model import EXTENDED, Lead
from . import documents, exports
from .chunks import Span
from .fields import (
    INTEGER_FIELDS,
    KNOWN_FIELDS,
    HeaderPlan,
    LeadContext,
    check_lead,
    personal_id,
    suggest,
)
from .problems import Sink, Tracker
from .shapes import Written, shapes_of

# (raw lead mapping, file, line, where its keys are in a YAML file or None) -> the Lead, or None
# after reporting problems
SlowPath = Callable[[dict[str, object], str, int, "Mapping[str, Mark] | None"], "Lead | None"]


MAX_LINE = 1 << 20  # a JSON Lines line: 16 times the largest lead (fields.MAX_LEAD)

# Lead._make without its Python-level call: the readers make one per row
_make_lead = functools.partial(tuple.__new__, Lead)


def slow_path(ctx: LeadContext, sink: Sink, track: Tracker) -> SlowPath:
    def lead_from(
        raw: dict[str, object], file: str, line: int, keys: Mapping[str, Mark] | None
    ) -> Lead | None:
        data, issues = check_lead(raw, ctx)
        for name, message in issues:
            mark = keys.get(name.split(".", 1)[0]) if keys else None
            sink.add(file, line if mark is None else mark.line + 1, name, message)
        extern_id = data.get("externId")
        if not isinstance(extern_id, str):
            return None
        phone = data.get("leadPhone") or data.get("leadPhoneE164")
        if track(extern_id, phone, line) and not issues:
            sink.shapes(file).lead(line, shapes_of(raw))
            if personal_id(extern_id, data):
                sink.personal(file, line)
            return Lead.from_mapping(data, file, line)
        return None

    return lead_from


_NULLS = frozenset(("", "~", "null", "Null", "NULL"))  # what YAML reads as no value
_LEADS = "leads"


def inline_leads(
    path: Path, shown: str, sink: Sink, ctx: LeadContext, track: Tracker, slow: SlowPath
) -> Iterator[Lead]:
    """The leads of a lead set's `leads:` list, from libyaml's events: one lead is built at a
    time (a composed tree costs about 9 KB a lead). A lead of plain or quoted text values takes
    the fast path of JSON Lines (one compiled plan per key layout); any other the general check.
    String fields keep the exact text written (`zip: 02134`); an empty, `~` or `null` value is
    no value, as YAML reads it."""
    lead_of = _mapped(shown, ctx, track, slow, sink.shapes(shown))
    with documents.lead_events(path, shown) as ev:
        get, anchors = ev.get_event, ev.anchors
        while True:
            start = get()
            kind = type(start)
            if kind is SequenceEndEvent:
                return
            line = start.start_mark.line + 1
            if kind is not MappingStartEvent:
                if kind is AliasEvent:
                    _alias(start, anchors, shown)
                documents.skip(ev, start)
                sink.add(
                    shown, line, _LEADS, "each lead must be a mapping of field names to values"
                )
                continue
            if start.anchor is not None:
                documents.keep_anchor(anchors, start, documents.node_of(start))
            raw: dict[str, object] = {}
            keys: dict[str, Mark] = {}
            while True:
                key = get()
                kind = type(key)
                if kind is MappingEndEvent:
                    break
                if (
                    kind is ScalarEvent
                    and key.tag is None
                    and key.anchor is None
                    and key.value != "<<"  # a merge key, if plain: mapping_key refuses it
                ):
                    name = key.value
                else:
                    name = _name(ev, key, shown)
                value = get()
                kind = type(value)
                if kind is ScalarEvent:
                    text = value.value
                    if (
                        value.tag is not None
                        or value.anchor is not None
                        or (value.implicit[0] and text in _NULLS)
                        or name in INTEGER_FIELDS
                    ):
                        text = _scalar(value, anchors, text=name not in INTEGER_FIELDS)
                elif kind is MappingStartEvent:
                    text = _mapping(ev, value, shown)
                else:
                    text = _other(ev, value, anchors, shown, text=name not in INTEGER_FIELDS)
                if name in raw:
                    sink.add(shown, key.start_mark.line + 1, name, "duplicate key in this lead")
                    continue
                raw[name] = text
                keys[name] = key.start_mark
            lead = lead_of(raw, line, keys)
            if lead is not None:
                yield lead


def _alias(event: Any, anchors: Mapping[str, Node], shown: str) -> NoReturn:
    """An alias is refused, of a scalar too: a long value named a thousand times would be a
    thousand times the request (issue #29)."""
    if event.anchor not in anchors:
        raise InputError(
            f"{shown}:{documents.line_of(event)}: invalid YAML: found undefined alias "
            f"{event.anchor!r}"
        )
    raise documents.alias_refused(shown, documents.line_of(event))


def _scalar(event: Any, anchors: dict[str, Node], text: bool) -> object:
    """A scalar event's value, as documents.scalar gives a composed one (noting its anchor)."""
    node = documents.scalar_node(event)
    if event.anchor is not None:
        documents.keep_anchor(anchors, event, node)
    return documents.scalar(node, text=text)


def _name(ev: Any, event: Any, shown: str) -> str:
    """A key that is not plain text: a tagged or anchored scalar; an alias, a list or mapping as
    a key is refused."""
    if isinstance(event, AliasEvent):
        _alias(event, ev.anchors, shown)
    if isinstance(event, ScalarEvent):
        node = documents.scalar_node(event)
        if event.anchor is not None:
            documents.keep_anchor(ev.anchors, event, node)
    else:
        raise InputError(f"{shown}:{documents.line_of(event)}: a mapping key must be a plain name")
    return documents.mapping_key(node, shown)


def _mapping(ev: Any, start: Any, shown: str) -> dict[str, object]:
    """A mapping value (extendedLeadData): its text values kept exactly; a list or mapping in it
    stands as a list (the check says it must be text)."""
    if start.anchor is not None:
        documents.keep_anchor(ev.anchors, start, documents.node_of(start))
    out: dict[str, object] = {}
    get = ev.get_event
    while True:
        key = get()
        kind = type(key)
        if kind is MappingEndEvent:
            return out
        if kind is ScalarEvent and key.tag is None and key.anchor is None and key.value != "<<":
            name = key.value  # a plain name, as inline_leads reads one
        else:
            name = _name(ev, key, shown)
        value = get()
        if type(value) is not ScalarEvent:
            out[name] = [_other(ev, value, ev.anchors, shown, text=True)]
        elif (
            value.tag is None
            and value.anchor is None
            and not (value.implicit[0] and value.value in _NULLS)
        ):
            out[name] = value.value  # text, kept exactly: what _scalar gives, without a node
        else:
            out[name] = _scalar(value, ev.anchors, text=True)


def _other(ev: Any, event: Any, anchors: dict[str, Node], shown: str, text: bool) -> object:
    """A value that is neither text nor a mapping: a list (skipped; the check says it must be
    text); an alias is refused."""
    if isinstance(event, AliasEvent):
        _alias(event, anchors, shown)
    if isinstance(event, MappingStartEvent):
        documents.skip(ev, event)
        return {}
    documents.skip(ev, event)
    return []


_COLUMN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_. -]{0,63}")  # a name shown as it is


def _header(
    row: list[str], shown: str, sink: Sink, sep: str = ","
) -> tuple[list[str], list[int] | None]:
    """The header's names, and which columns to read when some are unknown: those are reported
    (an error) and left out, so the rows' other problems are found in the same run.

    An unknown column is named by its number, and by its name only when that is short and
    reads like a field name: a header is whatever the file's first line holds, and the file may
    be no CSV at all (a secret's text, in part or escaped, would escape the log's masking)."""
    split = "" if sep == "," else f" (its columns read as separated by {exports.named(sep)})"
    if any("\x00" in c for c in row):
        raise InputError(f"{shown}:1: bad header: the file holds NUL bytes: not a CSV file")
    names = [c.strip() for c in row]
    bad = [i for i, n in enumerate(names) if n not in KNOWN_FIELDS and not n.startswith(EXTENDED)]
    keep: list[int] | None = None
    if bad:
        named = [
            f"{i + 1} '{names[i]}'" if _COLUMN_NAME.fullmatch(names[i]) else f"{i + 1}"
            for i in bad[:10]
        ]
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        first = names[bad[0]]
        hint = suggest(first) if _COLUMN_NAME.fullmatch(first) else ""
        sink.add(
            shown,
            1,
            "(header)",
            f"unknown column(s) {', '.join(named)}{more}{hint}{split}; columns are lead field "
            "names, custom fields as extendedLeadData.NAME (the other columns are still checked)",
        )
        unknown = set(bad)
        keep = [i for i in range(len(names)) if i not in unknown]
        names = [names[i] for i in keep]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{shown}:1: bad header: column(s) repeated: {', '.join(dupes)}{split}")
    if not _lead_header(names):
        raise InputError(
            f"{shown}:1: bad header: needs an externId and a leadPhone or leadPhoneE164 column"
            + split
        )
    return names, keep


def _lead_header(names: Collection[str]) -> bool:
    return "externId" in names and ("leadPhone" in names or "leadPhoneE164" in names)


def _known_column(name: str) -> bool:
    return name in KNOWN_FIELDS or name.startswith(EXTENDED)


def _separator(f: Any) -> str:
    """The separator of the CSV file open in `f`, from its first line (exports.separator: a
    `;` or tab-separated Excel export is read as such); `f` is then at its start again."""
    head = f.readline(MAX_LINE)
    f.seek(0)
    return exports.separator(head, _known_column, _lead_header)


def _raw(names: list[str], row: list[str] | tuple[object, ...]) -> dict[str, object]:
    """A row as the general check wants it: custom fields nested under extendedLeadData."""
    raw: dict[str, object] = {}
    extended: dict[str, object] = {}
    for name, value in zip(names, row, strict=True):
        if name.startswith(EXTENDED):
            extended[name[len(EXTENDED) :]] = value
        else:
            raw[name] = value
    if extended:
        raw["extendedLeadData"] = extended
    return raw


def not_utf8(path: Path, shown: str) -> InputError:
    """Where a file stops being UTF-8: the decoder reads ahead in blocks, so the line it was on
    when it failed is not the line of the bad byte; the bytes say."""
    try:
        data = path.read_bytes()
        data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return InputError(
            f"{shown}:{line}: not valid UTF-8: byte {e.start} (column {column}) is "
            f"0x{data[e.start]:02x}; save the file as UTF-8 (Excel: CSV UTF-8)"
        )
    except OSError as e:
        return InputError(f"{shown}: cannot read: {e.strerror}")
    return InputError(f"{shown}: file is not valid UTF-8")


def _phone_index(names: list[str]) -> int:
    return names.index("leadPhone") if "leadPhone" in names else names.index("leadPhoneE164")


def _width_problem(sink: Sink, shown: str, line: int, row: list[str], columns: int) -> None:
    if row and row != [""]:  # a blank line is no row
        sink.add(
            shown, line, "(row)", f"has {len(row)} values but the header has {columns} columns"
        )


def csv_leads(
    path: Path,
    shown: str,
    sink: Sink,
    ctx: LeadContext,
    track: Tracker,
    slow: SlowPath,
    ranges: Sequence[Span] | None = None,
) -> Iterator[Lead]:
    """The rows of a CSV file, or with `ranges` only the rows in those chunks (chunks.py; the
    header is read from the file's first line), each at its line in the file."""
    try:
        f = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    with f:
        base = 0  # the line before the rows the reader reads
        try:
            sep = _separator(f)
            reader = csv.reader(f, delimiter=sep)
            first = next(reader, None)
            if first is None:
                raise InputError(f"{shown}:1: bad header: the file is empty")
            names, keep = _header(first, shown, sink, sep)
            compiled = HeaderPlan(names, ctx)
            rows = functools.partial(
                _csv_rows, shown, sink, track, slow, compiled, names, keep, len(first)
            )
            if ranges is None:
                yield from rows(reader, 0)
                return
            for text, base in _pieces(path, shown, ranges):
                reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
                yield from rows(reader, base)
        except UnicodeDecodeError as e:
            raise not_utf8(path, shown) from e
        except csv.Error as e:
            raise InputError(f"{shown}:{base + reader.line_num}: malformed CSV: {e}") from e


def _pieces(path: Path, shown: str, ranges: Sequence[Span]) -> Iterator[tuple[str, int]]:
    """The text of each chunk, and the line before its first; a chunk whose bytes are not those
    cut (the file changed since) is an error, not a misread."""
    try:
        f = path.open("rb")
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    with f:
        for span in ranges:
            f.seek(span.start)
            data = f.read(span.end - span.start)
            if hashlib.sha256(data).hexdigest()[:32] != span.sha:
                raise InputError(f"{shown}: changed while it was read; plan again")
            yield data.decode("utf-8"), span.line - 1


def _csv_rows(
    shown: str,
    sink: Sink,
    track: Tracker,
    slow: SlowPath,
    compiled: HeaderPlan,
    names: list[str],
    keep: list[int] | None,
    header_width: int,
    reader: Any,
    base: int,
) -> Iterator[Lead]:
    """The leads of the rows `reader` reads, the first at line `base + 1` of the file."""
    fast, lead_names, width = compiled.fast, compiled.names, compiled.width
    phone_at = _phone_index(names)
    compared_at = lead_names.index(names[phone_at])  # the phone among a fast lead's values
    formatted = sink.shapes(shown).phone
    make = _make_lead
    line = base + reader.line_num + 1
    skip = _not_wanted(sink, names)
    for row in reader:
        if keep is not None:  # unknown columns left out, the rest still checked
            if len(row) != header_width:
                _width_problem(sink, shown, line, row, header_width)
                line = base + reader.line_num + 1
                continue
            row = [row[i] for i in keep]
        if skip is not None and skip(row):
            line = base + reader.line_num + 1
            continue
        hit = fast(row)
        if hit is not None:
            phone = hit[1][compared_at]
            if phone is not row[phone_at]:  # normalised: note how the file writes it
                formatted(line, row[phone_at])
            if track(hit[0], phone, line):
                yield make((hit[0], lead_names, hit[1], shown, line, hit[2]))
        elif len(row) != width:
            _width_problem(sink, shown, line, row, header_width)
        else:
            lead = slow(_raw(names, row), shown, line, None)
            if lead is not None:
                yield lead
        line = base + reader.line_num + 1


def _not_wanted(sink: Sink, names: list[str]) -> Callable[[list[str]], bool] | None:
    """On an exact re-check of a campaign whose hashes repeated (problems.ExactCheck: a few
    shared phones are normal), the rows that cannot be one of the repeats, skipped before any
    check or hash of their content: an externId whose hash did not repeat, and a phone already
    in the form the first pass hashed (10 digits) whose hash did not repeat either. Other rows
    go the usual way, so what the re-check sees is what the first pass saw."""
    replay = sink.replay
    if replay is None or "leadPhone" not in names:
        return None
    ids, phones = replay
    eid_at, phone_at, width = names.index("externId"), names.index("leadPhone"), len(names)

    def skip(row: list[str]) -> bool:
        if len(row) != width:
            return False
        phone = row[phone_at]
        return (
            hash(row[eid_at]) not in ids
            and len(phone) == 10
            and phone.isdigit()
            and hash(phone) not in phones
        )

    return skip


def jsonl_leads(
    path: Path,
    shown: str,
    sink: Sink,
    ctx: LeadContext,
    track: Tracker,
    slow: SlowPath,
    ranges: Sequence[Span] | None = None,
) -> Iterator[Lead]:
    """The objects of a JSON Lines file, or with `ranges` only those in these chunks."""
    try:
        f = path.open(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    lead_of = _mapped(shown, ctx, track, slow, sink.shapes(shown))
    with f:
        try:
            if ranges is None:
                yield from _jsonl_lines(f, 0, shown, sink, lead_of)
                return
            for text, base in _pieces(path, shown, ranges):
                yield from _jsonl_lines(io.StringIO(text), base, shown, sink, lead_of)
        except UnicodeDecodeError as e:
            raise not_utf8(path, shown) from e


def _jsonl_lines(
    lines: Iterable[str],
    base: int,
    shown: str,
    sink: Sink,
    lead_of: Callable[[dict[str, object], int, Mapping[str, Mark] | None], Lead | None],
) -> Iterator[Lead]:
    for number, text in enumerate(lines, base + 1):
        if not text.strip():
            continue
        if len(text) > MAX_LINE:  # far past any lead's size: not parsed at all
            sink.add(shown, number, "(line)", f"longer than {MAX_LINE:,} characters")
            continue
        try:
            # numbers keep their exact text: a zip of 02134 must not become 2134
            raw = json.loads(text, parse_int=str, parse_float=str)
        except json.JSONDecodeError as e:
            sink.add(shown, number, "(line)", f"invalid JSON: {e.msg}")
            continue
        except RecursionError:
            sink.add(shown, number, "(line)", "invalid JSON: nested too deeply")
            continue
        if not isinstance(raw, dict):
            sink.add(shown, number, "(line)", "each line must be a JSON object (one lead)")
            continue
        lead = lead_of(raw, number, None)
        if lead is not None:
            yield lead


def _mapped(
    shown: str, ctx: LeadContext, track: Tracker, slow: SlowPath, written: Written
) -> Callable[[dict[str, object], int, Mapping[str, Mark] | None], Lead | None]:
    """A lead from one mapping of field names to values (a JSON Lines object, an inline YAML
    lead): the compiled fast path for its key layout (one per layout, compiled once) when it is
    clean text, the general check otherwise. None when it has problems (reported). A phone the
    fast path normalised is noted in `written`."""
    layouts: dict[tuple[object, ...], tuple[HeaderPlan, int, int, int] | None] = {}
    make = _make_lead
    formatted = written.phone

    def lead_of(raw: dict[str, object], line: int, keys: Mapping[str, Mark] | None) -> Lead | None:
        extended = raw.get("extendedLeadData")
        ext = extended if type(extended) is dict else None
        shape = (False, *raw) if ext is None else (True, *raw, *ext)
        if shape in layouts:
            layout = layouts[shape]
        else:
            layout = layouts[shape] = _jsonl_layout(raw, ext, ctx)
        if layout is not None:
            compiled, phone_at, ext_at, compared_at = layout
            row: list[Any] = list(raw.values())
            if ext is not None:
                del row[ext_at]
                row.extend(ext.values())
            hit = compiled.fast(row)
            if hit is not None:
                phone = hit[1][compared_at]
                if phone is not row[phone_at]:  # normalised: note how the file writes it
                    formatted(line, row[phone_at])
                if not track(hit[0], phone, line):
                    return None
                return make((hit[0], compiled.names, hit[1], shown, line, hit[2]))
        return slow(raw, shown, line, keys)

    return lead_of


def _jsonl_layout(
    raw: dict[str, object], extended: dict[str, object] | None, ctx: LeadContext
) -> tuple[HeaderPlan, int, int, int] | None:
    """Compile the fast path for one key layout (None when it cannot use it): the plan, where
    the phone is in the flattened row, where extendedLeadData sits among the keys, and where
    the phone is among the lead's values."""
    keys = list(raw)
    names = [k for k in keys if k != "extendedLeadData"]
    if extended is None and "extendedLeadData" in keys:
        return None  # not a mapping: the general check says so
    if extended is not None:
        names += [EXTENDED + str(k) for k in extended]
    if "externId" not in names or not {"leadPhone", "leadPhoneE164"} & set(names):
        return None
    compiled = HeaderPlan(names, ctx)
    ext_at = keys.index("extendedLeadData") if extended is not None else -1
    if not compiled.usable:
        return None
    phone_at = _phone_index(names)
    return compiled, phone_at, ext_at, compiled.names.index(names[phone_at])
