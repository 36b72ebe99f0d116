"""A batch held packed while it waits and flies (reconcile/packed.py): the same leads come back,
exactly, whatever file and form they were read from."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write
from hypothesis import given
from hypothesis import strategies as st
from test_readers import CSV, JSONL, read

from engage_sync import leadsets
from engage_sync.leadsets import Sink
from engage_sync.model import Lead, lead_digest
from engage_sync.reconcile.packed import Packed, phones_of

OPTIONS = {"description": "t", "duplicateHandling": "REMOVE_ALL_EXISTING"}


def same(leads: list[Lead]) -> None:
    packed = Packed.of(leads, OPTIONS)
    back = packed.leads()
    assert back == leads  # extern_id, names, values (and their types), file, line, digest
    # the content is the lead's: its digest made again from what came back is the one kept
    assert [lead_digest(x.extern_id, x.names, x.values) for x in back] == [x.digest for x in leads]
    assert len(packed) == len(leads) and packed.extern_ids == tuple(x.extern_id for x in leads)
    assert packed.phones == phones_of(leads)


@pytest.mark.parametrize(("name", "text"), [("l.csv", CSV), ("l.jsonl", JSONL)])
def test_leads_read_from_a_file_come_back_as_they_were(
    tmp_path: Path, name: str, text: str
) -> None:
    leads, problems = read(tmp_path, name, text.encode())
    assert problems == [] and len(leads) == 3
    same(leads)


def test_inline_yaml_leads_of_several_files_come_back_with_their_own_files(
    tmp_path: Path,
) -> None:
    head = (
        "options: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, timeZoneOption: NPA_NXX}\n"
    )
    paths = [
        write(
            tmp_path / f"{name}.yaml",
            f"campaign: 13678{i}\n{head}leads:\n"
            f'  - {{externId: "{name}-1", leadPhone: "+1 415 555 01{i}0", leadPriority: 3,'
            f' extendedLeadData: {{tier: "{i}", note: "Zoë; ✓"}}}}\n'
            f'  - {{externId: "{name}-2", leadPhone: "4155550{i}99|4155550{i}98"}}\n',
        )
        for i, name in enumerate(("a", "b"))
    ]
    sink = Sink()
    leads = [
        lead
        for d in leadsets.group(leadsets.load_sources(paths, {}, sink), sink)
        for lead in d.leads
    ]
    assert not sink.errors and len(leads) == 4 and len({x.file for x in leads}) == 2
    assert any(isinstance(v, int) for x in leads for v in x.values)
    same(leads)


def test_no_leads_pack_into_an_empty_call() -> None:
    packed = Packed.of([], OPTIONS)
    assert packed.leads() == [] and len(packed) == 0 and packed.phones == frozenset()
    assert packed.upload.body() == {**OPTIONS, "uploadLeads": []}


fields = st.dictionaries(
    st.sampled_from(["firstName", "lastName", "address1", "leadPriority", "zip"]),
    st.one_of(st.text(min_size=1, max_size=8), st.integers(0, 99)),
)
extended = st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=3)


@given(st.lists(st.tuples(fields, extended), min_size=1, max_size=5))
def test_any_lead_comes_back_as_it_was(
    made: list[tuple[dict[str, object], dict[str, str]]],
) -> None:
    leads = [
        Lead.from_mapping(
            {"externId": f"x{i}", "leadPhone": f"415555{i:04d}", **f, "extendedLeadData": e},
            "f.yaml",
            i + 2,
        )
        for i, (f, e) in enumerate(made)
    ]
    same(leads)
