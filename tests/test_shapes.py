"""How a file writes its phones (leadsets/shapes.py, issue #34): a phone's shape holds no digit,
a compared phone written in the shape is the text the file holds, and each chunk gets exactly
the shapes of the phones in it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engage_sync.incremental import partial
from engage_sync.leadsets.fields import normalise_e164, normalise_us_phone
from engage_sync.leadsets.shapes import UNKNOWN, Written, pattern, render, shape, shapes_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4155550100", None),
        ("14155550100", None),
        ("+14155550100", None),
        ("'4155550100", None),
        ("(415) 555-0100", "(###) ###-####"),
        (" +1 415.555.0100 ", "+# ###.###.####"),
        ("'415/555 0100", "###/### ####"),
        ("415-555-0100 ext 7", UNKNOWN),  # not a phone the check reads
        ("٤١٥-٥٥٥-٠١٠٠", UNKNOWN),  # digits of another script: never kept
    ],
)
def test_a_shape_marks_each_digit(text: str, expected: str | None) -> None:
    assert shape(text) == expected


def test_a_lead_has_the_shapes_of_each_of_its_phones() -> None:
    raw = {"leadPhone": "(415) 555-0100 | 2125550100", "leadPhoneE164": "+1 212 555 0100"}
    assert shapes_of(raw) == ("(###) ###-####", "+# ### ### ####")
    assert shapes_of({"leadPhone": "4155550100"}) == ()


PUNCTUATION = st.sampled_from([" ", "(", ")", ".", "-", "/", "  "])


@settings(max_examples=300, deadline=None)
@given(
    digits=st.from_regex(r"\A[2-9][0-9]{9}\Z"),
    one=st.booleans(),
    plus=st.booleans(),
    marks=st.lists(st.tuples(st.integers(0, 11), PUNCTUATION), max_size=4),
)
def test_a_phone_rendered_in_its_own_shape_is_its_text(
    digits: str, one: bool, plus: bool, marks: list[tuple[int, str]]
) -> None:
    """Whatever punctuation a US phone is written with, the phone it is compared as, written in
    its shape, is the text (trimmed) the file holds: what a plan searches for."""
    chars = list(("1" if one else "") + digits)
    for at, mark in sorted(marks, reverse=True):
        chars.insert(min(at, len(chars)), mark)
    text = ("+" if plus else "") + "".join(chars)
    compared = normalise_us_phone(text.strip())
    s = shape(text)
    if compared is None or s is None or s == UNKNOWN:
        return
    assert compared == digits
    assert render(compared, s) == text.strip()
    e164 = normalise_e164(text) if plus else None
    if e164 is not None:
        assert render(e164, s) == text.strip()


def test_each_chunk_gets_the_shapes_of_its_phones() -> None:
    written = Written()
    written.phone(3, "(415) 555-0100")
    written.phone(4, "(415) 555-0101")
    written.phone(12, "(415) 555-0102")
    written.lead(13, ("+# ###-###-####",))
    written.phone(30, "415.555.0100")
    # chunks starting at lines 1, 10, 20, 25: the third has no formatted phone
    assert written.by_chunk([1, 10, 20, 25]) == [
        {"(###) ###-####"},
        {"(###) ###-####", "+# ###-###-####"},
        set(),
        {"###.###.####"},
    ]
    written.phone(5, "(415) 555-0100")  # out of order: nothing is known
    assert written.by_chunk([1, 10]) == [{UNKNOWN}, {UNKNOWN}]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="0123456789()-. ,x+", max_size=30), min_size=1, max_size=20),
    needles=st.sets(st.from_regex(r"\A[0-9]{3,5}\Z"), min_size=1, max_size=4),
    shape_text=st.sampled_from(["(###) ##", "##.###", "+# ###", "### - ##"]),
)
def test_the_shaped_scan_finds_what_a_search_for_each_rendering_finds(
    lines: list[str], needles: set[str], shape_text: str
) -> None:
    """partial._scan_shaped answers as a search for each needle written in the shape does."""
    text = "".join(line + "\n" for line in lines).encode()
    spans = [(0, len(text))]
    texts = {t for n in needles if (t := render(n, shape_text)) is not None}
    searched = any(text.find(t.encode()) >= 0 for t in texts)
    digits = {n.encode() for n in needles}
    assert partial._scan_shaped(text, spans, shape_text, digits) is searched
    assert pattern("(#)") == rb"\([0-9]\)"
