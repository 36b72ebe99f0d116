"""Inline YAML leads are read from libyaml's event stream (readers.inline_leads), one lead at a
time. The reference they are checked against is how engage-sync read them before: the file
composed into a node tree, every lead through the general check (fields.check_lead)."""

from __future__ import annotations

import contextlib
import tracemalloc
from pathlib import Path

import pytest
import yaml
from conftest import write
from hypothesis import given, settings
from hypothesis import strategies as st
from yaml.nodes import MappingNode, ScalarNode

from engage_sync import leadsets
from engage_sync.errors import InputError
from engage_sync.leadsets import Sink, documents
from engage_sync.leadsets.fields import INTEGER_FIELDS, LeadContext, check_lead
from engage_sync.model import Lead

HEADER = """campaign: 136785
options: {dialPriority: NORMAL, duplicateHandling: REMOVE_ALL_EXISTING, timeZoneOption: NPA_NXX}
"""
Found = tuple[list[tuple[object, ...]], list[tuple[int, str, str]]]


def streamed(path: Path) -> Found:
    """What engage-sync reads: the leads, and the problems (line, field, message)."""
    sink = Sink()
    sources = leadsets.load_sources([path], {}, sink)
    leads = [lead for d in leadsets.group(sources, sink) for lead in d.leads]
    return _shape(leads), sorted((p.line, p.field, p.message) for p in sink.problems)


def composed(path: Path) -> Found:
    """The reference: the file composed whole, each lead's values typed as documents.scalar
    types them, checked by check_lead, problems at the line of their key."""
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    node = next(v for k, v in root.value if k.value == "leads")
    leads, problems = [], []
    for item in node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, MappingNode):
            problems.append((line, "leads", "each lead must be a mapping of field names to values"))
            continue
        raw: dict[str, object] = {}
        at: dict[str, int] = {}
        for key, value in item.value:
            if key.value in raw:
                problems.append((key.start_mark.line + 1, key.value, "duplicate key in this lead"))
                continue
            at[key.value] = key.start_mark.line + 1
            if isinstance(value, ScalarNode):
                raw[key.value] = documents.scalar(value, text=key.value not in INTEGER_FIELDS)
            elif isinstance(value, MappingNode):
                raw[key.value] = {
                    k.value: documents.scalar(v, text=True) if isinstance(v, ScalarNode) else [v]
                    for k, v in value.value
                }
            else:
                raw[key.value] = []  # a list: the check says what it wanted
        data, issues = check_lead(raw, LeadContext("NPA_NXX"))
        problems += [(at.get(f.split(".")[0], line), f, m) for f, m in issues]
        if not issues:
            leads.append(Lead.from_mapping(data, path.name, line))
    return _shape(leads), sorted(problems)


def _shape(leads: list[Lead]) -> list[tuple[object, ...]]:
    return [(lead.extern_id, lead.names, lead.values, lead.digest, lead.line) for lead in leads]


TEXT = ["Ada", "02134", "ON", "yes", "1e3", "0x1F", "12", "-3", "Émile", "x#y", "A  B"]
NONE = ["~", "null", "", "''", '""']
VALUES = st.one_of(
    st.sampled_from(TEXT),
    st.sampled_from(TEXT).map(lambda t: f'"{t}"'),
    st.sampled_from([*TEXT, "a: b", "# no comment"]).map(lambda t: f"'{t}'"),
    st.sampled_from(NONE),
    st.sampled_from(["[a, b]", "{a: 1}", "!!str 12", "!!int 12", "&v Ada"]),
)
FIELDS = ["firstName", "lastName", "zip", "state", "leadPriority", "maxPasses", "fristName"]
EXTENDED = st.dictionaries(
    st.sampled_from(["plan", "tier", "bad name"]),
    st.one_of(st.sampled_from(TEXT), st.sampled_from(NONE[:2]), st.just("[1]")),
    max_size=3,
)


@st.composite
def lead_text(draw: st.DrawFn, i: int) -> str:
    """One lead, block style, with values YAML types in every way it can."""
    lines = []
    if draw(st.booleans()) or i == 0:
        forms = [f"E{i}", '"E' + str(i) + '"', f"E{i}  # a comment"]
        lines.append(f"externId: {draw(st.sampled_from(forms))}")
    phone = draw(st.sampled_from([f"415555{i:04d}", f'"415555{i:04d}"', "12", "~", "[1]"]))
    lines.append(f"leadPhone: {phone}")
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        lines.append(f"{name}: {draw(VALUES)}")
    if draw(st.booleans()):
        ext = draw(EXTENDED)
        anchor = draw(st.sampled_from(["", f"&e{i} "]))
        pairs = ", ".join(f"{k}: {v}" for k, v in ext.items())
        lines.append(f"extendedLeadData: {anchor}{{{pairs}}}")
    if draw(st.integers(0, 9)) == 0:
        return "  - just text\n"
    return "  - " + "\n    ".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_streamed_leads_and_problems_are_what_the_composed_tree_gives(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    count = data.draw(st.integers(1, 6))
    body = "".join(data.draw(lead_text(i)) for i in range(count))
    path = write(tmp_path_factory.mktemp("y") / "a.yaml", HEADER + "leads:\n" + body)
    try:
        expected = composed(path)
    except yaml.MarkedYAMLError as e:  # e.g. an anchor defined twice: invalid YAML, same line
        assert e.problem_mark is not None
        line = e.problem_mark.line + 1
        problems = streamed_messages(path)[1]
        assert any(f"a.yaml:{line}: invalid YAML" in p for p in problems), (line, problems)
    else:
        assert streamed(path) == expected


def test_every_lead_takes_the_fast_path_or_the_check_with_the_same_result(
    tmp_path: Path,
) -> None:
    """Clean text leads (the fast path) and leads the general check normalises hash alike."""
    path = write(
        tmp_path / "a.yaml",
        HEADER
        + """leads:
  - externId: a
    leadPhone: "4155550100"
    firstName: Ada
    extendedLeadData: {plan: gold}
  - externId: b
    leadPhone: (415) 555-0101
    firstName: Ada
    extendedLeadData: {plan: gold}
    leadPriority: 3
""",
    )
    got, problems = streamed(path)
    assert problems == []
    assert got == composed(path)[0] and [g[0] for g in got] == ["a", "b"]


def test_whatever_follows_the_leads_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        HEADER
        + """leads:
  - {externId: a, leadPhone: "4155550100", lastName: &family Lovelace}
  - {externId: b, leadPhone: "4155550101", lastName: Lovelace}
removed:
  - externId: gone
    reason: asked
""",
    )
    sink = Sink()
    (source,) = leadsets.load_sources([path], {}, sink)
    leads = list(leadsets.iter_leads(source, sink))
    assert sink.problems == []
    assert [t.extern_id for t in source.meta.tombstones] == ["gone"]
    assert [dict(lead.fields)["lastName"] for lead in leads] == ["Lovelace", "Lovelace"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (  # an alias of a whole lead could expand without bound
            "  - &one {externId: a, leadPhone: '4155550100'}\n  - *one\n",
            "a.yaml:5: YAML anchors/aliases are not supported",
        ),
        (  # an anchor inside the leads, used after them
            "  - {externId: a, leadPhone: '4155550100', extendedLeadData: &x {p: 1}}\n"
            "removed:\n  - *x\n",
            "a.yaml:6: YAML anchors/aliases are not supported",  # where the alias is
        ),
        (  # an alias of a scalar: a long value named many times is many times the request
            "  - {externId: a, leadPhone: '4155550100', firstName: &n Ada}\n"
            "  - {externId: b, leadPhone: '4155550101', firstName: *n}\n",
            "a.yaml:5: YAML anchors/aliases are not supported",
        ),
        (  # ... as a key too
            "  - {externId: a, leadPhone: '4155550100', &k firstName: Ada}\n"
            "  - {externId: b, leadPhone: '4155550101', *k : Bo}\n",
            "a.yaml:5: YAML anchors/aliases are not supported",
        ),
        ("  - {externId: a, leadPhone: *nowhere}\n", "a.yaml:4: invalid YAML"),
        ("  - {externId: a, leadPhone: '4155550100'\n  - b\n", "a.yaml:5: invalid YAML"),
        ("  - {externId: a}\n---\nleads: []\n", "a.yaml:5: invalid YAML: a lead set is one YAML"),
    ],
)
def test_yaml_that_cannot_be_read_says_where(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path / "a.yaml", HEADER + "leads:\n" + body)
    _, problems = streamed_messages(path)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("leads", "last"),
    [
        ("leads:\n  - {externId: a}\n  - externId: b\n    firstName: Ada\n", True),
        ("leads:\n- {externId: a}\n# a comment\n\n-\n  externId: b\n", True),
        ("leads:\n  - {externId: a}\nremoved: []\n", False),  # a key after the list
        ("leads:\n  - {externId: a}\n---\n", False),  # another document
        ("leads:\n  - {externId: a, firstName: 'Ada\nLovelace'}\n", False),  # back to the margin
        ("leads:\n  - {externId: a}\r  - {externId: b}\n", False),  # a lone \r breaks a line
        ("leads:\n  - {externId: a, firstName: Ada\u0085Lovelace}\n", False),  # so does NEL
        ("leads:\r\n  - {externId: a}\r\n\r\n  - {externId: b}\r\n", True),
        ("x: 1\nleads:\n  - {externId: a}\n-bad: 2\n", False),  # a key that starts with -
    ],
)
def test_a_list_nothing_follows_is_not_skipped_event_by_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leads: str, last: bool
) -> None:
    """Issue #34: reading a lead set's other keys skipped the leads' events one by one, as much
    work as streaming them. When no line after the `leads:` key can hold another top-level key,
    the rest is only parsed (in C, for its syntax errors); else it is skipped as before."""
    path = tmp_path / "a.yaml"
    path.write_bytes((HEADER + leads).encode())
    skipped: list[object] = []
    real = documents.skip
    monkeypatch.setattr(
        documents, "skip", lambda ev, start: skipped.append(start) or real(ev, start)
    )
    with contextlib.suppress(InputError):  # some are not valid YAML: the way taken counts
        documents.compose(path, "a.yaml")
    assert (not skipped) is last


def test_a_syntax_error_after_the_last_list_is_found_before_any_lead_is_read(
    tmp_path: Path,
) -> None:
    rows = "".join(f"  - {{externId: E{i}, leadPhone: '415555{i:04d}'}}\n" for i in range(3000))
    path = write(tmp_path / "a.yaml", HEADER + "leads:\n" + rows + "  - {externId: [x}\n")
    with pytest.raises(InputError, match=r"a.yaml:3004: invalid YAML"):
        documents.compose(path, "a.yaml")


def streamed_messages(path: Path) -> tuple[int, list[str]]:
    sink = Sink()
    sources = leadsets.load_sources([path], {}, sink)
    leads = [lead for d in leadsets.group(sources, sink) for lead in d.leads]
    return len(leads), [str(p) for p in sink.problems]


def test_a_byte_that_is_not_utf8_far_into_a_yaml_file_is_named_at_its_line(
    tmp_path: Path,
) -> None:
    """The file is decoded a block at a time: the line and byte are counted across blocks."""
    head = (HEADER + "leads:\n").encode()
    rows = b"".join(
        f'  - {{externId: "E{i}", leadPhone: "415555{i:04d}"}}\n'.encode() for i in range(3000)
    )
    bad = b'  - {externId: "X", firstName: "Ren\xe9"}\n'
    path = tmp_path / "a.yaml"
    path.write_bytes(head + rows + bad)
    line = (head + rows).count(b"\n") + 1
    offset = len(head + rows) + bad.index(b"\xe9")
    assert len(head + rows) > 65536  # past the first block
    count, problems = streamed_messages(path)
    assert len(problems) == 1
    assert problems[0].endswith(f"/a.yaml:{line}: file is not valid UTF-8 (byte {offset})")
    assert count == 0


def test_inline_json_lead_sets_stream_too(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.json",
        '{"campaign": 136785, "options": {"dialPriority": "NORMAL", "duplicateHandling": '
        '"REMOVE_ALL_EXISTING", "timeZoneOption": "NPA_NXX"},\n"leads": [\n'
        '{"externId": "a", "leadPhone": "4155550100", "zip": "02134"},\n'
        '{"externId": "b", "leadPhone": "4155550101", "leadPriority": 2}\n]}\n',
    )
    leads, problems = streamed(path)
    assert problems == []
    assert [(g[0], g[2], g[4]) for g in leads] == [
        ("a", ("4155550100", "02134"), 3),
        ("b", ("4155550101", 2), 4),
    ]


def test_leads_are_built_one_at_a_time(tmp_path: Path) -> None:
    """Reading 20,000 inline leads holds one lead at a time, not a composed tree (which takes
    53 MB here, by tracemalloc)."""
    lines = [HEADER, "leads:\n"]
    for i in range(20_000):
        lines.append(f'  - externId: "E{i}"\n    leadPhone: "4{i:09d}"\n    firstName: Ada\n')
    path = write(tmp_path / "big.yaml", "".join(lines))
    sink = Sink()
    (source,) = leadsets.load_sources([path], {}, sink)
    tracemalloc.start()
    try:
        count = sum(1 for _ in leadsets.stream(source))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 4_000_000, peak
