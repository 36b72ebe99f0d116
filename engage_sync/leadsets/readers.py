"""Stream the leads of one lead set: inline YAML/JSON leads, CSV and JSON Lines files.

Each reader yields valid Leads and reports every problem to the sink (duplicates are found once
a campaign has been read whole: see problems.py). CSV and JSON
Lines rows take a compiled fast path (fields.HeaderPlan) when they are clean, and the general
check (fields.check_lead) otherwise, so a million-row file costs little more than reading it.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import InputError
from ..model import EXTENDED, Lead
from . import documents
from .fields import INTEGER_FIELDS, KNOWN_FIELDS, HeaderPlan, LeadContext, check_lead, suggest
from .problems import Sink, Tracker

# (raw lead mapping, file, line, YAML node or None) -> the Lead, or None after reporting problems
SlowPath = Callable[[dict[str, object], str, int, "Node | None"], "Lead | None"]


# Lead._make without its Python-level call: the readers make one per row
_make_lead = functools.partial(tuple.__new__, Lead)


def slow_path(ctx: LeadContext, sink: Sink, track: Tracker) -> SlowPath:
    def lead_from(raw: dict[str, object], file: str, line: int, node: Node | None) -> Lead | None:
        data, issues = check_lead(raw, ctx)
        for name, message in issues:
            sink.add(file, _field_line(node, name, line), name, message)
        extern_id = data.get("externId")
        if not isinstance(extern_id, str):
            return None
        phone = data.get("leadPhone") or data.get("leadPhoneE164")
        if track(extern_id, phone, line) and not issues:
            return Lead.from_mapping(data, file, line)
        return None

    return lead_from


def _field_line(node: Node | None, name: str, default: int) -> int:
    if isinstance(node, MappingNode):
        top = name.split(".", 1)[0]
        for key, _value in node.value:
            if isinstance(key, ScalarNode) and key.value == top:
                return documents.line_of(key)
    return default


def inline_leads(leads: SequenceNode, shown: str, sink: Sink, slow: SlowPath) -> Iterator[Lead]:
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
        lead = slow(raw, shown, line, node)
        if lead is not None:
            yield lead


def _header(row: list[str], shown: str, sink: Sink) -> tuple[list[str], list[int] | None]:
    """The header's names, and which columns to read when some are unknown: those are reported
    (an error) and left out, so the rows' other problems are found in the same run."""
    names = [c.strip() for c in row]
    bad = [n for n in names if n not in KNOWN_FIELDS and not n.startswith(EXTENDED)]
    keep: list[int] | None = None
    if bad:
        sink.add(
            shown,
            1,
            "(header)",
            f"unknown column(s) {', '.join(repr(b) for b in bad)}{suggest(bad[0])}; columns "
            "are lead field names, custom fields as extendedLeadData.NAME (the other columns "
            "are still checked)",
        )
        keep = [i for i, n in enumerate(names) if n not in bad]
        names = [names[i] for i in keep]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{shown}:1: bad header: column(s) repeated: {', '.join(dupes)}")
    if "externId" not in names or not {"leadPhone", "leadPhoneE164"} & set(names):
        raise InputError(
            f"{shown}:1: bad header: needs an externId and a leadPhone or leadPhoneE164 column"
        )
    return names, keep


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
    path: Path, shown: str, sink: Sink, ctx: LeadContext, track: Tracker, slow: SlowPath
) -> Iterator[Lead]:
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
            names, keep = _header(first, shown, sink)
            compiled = HeaderPlan(names, ctx)
            fast, lead_names, width = compiled.fast, compiled.names, compiled.width
            phone_at = _phone_index(names)
            make = _make_lead
            line = reader.line_num + 1
            header_width = len(first)
            for row in reader:
                if keep is not None:  # unknown columns left out, the rest still checked
                    if len(row) != header_width:
                        _width_problem(sink, shown, line, row, header_width)
                        line = reader.line_num + 1
                        continue
                    row = [row[i] for i in keep]
                hit = fast(row)
                if hit is not None:
                    if track(hit[0], row[phone_at], line):
                        yield make((hit[0], lead_names, hit[1], shown, line, hit[2]))
                elif len(row) != width:
                    _width_problem(sink, shown, line, row, header_width)
                else:
                    lead = slow(_raw(names, row), shown, line, None)
                    if lead is not None:
                        yield lead
                line = reader.line_num + 1
        except UnicodeDecodeError as e:
            raise not_utf8(path, shown) from e
        except csv.Error as e:
            raise InputError(f"{shown}:{reader.line_num}: malformed CSV: {e}") from e


def jsonl_leads(
    path: Path, shown: str, sink: Sink, ctx: LeadContext, track: Tracker, slow: SlowPath
) -> Iterator[Lead]:
    try:
        f = path.open(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    layouts: dict[tuple[object, ...], tuple[HeaderPlan, int, int] | None] = {}
    make = _make_lead
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
                extended = raw.get("extendedLeadData")
                nested = type(extended) is dict
                key = (True, *raw, *extended) if nested else (False, *raw)  # type: ignore[misc]
                if key in layouts:
                    layout = layouts[key]
                else:
                    layout = layouts[key] = _jsonl_layout(raw, extended if nested else None, ctx)
                if layout is not None:
                    compiled, phone_at, ext_at = layout
                    row: list[Any] = list(raw.values())
                    if nested:
                        del row[ext_at]
                        row.extend(extended.values())  # type: ignore[union-attr]
                    hit = compiled.fast(row)
                    if hit is not None:
                        if track(hit[0], row[phone_at], number):
                            yield make((hit[0], compiled.names, hit[1], shown, number, hit[2]))
                        continue
                lead = slow(raw, shown, number, None)
                if lead is not None:
                    yield lead
        except UnicodeDecodeError as e:
            raise not_utf8(path, shown) from e


def _jsonl_layout(
    raw: dict[str, object], extended: dict[str, object] | None, ctx: LeadContext
) -> tuple[HeaderPlan, int, int] | None:
    """Compile the fast path for one key layout (None when it cannot use it): the plan, where
    the phone is in the flattened row, and where extendedLeadData sits among the keys."""
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
    return (compiled, _phone_index(names), ext_at) if compiled.usable else None
