"""Read YAML/JSON documents safely, keeping line numbers and the exact text of scalars.

PyYAML's implicit typing turns `zip: 02134` into 1116 and `state: ON` into True. We never let it
construct lead data: files are only *composed* into nodes (with the C parser when available) and
scalars are converted by what the schema expects at that place, so string fields keep the exact text
the user wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import InputError

try:  # the libyaml parser is an order of magnitude faster; fall back when absent
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
BOOL_TAG = "tag:yaml.org,2002:bool"
_constructor = yaml.SafeLoader("")  # used only to construct single non-string scalars

Path_ = tuple[object, ...]


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


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
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"{shown}:{line}: file is not valid UTF-8 (byte {e.start})") from e


def compose(path: Path, shown: str) -> MappingNode:
    """Parse one lead-set file into a node tree whose top level is a mapping."""
    text = read_text(path, shown)
    if path.suffix.lower() == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{shown}:{e.lineno}: invalid JSON: {e.msg}") from e
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = e.problem or str(e)
        raise InputError(f"{shown}:{line}: invalid YAML: {what}") from e
    except yaml.YAMLError as e:
        raise InputError(f"{shown}: invalid YAML: {e}") from e
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
    if id(node) in seen:
        raise InputError(
            f"{shown}:{line_of(node)}: YAML anchors/aliases are not supported in lead sets "
            "(they can expand without bound); write the values out"
        )
    seen.add(id(node))


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
    except yaml.YAMLError:  # e.g. an explicit !!int tag on a non-number
        return node.value
