"""Read YAML/JSON documents safely, keeping line numbers and the exact text of scalars.

PyYAML's implicit typing turns `zip: 02134` into 1116 and `state: ON` into True. We never let it
construct lead data: files are only *composed* into nodes (with the C parser when available) and
scalars are converted by what the schema expects at that place, so string fields keep the exact text
the user wrote.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from yaml.composer import Composer, ComposerError
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import InputError

try:  # the libyaml parser is an order of magnitude faster; fall back when absent
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"
_BLOCK = 1 << 16
_constructor = yaml.SafeLoader("")  # used only to construct single non-string scalars
_resolver = yaml.resolver.Resolver()  # used only to type single scalars

Path_ = tuple[object, ...]


def line_of(node: Node | Any) -> int:
    """The line a node (or a parser event) starts on, from 1."""
    return int(node.start_mark.line) + 1


def not_utf8(shown: str, line: int, at: int) -> InputError:
    return InputError(f"{shown}:{line}: file is not valid UTF-8 (byte {at})")


def read_text(path: Path, shown: str) -> str:
    """The file's text; non-UTF-8 bytes are an error naming the line they are on."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise InputError(f"{shown}: file not found") from e
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise not_utf8(shown, data.count(b"\n", 0, e.start) + 1, e.start) from e


MAX_DEPTH = 64  # lists and mappings within each other: a lead set needs four


class _Events(_Loader, Composer):  # type: ignore[misc]
    """libyaml's event stream, with PyYAML's composer for the small parts of a file: it refuses
    every alias (of a scalar too: a 1 KB value named a thousand times is a 1 MB request) and
    nesting past MAX_DEPTH (PyYAML's composer recurses: a RecursionError is no message)."""

    def __init__(self, stream: object, shown: str = "") -> None:
        _Loader.__init__(self, stream)  # type: ignore[misc]
        self.anchors: dict[str, Node] = {}
        self.shown = shown
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent) and event.anchor in self.anchors:
            raise alias_refused(self.shown, line_of(event))  # an unknown one: PyYAML says so
        if self._depth >= MAX_DEPTH:
            raise too_deep(self.shown, line_of(event))
        self._depth += 1
        try:
            node: Node | None = Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1
        return node


def too_deep(shown: str, line: int) -> InputError:
    return InputError(f"{shown}:{line}: nested more than {MAX_DEPTH} levels deep")


# Events and marks are typed loosely here: the C parser's marks are not yaml.error.Mark, and
# which attributes an event has depends on its kind (checked at run time by type()).
Events = Any


class _Utf8Chunks:
    """A binary file read as text a block at a time (the parser asks for blocks), so a file of
    any size is parsed in flat memory; a byte that is not UTF-8 is an error naming its line."""

    def __init__(self, f: BinaryIO, shown: str) -> None:
        self._f, self.name = f, shown
        self._decode = codecs.getincrementaldecoder("utf-8-sig")().decode
        self._offset = 0  # bytes read before this block
        self._lines = 0  # newlines in them

    def read(self, size: int = _BLOCK) -> str:
        data = self._f.read(max(size, _BLOCK))
        try:
            text = self._decode(data, final=not data)
        except UnicodeDecodeError as e:
            held = len(e.object) - len(data)  # bytes of a character begun in the last block
            line = self._lines + e.object.count(b"\n", 0, e.start) + 1
            at = self._offset - held + e.start
            raise not_utf8(self.name, line, at) from e
        self._offset += len(data)
        self._lines += data.count(b"\n")
        return text


@contextlib.contextmanager
def events(path: Path, shown: str) -> Iterator[Events]:
    """The file's YAML event stream; syntax errors become InputError at their line."""
    try:
        f = path.open("rb")
    except FileNotFoundError as e:
        raise InputError(f"{shown}: file not found") from e
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    with f:
        if path.suffix.lower() == ".json":  # JSON's own messages for JSON files
            text = read_text(path, shown)
            try:
                json.loads(text)
            except json.JSONDecodeError as e:
                raise InputError(f"{shown}:{e.lineno}: invalid JSON: {e.msg}") from e
            except RecursionError:
                pass  # nested past what json can: the composer below says where
            stream: object = text
        else:
            stream = _Utf8Chunks(f, shown)
        try:
            yield _Events(stream, shown)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark is not None else 0
            tabs = tab_lines(path, line) if isinstance(stream, _Utf8Chunks) else ()
            if tabs:
                raise TabIndented(shown, tabs) from e
            raise InputError(f"{shown}:{line}: invalid YAML: {e.problem or e}") from e
        except yaml.YAMLError as e:
            raise InputError(f"{shown}: invalid YAML: {e}") from e


TAB_INDENTS = "a tab character indents this line; YAML indents with spaces"
_TAB_INDENT = re.compile(rb"[ ]*(?:-[ ]*)*\t")  # a tab before a line's text or after its `-`


class TabIndented(InputError):
    """A YAML file that tabs indent: the parser stops at the first with words of its own; this
    names every line a tab indents (readers report each: sources.load_sources)."""

    def __init__(self, shown: str, lines: Sequence[int]) -> None:
        rest = len(lines) - 3
        more = f" and {rest:,} more line{'' if rest == 1 else 's'}" if rest > 0 else ""
        super().__init__(f"{shown}:{','.join(map(str, lines[:3]))}{more}: {TAB_INDENTS}")
        self.shown, self.lines = shown, lines


def tab_lines(path: Path, line: int) -> Sequence[int]:
    """The lines of a YAML file a tab indents, when the parser's error is at one of them (else
    none: the error has another cause). A tab may stand inside a block of text (`|`), where it
    is text: only a file that fails to parse at a tab is searched."""
    found = array("q")
    try:
        with path.open("rb") as f:
            for number, text in enumerate(f, 1):
                if _TAB_INDENT.match(text):
                    found.append(number)
    except OSError:
        return []
    return found if line in found else []


def compose(path: Path, shown: str) -> MappingNode:
    """Parse one lead-set file into a node tree whose top level is a mapping.

    The items of a top-level `leads:` list are parsed (so a syntax error in them is found here)
    but not composed: that node has no items, and readers.inline_leads streams them from the
    file's events. Composing every lead would hold the whole file as nodes (about 9 KB a lead)."""
    with events(path, shown) as ev:
        ev.get_event()  # the stream's start
        if ev.check_event(StreamEndEvent):
            root: Any = None
        else:
            ev.get_event()  # the document's start
            ended = False  # the file's end seen without reading to it (_compose_root)
            if ev.check_event(MappingStartEvent):
                root, ended = _compose_root(ev, path, shown)
            else:
                root = ev.compose_node(None, None)
            if not ended:
                ev.get_event()  # the document's end
            if not ended and not ev.check_event(StreamEndEvent):
                line = ev.peek_event().start_mark.line + 1
                raise InputError(
                    f"{shown}:{line}: invalid YAML: a lead set is one YAML document, and another "
                    "one starts here"
                )
    if root is None or (isinstance(root, ScalarNode) and root.tag == NULL_TAG):
        raise InputError(
            f"{shown}:1: file is empty: a lead set needs at least `campaign` and `leads`"
        )
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else "a single value"
        raise InputError(
            f"{shown}:{line_of(root)}: the top level must be a mapping "
            "(campaign:, options:, leads:), "
            f"not {kind}"
        )
    return root


def _compose_root(ev: Events, path: Path, shown: str) -> tuple[MappingNode, bool]:
    """The top-level mapping, its streamed lists left empty; True when it ended at one of them
    (nothing can follow it: `_last_at_top`), the rest of the file only checked by the parser
    in C (`_parse_rest`): skipping a list's events one by one costs as much as streaming it."""
    start = ev.get_event()
    pairs: list[tuple[Node, Node]] = []
    while not ev.check_event(MappingEndEvent):
        key = ev.compose_node(None, None)
        if _is_leads(key) and ev.check_event(SequenceStartEvent):
            first = ev.get_event()
            if not first.flow_style and _last_at_top(path, key.start_mark):
                _parse_rest(path, shown)
                pairs.append((key, SequenceNode(SEQ_TAG, [], first.start_mark, first.end_mark)))
                return MappingNode(MAP_TAG, pairs, start.start_mark, first.end_mark), True
            last = skip(ev, first)
            pairs.append((key, SequenceNode(SEQ_TAG, [], first.start_mark, last.end_mark)))
        else:
            pairs.append((key, ev.compose_node(None, None)))
    end = ev.get_event()
    return MappingNode(MAP_TAG, pairs, start.start_mark, end.end_mark), False


_SCAN = 1 << 20
# line breaks YAML has besides \n and \r\n: a lone \r, NEL, LS, PS
_OTHER_BREAKS = re.compile(rb"\r(?!\n)|\xc2\x85|\xe2\x80[\xa8\xa9]")


def _last_at_top(path: Path, key: Any) -> bool:
    """Whether nothing can follow the block list of a top-level key at `key` (a mark) in the
    file: no line after the key's holds text at the key's indentation or less, but the list's
    own `- ` items and comments. A key of the top-level mapping after the list, another
    document, or a value that runs back to the left margin has such a line: then the answer is
    no (the list is skipped event by event, as before). So is it for a file with line breaks
    other than \\n and \\r\\n (the parser counts them, the search below does not)."""
    indent, line = key.column, key.line  # 0-based; the indentation is spaces (YAML has no tabs)
    bad = [rb"\n {%d}(?:[^ \r\n#-]|-[^ \r\n])" % indent]  # at the key's column: not an item
    if indent:
        bad.append(rb"\n {0,%d}[^ \r\n#]" % (indent - 1))  # left of it: anything but a comment
    found = re.compile(b"|".join(bad)).search
    try:
        with path.open("rb") as f:
            data, start, tail = b"", 0, b""
            for block in iter(lambda: f.read(_SCAN), b""):
                # the last bytes of the block before: a break split between two blocks
                seen, tail = tail + block, block[-2:]
                other = _OTHER_BREAKS.search(seen)
                if other is not None and other.start() < len(seen) - 1:
                    return False  # (a \\r last is looked at again with the next block)
                data += block
                while line >= 0:  # the lines up to the key's, skipped
                    at = data.find(b"\n", start)
                    if at < 0:
                        break
                    start, line = at + 1, line - 1
                if line >= 0:
                    data, start = b"", 0
                    continue
                end = data.rfind(b"\n") + 1  # whole lines only: their starts are searched
                if end > start:
                    if found(b"\n" + data[start:end]):
                        return False
                    data, start = data[end:], 0
            return line < 0 and not tail.endswith(b"\r") and not found(b"\n" + data[start:])
    except OSError:
        return False


def _parse_rest(path: Path, shown: str) -> None:
    """Parse the whole file in C, no Python object made for each event: its syntax errors are
    found now, at their line, as when its events are read."""
    with path.open("rb") as f:
        _Events(_Utf8Chunks(f, shown), shown).raw_parse()


STREAMED = frozenset({"leads", "doNotCall"})  # top-level lists read item by item, not composed


def _is_leads(key: Node) -> bool:
    return isinstance(key, ScalarNode) and key.value in STREAMED and key.tag == STR_TAG


class Unread(MappingNode):
    """An anchored list or mapping inside the leads (not composed): an alias of it elsewhere is
    refused like any alias of a collection."""


def skip(ev: Events, start: Any) -> Any:
    """Consume the rest of the node `start` began; its last event. Anchors in it are kept (a
    scalar's value, or an Unread for a collection) for aliases after it."""
    get, anchors = ev.get_event, ev.anchors
    event, kind = start, type(start)
    depth = 0
    while True:
        if kind is ScalarEvent or kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None:
                keep_anchor(anchors, event, node_of(event))
            if kind is not ScalarEvent:
                depth += 1
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            depth -= 1
        elif event is None:  # past the stream's end: never in a file read once, but possible
            # in one rewritten while it was read; said, rather than looping on nothing
            raise InputError(f"{ev.shown}: the file ended early (it changed while read)")
        if not depth:
            return event
        event = get()
        kind = type(event)


def keep_anchor(anchors: dict[str, Node], event: Any, node: Node) -> None:
    """Note an anchor's node for the aliases after it; one name defined twice is refused, as
    PyYAML's composer refuses it."""
    first = anchors.get(event.anchor)
    if first is not None:
        raise ComposerError(
            None,
            None,
            f"anchor &{event.anchor} is defined twice (first on line {line_of(first)})",
            event.start_mark,
        )
    anchors[event.anchor] = node


def node_of(event: Any) -> Node:
    """The node an anchored event stands for: a scalar's, or an Unread list or mapping."""
    if type(event) is ScalarEvent:
        return scalar_node(event)
    return Unread(MAP_TAG, [], event.start_mark, event.start_mark)


def scalar_node(event: Any) -> ScalarNode:
    """A scalar event as the composer makes it a node (its tag resolved as YAML 1.1 would)."""
    tag = event.tag
    if tag is None or tag == "!":
        tag = _resolver.resolve(ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    return ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)


@contextlib.contextmanager
def lead_events(path: Path, shown: str, name: str = "leads") -> Iterator[Events]:
    """The event stream of a lead-set file, just inside its top-level `leads:` list (or another
    streamed list: `doNotCall:`)."""
    with events(path, shown) as ev:
        starts = [ev.get_event() for _ in range(3)]  # the stream's, document's and mapping's
        # a file rewritten since it was read (emptied, then written: a reader can open it in
        # between) may hold no mapping: said, where the loop below would wait for its end
        if not isinstance(starts[-1], MappingStartEvent):
            raise InputError(f"{shown}: the {name}: list is gone (the file changed while read)")
        while not ev.check_event(MappingEndEvent):
            key = skip(ev, ev.get_event())
            value = ev.get_event()
            if (
                isinstance(key, ScalarEvent)
                and key.value == name
                and isinstance(value, SequenceStartEvent)
            ):
                yield ev
                return
            skip(ev, value)
        raise InputError(f"{shown}: the {name}: list is gone (the file changed while read)")


class Converter:
    """Node -> Python for the small parts of a file (everything but the leads).

    `wants_text(path)` says where the schema expects a string: there a plain scalar keeps its exact
    text. Elsewhere scalars are typed as YAML 1.1 would. Anchors/aliases of collections are refused,
    which also disarms alias bombs ("billion laughs").
    """

    def __init__(self, shown: str, wants_text: Callable[[Path_], bool]) -> None:
        self.shown = shown
        self.wants_text = wants_text
        self.lines: dict[Path_, int] = {}
        self._seen: set[int] = set()

    def convert(self, node: Node, path: Path_ = ()) -> object:
        self.lines[path] = line_of(node)
        if isinstance(node, ScalarNode):
            return scalar(node, text=self.wants_text(path))
        self.check_alias(node)
        if isinstance(node, SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = mapping_key(key_node, self.shown)
            if key in result:
                raise InputError(f"{self.shown}:{line_of(key_node)}: {key}: duplicate key")
            key_path = (*path, key)
            result[key] = self.convert(value_node, key_path)
            self.lines[key_path] = line_of(key_node)
        return result

    def check_alias(self, node: Node) -> None:
        check_alias(node, self._seen, self.shown)


def check_alias(node: Node, seen: set[int], shown: str) -> None:
    if id(node) in seen or isinstance(node, Unread):
        raise alias_refused(shown, line_of(node))
    seen.add(id(node))


def alias_refused(shown: str, line: int) -> InputError:
    return InputError(
        f"{shown}:{line}: YAML anchors/aliases are not supported (they can expand without "
        "bound); write the values out"
    )


def compose_text(path: Path, shown: str) -> Node | None:
    """A small YAML file (engage-sync.yaml) as nodes, aliases refused and nesting bounded as in
    lead sets; None when it is empty. Syntax errors raise yaml.MarkedYAMLError."""
    ev = _Events(read_text(path, shown), shown)
    try:
        node: Node | None = Composer.get_single_node(ev)
    finally:
        ev.dispose()
    return node


def mapping_key(node: Node, shown: str) -> str:
    if not isinstance(node, ScalarNode):
        raise InputError(f"{shown}:{line_of(node)}: a mapping key must be a plain name")
    if node.tag == "tag:yaml.org,2002:merge":
        raise InputError(f"{shown}:{line_of(node)}: YAML merge keys (<<) are not supported")
    return str(node.value)


def scalar(node: ScalarNode, text: bool) -> object:
    """A scalar's value. With text=True a plain scalar keeps exactly what the user wrote."""
    tag = node.tag
    if tag == NULL_TAG:
        return None
    if tag == STR_TAG or text:
        return node.value
    try:
        return _constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, KeyError, AttributeError, TypeError):
        # an explicit tag its text does not fit (`!!int twelve`, `!!bool maybe`): PyYAML's
        # constructors raise what int(), a dict or a regex match raise, not a YAMLError
        return node.value
