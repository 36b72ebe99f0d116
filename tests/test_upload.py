"""A loader call's body encoded when its batch is made (engage/upload.py): the bytes httpx would
have sent, and the values a message is redacted of, found part by part as in the whole."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from engage_sync.engage.redaction import Sent, values_sent
from engage_sync.engage.upload import Upload

OPTIONS = {"description": "t", "duplicateHandling": "RETAIN_ALL", "listState": "ACTIVE"}

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalar = st.one_of(text, st.integers(-(10**12), 10**12))
row = st.fixed_dictionaries(
    {"externId": text},
    optional={
        "leadPhone": st.integers(10**9, 10**10 - 1).map(str),
        "firstName": text,
        "extendedLeadData": st.dictionaries(text, text, max_size=3),
        "zip": scalar,
    },
)
options = st.dictionaries(
    st.sampled_from(["description", "listState", "dncTags", "priority"]),
    st.one_of(scalar, st.lists(text, max_size=3), st.dictionaries(text, scalar, max_size=2)),
)


def wire(body: dict[str, Any]) -> bytes:
    return httpx.Request("POST", "http://engage.test/", json=body).read()


@given(options, st.lists(row, max_size=6))
def test_the_body_is_the_bytes_httpx_would_send(opts: dict[str, Any], rows: list[Any]) -> None:
    upload = Upload.of(opts, iter(rows))
    body = {**opts, "uploadLeads": rows}
    assert upload.content == wire(body)
    assert upload.body() == body
    assert upload.count == len(rows)
    assert upload.extern_ids == tuple(r["externId"] for r in rows)


@given(options, st.lists(row, max_size=6))
def test_its_parts_hold_the_values_the_whole_body_does(
    opts: dict[str, Any], rows: list[Any]
) -> None:
    upload = Upload.of(opts, rows)
    whole = values_sent({**opts, "uploadLeads": rows})
    assert set().union(*(values_sent(p) for p in upload.parts())) == whole


def test_a_value_of_a_row_is_redacted_from_a_message_and_an_option_is_not() -> None:
    upload = Upload.of(OPTIONS, [{"externId": "L-1", "firstName": "Ånna Lövgren"}])
    said = Sent.of_parts(upload.parts()).remove("rejected: ÅNNA LÖVGREN (L-1, RETAIN_ALL)")
    assert said == "rejected: [redacted] (L-1, RETAIN_ALL)"


def test_a_body_given_whole_counts_only_its_object_rows() -> None:
    body = {**OPTIONS, "uploadLeads": [{"externId": 7}, "not a lead", {"firstName": "x"}]}
    upload = Upload.of_body(body)
    assert upload.content == wire(body)
    assert (upload.extern_ids, upload.count) == (("7",), 2)
    assert list(upload.parts()) == [body]
