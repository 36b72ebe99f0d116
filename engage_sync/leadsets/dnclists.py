"""Do-not-call lists in the lead-set folder (issue #30): a file with `doNotCall:` entries
(`phone`, `requested`, optional `source`) and/or `doNotCallFile:` (a CSV file with the columns
`phone,requested,source`), streamed like lead files, every problem at file:line.

A file is a do-not-call list when its top level has `doNotCall` or `doNotCallFile` and no
`campaign`. Phones are read in any usual formatting and kept in E.164 (donotcall/phones.py).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from yaml.events import MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent
from yaml.nodes import MappingNode

from ..display import printable
from ..donotcall.phones import e164
from ..errors import InputError
from ..optouts.calendar import latest_request_day
from . import boundary, documents, exports, readers
from .problems import Sink
from .schema import do_not_call_entry, do_not_call_validator

KEYS = frozenset({"doNotCall", "doNotCallFile"})
COLUMNS = ("phone", "requested", "source")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One phone that must not be called: E.164, the day the person asked, how (optional),
    and where the list says so."""

    phone: str
    requested: date
    source: str | None
    file: str
    line: int


@dataclass(frozen=True)
class DncList:
    """One do-not-call list file, parsed; its entries stream from `entries`."""

    path: Path
    shown: str
    inline: bool  # has a `doNotCall:` list
    csv_path: Path | None


def shown_of(path: Path) -> str:
    """As sources.shown_path: relative to the working directory when below it."""
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def is_list(root: MappingNode) -> bool:
    """A do-not-call list, not a lead set: `doNotCall`/`doNotCallFile` and no `campaign`."""
    keys = {str(k.value) for k, _ in root.value if hasattr(k, "value")}
    return bool(keys & KEYS) and "campaign" not in keys


def load_list(
    path: Path, shown: str, root: MappingNode, sink: Sink, inside: Path | None = None
) -> DncList | None:
    """The list's top level, checked against schemas/donotcall.schema.json (its entries are
    checked as they stream). Its `doNotCallFile` must be a regular file that resolves inside
    `inside` (boundary.limit_for), as a leadsFile must."""
    conv = documents.Converter(shown, lambda where: True)  # every value here is text
    doc: dict[str, Any] = {}
    for key_node, value_node in root.value:
        key = documents.mapping_key(key_node, shown)
        if key in doc:
            raise InputError(f"{shown}:{documents.line_of(key_node)}: {key}: duplicate key")
        doc[key] = [] if key == "doNotCall" else conv.convert(value_node, (key,))
        conv.lines[(key,)] = documents.line_of(key_node)
    for error in do_not_call_validator().iter_errors(doc):
        where = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            extras = [e for e in error.instance if e not in error.schema.get("properties", {})]
            where = (*where, extras[0]) if extras else where
            message = f"unknown field(s): {', '.join(map(str, extras))}"
        elif error.validator == "pattern" and where == ("doNotCallFile",):
            message = "must name a .csv file (columns phone,requested,source)"
        else:
            message = str(error.message)
        name = ".".join(map(str, where)) or "(top level)"
        sink.add(shown, conv.lines.get(where[:1], 1), name, message)
    csv_path = None
    named = doc.get("doNotCallFile")
    if isinstance(named, str) and named.lower().endswith(".csv"):
        csv_path = path.parent / named
        if not csv_path.is_file() and not csv_path.is_symlink():
            sink.add(
                shown,
                conv.lines[("doNotCallFile",)],
                "doNotCallFile",
                f"{printable(shown_of(csv_path))}: file not found",
            )
            csv_path = None
        else:
            try:
                boundary.check_file(csv_path, shown_of(csv_path), inside)
            except InputError as e:
                sink.add(shown, conv.lines[("doNotCallFile",)], "doNotCallFile", str(e))
                csv_path = None
    return DncList(path, shown, "doNotCall" in doc, csv_path)


def entries(found: DncList, sink: Sink, region: str) -> Iterator[Entry]:
    """Every well-formed entry of the list (inline, then its CSV file); problems to the sink."""
    if found.inline:
        yield from _inline(found, sink, region)
    if found.csv_path is not None:
        yield from _csv(found.csv_path, shown_of(found.csv_path), sink, region)


def check(
    raw: Mapping[str, object], file: str, line: int, sink: Sink, region: str, where: str
) -> Entry | None:
    """One entry (a mapping of the schema's `entry`), or None after reporting its problems."""
    known = do_not_call_entry()["properties"]
    ok = True
    for name in raw:
        if name not in known:
            sink.add(file, line, f"{where}{name}", f"unknown field; known: {', '.join(known)}")
            ok = False
    phone_text = raw.get("phone")
    phone = None
    if not isinstance(phone_text, str) or not phone_text.strip():
        sink.add(file, line, f"{where}phone", "required: the phone number not to call")
        ok = False
    else:
        phone = e164(phone_text, region)
        if phone is None:
            says = (
                exports.SHORTENED
                if exports.shortened(phone_text)
                else f"is not a phone number (of region {region} when it has no +country code)"
            )
            sink.add(file, line, f"{where}phone", f"'{_mask(phone_text)}' {says}")
            ok = False
    day = _day(raw.get("requested"), file, line, sink, f"{where}requested")
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        sink.add(file, line, f"{where}source", "must be text")
        ok = False
    if not ok or phone is None or day is None:
        return None
    return Entry(phone, day, source if isinstance(source, str) and source else None, file, line)


def _day(text: object, file: str, line: int, sink: Sink, name: str) -> date | None:
    if not isinstance(text, str) or not text.strip():
        sink.add(file, line, name, "required: the day the person asked (YYYY-MM-DD)")
        return None
    text = text.strip()
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        sink.add(file, line, name, f"{text!r} is not a date (YYYY-MM-DD)")
        return None
    if day > latest_request_day():
        sink.add(file, line, name, f"{text} has not come yet")
        return None
    return day


def _mask(text: str) -> str:
    """Enough of a bad phone to find it in the file, not the whole number."""
    text = text.strip()
    return text if len(text) <= 4 else "…" + text[-4:]


def _inline(found: DncList, sink: Sink, region: str) -> Iterator[Entry]:
    """The `doNotCall:` entries, from the file's events: one at a time."""
    shown = found.shown
    with documents.lead_events(found.path, shown, "doNotCall") as ev:
        get, anchors = ev.get_event, ev.anchors
        index = 0
        while True:
            start = get()
            if type(start) is SequenceEndEvent:
                return
            line = documents.line_of(start)
            where = f"doNotCall.{index}."
            index += 1
            if type(start) is not MappingStartEvent:
                documents.skip(ev, start)
                sink.add(shown, line, where[:-1], "each entry must be {phone, requested, source}")
                continue
            raw: dict[str, object] = {}
            while True:
                key = get()
                if type(key) is MappingEndEvent:
                    break
                name = readers._name(ev, key, shown)
                value = get()
                if type(value) is ScalarEvent:
                    raw[name] = readers._scalar(value, anchors, text=True)
                else:
                    raw[name] = readers._other(ev, value, anchors, shown, text=True)
            entry = check(raw, shown, line, sink, region, where)
            if entry is not None:
                yield entry


def _needed(names: Collection[str]) -> bool:
    return "phone" in names and "requested" in names


def _csv(path: Path, shown: str, sink: Sink, region: str) -> Iterator[Entry]:
    """The rows of a `doNotCallFile:`, each at its line."""
    try:
        f = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    with f:
        try:
            # an Excel export may be `;` or tab-separated: read as its header line says
            sep = exports.separator(f.readline(readers.MAX_LINE), COLUMNS.__contains__, _needed)
            f.seek(0)
            reader = csv.reader(f, delimiter=sep)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{shown}:1: bad header: the file is empty")
            if any("\x00" in c for c in header):
                raise InputError(f"{shown}:1: bad header: the file holds NUL bytes: not a CSV file")
            names = [c.strip() for c in header]
            # never the header's text (the file may be no CSV at all: a secret would escape
            # the log's masking), only the numbers of the columns that are not known
            unknown = [str(i + 1) for i, n in enumerate(names) if n not in COLUMNS]
            if unknown or "phone" not in names or "requested" not in names:
                raise InputError(
                    f"{shown}:1: bad header: the columns are phone,requested and optionally "
                    "source"
                    + (f" (not column(s) {', '.join(unknown[:10])})" if unknown else "")
                    + ("" if sep == "," else f"; read as separated by {exports.named(sep)}")
                )
            line = reader.line_num + 1
            for row in reader:
                if row and row != [""]:
                    if len(row) != len(names):
                        sink.add(
                            shown,
                            line,
                            "(row)",
                            f"has {len(row)} values but the header has {len(names)} columns",
                        )
                    else:
                        raw = {n: v for n, v in zip(names, row, strict=True) if v != ""}
                        entry = check(raw, shown, line, sink, region, "")
                        if entry is not None:
                            yield entry
                line = reader.line_num + 1
        except UnicodeDecodeError as e:
            raise readers.not_utf8(path, shown) from e
        except csv.Error as e:
            raise InputError(f"{shown}:{reader.line_num}: malformed CSV: {e}") from e
