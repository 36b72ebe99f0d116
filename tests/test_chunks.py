"""Content-defined chunks of a leadsFile (leadsets/chunks.py): they cover the file, end at row
ends, and an edit changes only the chunks around it."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engage_sync.leadsets import chunks


def rows(n: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    return [f"E{i:05d},415{rnd.randrange(10**7):07d},Ada{rnd.randrange(999)}" for i in range(n)]


def check_cover(path: Path, cut: chunks.Cut) -> None:
    data = path.read_bytes()
    assert cut.digest == hashlib.sha256(data).hexdigest()
    at, line = 0, 1
    for span in cut.spans:
        piece = data[span.start : span.end]
        assert (span.start, span.line) == (at, line)
        assert hashlib.sha256(piece).hexdigest()[:32] == span.sha
        assert span.lines == piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)
        assert piece.count(b'"') % 2 == 0  # never inside a quoted value
        at, line = span.end, line + span.lines
    assert at == len(data)


def test_chunks_cover_the_file_and_the_header_is_its_own(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("externId,leadPhone,firstName\n" + "\n".join(rows(5000)) + "\n")
    cut = chunks.cut(path, csv_file=True)
    assert cut is not None
    check_cover(path, cut)
    assert cut.spans[0].lines == 1 and cut.spans[0].end == len("externId,leadPhone,firstName\n")
    assert 8 < len(cut.spans) < 60  # about one line in 256 ends a chunk


def test_a_quoted_line_break_is_never_a_chunk_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "_MASK", 0)  # every line end is a candidate
    path = tmp_path / "a.csv"
    path.write_text('externId,firstName\nA,"two\nlines"\nB,one\nC,"three\nmore\nlines"\nD,x')
    cut = chunks.cut(path, csv_file=True)
    assert cut is not None
    check_cover(path, cut)
    assert [s.line for s in cut.spans] == [1, 2, 4, 5, 8]  # the last line has no line break


@pytest.mark.parametrize(
    ("text", "csv_file"),
    [
        ("externId,leadPhone\rA,1\r", True),  # lone carriage returns end lines for the readers
        ('"extern\nId",leadPhone\nA,1\n', True),  # a quoted line break in the header
        ('{"externId": "A"}\r{"externId": "B"}\n', False),
    ],
)
def test_files_the_readers_count_otherwise_are_not_chunked(
    tmp_path: Path, text: str, csv_file: bool
) -> None:
    path = tmp_path / "a.data"
    path.write_text(text, newline="")
    assert chunks.cut(path, csv_file) is None


@pytest.mark.parametrize("split", [4, 6])  # the first block ends with its "\r", or after it
def test_a_lone_carriage_return_stops_the_cut_where_it_is_met(split: int) -> None:
    """A file whose lines end in lone carriage returns is one long line to a cut that splits at
    line feeds: it was carried, copied again with each block, to the end of the file (time
    quadratic in its size). The first lone carriage return ends the cut."""
    rows_ = b"h,p\r" + b"".join(b"E%05d,4155550100\r" % i for i in range(20_000))
    read = []

    def blocks() -> Iterator[bytes]:
        for block in [rows_[:split], *_blocks(rows_[split:], 4096)]:
            read.append(block)
            yield block

    assert chunks._cut(blocks(), True) is None
    assert len(read) <= 2  # of about a hundred


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_a_crlf_split_between_blocks_is_one_line_end(block: int) -> None:
    """Blocks smaller than a line, one ending in its carriage return and the next starting with
    the line feed: the same cut as the file read whole."""
    data = ("h,p\r\n" + "".join(f"E{i},41555501{i % 100:02d}\r\n" for i in range(2000))).encode()
    whole = chunks._cut(iter([data]), True)
    assert whole is not None and len(whole.spans) > 2
    assert chunks._cut(iter(_blocks(data, block)), True) == whole


def test_crlf_files_are_chunked_and_a_backslash_is_noted_in_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    lines = [f'{{"externId": "E{i}", "firstName": "A{i}"}}' for i in range(3000)]
    lines[1234] = '{"externId": "E1234", "firstName": "A\\u0031"}'
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    cut = chunks.cut(path, csv_file=False)
    assert cut is not None
    check_cover(path, cut)
    escaped = [s for s in cut.spans if s.escaped]
    assert len(escaped) == 1 and escaped[0].line <= 1235 < escaped[0].line + escaped[0].lines


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), block=st.sampled_from([7, 64, 4096, 1 << 20]))
def test_an_edit_changes_only_the_chunks_around_it(
    tmp_path_factory: pytest.TempPathFactory, seed: int, block: int
) -> None:
    """Whatever the read block size, the same cut; an insert, delete or edit keeps every chunk
    but at most two (the one it is in, and one it may join)."""
    rnd = random.Random(seed)
    lines = rows(3000, seed)
    root = tmp_path_factory.mktemp("cut")
    path = root / "a.csv"
    path.write_text("h\n" + "\n".join(lines) + "\n")
    before = chunks._cut(iter(_blocks(path.read_bytes(), block)), True)
    assert before is not None
    assert before == chunks.cut(path, csv_file=True)
    i = rnd.randrange(len(lines))
    kind = rnd.choice(["insert", "delete", "edit"])
    if kind == "insert":
        lines.insert(i, "N1,4150000000,New")
    elif kind == "delete":
        del lines[i]
    else:
        lines[i] += "x"
    path.write_text("h\n" + "\n".join(lines) + "\n")
    after = chunks.cut(path, csv_file=True)
    assert after is not None
    check_cover(path, after)
    old = {s.sha for s in before.spans}
    assert sum(1 for s in after.spans if s.sha not in old) <= 2


def _blocks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_chunk_changed_since_it_was_cut_is_an_error_not_a_misread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engage_sync.errors import InputError
    from engage_sync.leadsets import Sink, readers
    from engage_sync.leadsets.fields import LeadContext

    path = tmp_path / "a.csv"
    monkeypatch.setattr(chunks, "_MASK", 15)
    path.write_text("externId,leadPhone\n" + "\n".join(r.rsplit(",", 1)[0] for r in rows(900)))
    cut = chunks.cut(path, csv_file=True)
    assert cut is not None and len(cut.spans) > 2
    sink, ctx = Sink(), LeadContext(None)
    track = sink.tracker(1, None, "a.csv")
    slow = readers.slow_path(ctx, sink, track)
    span = cut.spans[2]
    read = list(readers.csv_leads(path, "a.csv", sink, ctx, track, slow, (span,)))
    assert [lead.line for lead in read] == list(range(span.line, span.line + span.lines))
    data = bytearray(path.read_bytes())
    data[span.start] = ord("X")  # the same length, other bytes
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"a\.csv: changed while it was read"):
        list(readers.csv_leads(path, "a.csv", sink, ctx, track, slow, (span,)))
