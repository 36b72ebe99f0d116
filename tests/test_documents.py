"""leadsets/documents.py: a YAML/JSON lead set composed safely (its top level, its leads left to
stream), scalars typed only where no text is wanted, and the refusals (what streaming leads
and tabs do is in test_yaml_stream.py and test_leadsets.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from yaml.nodes import MappingNode, ScalarNode

from engage_sync.errors import InputError
from engage_sync.leadsets import documents


def compose(tmp_path: Path, text: str | bytes) -> MappingNode:
    path = tmp_path / "a.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return documents.compose(path, "a.yaml")


def convert(node: MappingNode, text_at: set[tuple[object, ...]] = set()) -> dict[str, object]:  # noqa: B006
    conv = documents.Converter("a.yaml", lambda path: path in text_at)
    data = conv.convert(node)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a.yaml:1: file is empty: a lead set needs at least `campaign` and `leads`"),
        ("~\n", "a.yaml:1: file is empty"),
        (
            "\n\n- a\n",
            "a.yaml:3: the top level must be a mapping (campaign:, options:, leads:), not a list",
        ),
        (
            "hello\n",
            "a.yaml:1: the top level must be a mapping (campaign:, options:, leads:), not a "
            "single value",
        ),
        (
            "campaign: 1\n---\ncampaign: 2\n",
            "a.yaml:2: invalid YAML: a lead set is one YAML document, and another one starts here",
        ),
        ("? [a]\n: 1\n", "a.yaml:1: a mapping key must be a plain name"),
    ],
)
def test_a_file_that_is_no_lead_set_is_one_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(InputError) as e:
        convert(compose(tmp_path, text))
    assert str(e.value).startswith(message)


def test_the_leads_are_left_to_stream_and_the_rest_is_composed(tmp_path: Path) -> None:
    node = compose(
        tmp_path,
        "campaign: 7\nleads:\n  - {externId: a, leadPhone: '4155550100'}\n"
        "  - {externId: b, leadPhone: '4155550101'}\noptions: {listState: ACTIVE}\n",
    )
    keys = [(k.value, v) for k, v in node.value]
    assert [k for k, _ in keys] == ["campaign", "leads", "options"]
    leads = keys[1][1]
    assert leads.value == [] and documents.line_of(leads) == 3  # its items are never nodes
    assert convert(node)["options"] == {"listState": "ACTIVE"}


def test_scalars_keep_their_text_where_text_is_wanted_and_are_typed_elsewhere(
    tmp_path: Path,
) -> None:
    node = compose(tmp_path, "zip: 02134\nstate: ON\nsize: 02134\nflag: ON\nnone: ~\nq: '5'\n")
    data = convert(node, {("zip",), ("state",)})
    assert data == {
        "zip": "02134",
        "state": "ON",
        "size": 1116,
        "flag": True,
        "none": None,
        "q": "5",
    }


@pytest.mark.parametrize(
    "value", ["!!int twelve", "!!float x", "!!bool maybe", "!!timestamp yesterday"]
)
def test_an_explicit_tag_that_does_not_fit_its_value_keeps_the_text(
    tmp_path: Path, value: str
) -> None:
    """Before the fix a tag its text did not fit raised a ValueError (or a KeyError...): a
    traceback, not the schema's clear problem at the line."""
    (data,) = convert(compose(tmp_path, f"n: {value}\n")).values()
    assert data == value.split(" ", 1)[1]


def test_the_converter_records_the_line_of_every_key_and_item(tmp_path: Path) -> None:
    node = compose(tmp_path, "campaign: 7\noptions:\n  a: 1\n  b:\n    - x\n    - y\n")
    conv = documents.Converter("a.yaml", lambda path: False)
    conv.convert(node)
    assert conv.lines[("options", "a")] == 3
    assert conv.lines[("options", "b")] == 4
    assert conv.lines[("options", "b", 1)] == 6


def test_a_duplicate_key_is_named_at_its_second_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^a\.yaml:3: a: duplicate key$"):
        convert(compose(tmp_path, "options:\n  a: 1\n  a: 2\n"))


def test_an_alias_of_a_collection_is_refused_at_its_use(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        convert(compose(tmp_path, "a: &x [1, 2]\nb: *x\n"))
    assert str(e.value).startswith("a.yaml:2: YAML anchors/aliases are not supported")


def test_a_byte_order_mark_is_read_and_a_byte_that_is_not_utf8_is_named_at_its_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"\xef\xbb\xbfaccount: '1'\n")
    assert documents.read_text(path, "s.yaml") == "account: '1'\n"
    path.write_bytes(b"account: '1'\nstate: \xff\n")
    with pytest.raises(InputError, match=r"^s\.yaml:2: file is not valid UTF-8 \(byte 20\)$"):
        documents.read_text(path, "s.yaml")
    with pytest.raises(InputError, match=r"^none\.yaml: file not found$"):
        documents.read_text(tmp_path / "none.yaml", "none.yaml")


def test_compose_text_of_an_empty_file_is_none(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("# only a comment\n")
    assert documents.compose_text(path, "s.yaml") is None
    path.write_text("a: 1\n")
    node = documents.compose_text(path, "s.yaml")
    assert isinstance(node, MappingNode) and isinstance(node.value[0][0], ScalarNode)


def test_tab_indented_lines_are_named_three_at_most_then_counted(tmp_path: Path) -> None:
    assert str(documents.TabIndented("a.yaml", [2, 3])) == f"a.yaml:2,3: {documents.TAB_INDENTS}"
    assert str(documents.TabIndented("a.yaml", [2, 3, 4, 5])) == (
        f"a.yaml:2,3,4 and 1 more line: {documents.TAB_INDENTS}"
    )
    assert str(documents.TabIndented("a.yaml", list(range(1, 1005)))).startswith(
        "a.yaml:1,2,3 and 1,001 more lines: "
    )
    path = tmp_path / "a.yaml"
    path.write_bytes(b"a:\n\tb: 1\ntext: |\n  x\tnot indented by it\n- \tc\n")
    assert list(documents.tab_lines(path, 2)) == [2, 5]
    assert list(documents.tab_lines(path, 3)) == []  # the parser stopped elsewhere


@pytest.mark.parametrize(
    "text", ["", "\n", "~\n", "- a\n", "hello\n", "campaign: 1\n", "{}\n", "campaign: 1\n---\n"]
)
@pytest.mark.parametrize("name", ["leads", "doNotCall"])
def test_a_file_rewritten_since_the_plan_without_its_list_is_said_not_waited_on(
    tmp_path: Path, text: str, name: str
) -> None:
    """The do-not-call look-ahead reads a campaign's files while the apply asks for its go-ahead:
    a file emptied and written again in between (an editor's save) can be read empty. The
    stream's end then came before the top mapping's, and the reader looped on it for good, at
    full CPU (a suite run hung in test_feed.py on it). Each runs in a thread: the bound is for
    the old code's endless loop, never reached by the new."""
    path = tmp_path / "a.yaml"
    path.write_text(text)
    raised: list[BaseException] = []

    def read() -> None:
        try:
            with documents.lead_events(path, "a.yaml", name):
                pass
        except BaseException as e:  # the test reports what was raised
            raised.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=120)
    assert not reader.is_alive(), "lead_events loops on a file with no list"
    (error,) = raised
    assert isinstance(error, InputError), error
    assert f"a.yaml: the {name}: list is gone (the file changed while read)" in str(error)
