"""The state store's contract, held by both backends: files, and S3 objects on moto's server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import S3Served

from engage_sync.store import Conflict, FileStore, Item, S3Settings, Store, StoreError
from engage_sync.store.s3 import S3Store


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "file":
        yield FileStore.beside(tmp_path / "engage-sync.state.json")
        return
    served: S3Served = request.getfixturevalue("s3_server")
    yield S3Store(S3Settings(served.bucket, "team/engage-sync.state.json"))


def test_the_s3_server_refuses_what_s3_refuses(s3_server: S3Served) -> None:
    """The emulator really does conditional writes (moto 5.1.5 on): this suite fakes none."""
    from botocore.exceptions import ClientError

    c, b = s3_server.client, s3_server.bucket
    first = c.put_object(Bucket=b, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    for condition in ({"IfNoneMatch": "*"}, {"IfMatch": '"0123456789abcdef0123456789abcdef"'}):
        with pytest.raises(ClientError) as e:
            c.put_object(Bucket=b, Key="k", Body=b"2", **condition)
        assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    c.put_object(Bucket=b, Key="k", Body=b"3", IfMatch=first)
    assert s3_server.read("k") == b"3"


def test_absent_items_read_as_none(store: Store) -> None:
    for item in Item:
        assert store.read(item) is None
        assert not store.exists(item)
        store.delete(item)  # absent already is fine


def test_a_swap_replaces_only_the_revision_read(store: Store) -> None:
    first = store.swap(Item.STATE, b"one\n", None)
    blob = store.read(Item.STATE)
    assert blob is not None and blob.data == b"one\n" and blob.revision == first
    second = store.swap(Item.STATE, b"two\n", first)
    if isinstance(store, FileStore):  # the lock keeps writers apart; git keeps each copy
        assert store.swap(Item.STATE, b"three\n", first) == ""
        return
    with pytest.raises(Conflict, match="changed since this run read it"):
        store.swap(Item.STATE, b"three\n", first)  # another run wrote `two` meanwhile
    with pytest.raises(Conflict):
        store.swap(Item.STATE, b"three\n", None)  # "there is none" no longer holds
    assert store.read(Item.STATE) == type(blob)(b"two\n", second)


def test_a_retried_swap_that_meets_its_own_write_is_not_a_conflict(store: Store) -> None:
    first = store.swap(Item.STATE, b"one\n", None)
    store.swap(Item.STATE, b"two\n", first)
    again = store.swap(Item.STATE, b"two\n", first)  # its first answer was lost
    blob = store.read(Item.STATE)
    assert blob is not None and blob.data == b"two\n" and again == blob.revision


def test_a_state_written_piece_by_piece_is_whole_and_its_retry_recognised(store: Store) -> None:
    first = store.swap(Item.STATE, iter([b"one", b" piece\n"]), None)
    second = store.swap(Item.STATE, iter([b"two", b" pieces\n"]), first)
    again = store.swap(Item.STATE, iter([b"two", b" pieces\n"]), first)  # answer lost
    blob = store.read(Item.STATE)
    assert blob is not None and blob.data == b"two pieces\n"
    assert again == second == blob.revision


def test_create_writes_only_where_there_is_none(store: Store) -> None:
    assert store.create(Item.LOCK, b'{"id": "a"}')
    assert not store.create(Item.LOCK, b'{"id": "b"}')
    assert store.read(Item.LOCK).data == b'{"id": "a"}'  # type: ignore[union-attr]
    store.delete(Item.LOCK)
    assert store.create(Item.LOCK, b'{"id": "b"}')


def test_the_journal_reads_back_as_its_records_in_order(store: Store) -> None:
    out = store.appender(Item.JOURNAL)
    records = [b'{"n":%d}\n' % n for n in range(12)]
    for record in records:
        out.write(record)
    out.close()
    assert store.exists(Item.JOURNAL)
    assert store.read(Item.JOURNAL).data == b"".join(records)  # type: ignore[union-attr]
    kept = store.set_aside(Item.JOURNAL, ".damaged")
    assert kept.endswith(".journal.damaged")
    assert not store.exists(Item.JOURNAL)
    again = store.appender(Item.JOURNAL)
    again.write(records[0])
    again.close()
    store.delete(Item.JOURNAL)
    assert store.read(Item.JOURNAL) is None


def test_appending_drops_a_torn_tail_or_ends_a_whole_last_line(store: Store) -> None:
    store.append(Item.LEDGER, b"a\n", None, torn=False)
    blob = store.read(Item.LEDGER)
    assert blob is not None
    store.append(Item.LEDGER, b"b\n", blob.revision, torn=False)
    assert store.read(Item.LEDGER).data == b"a\nb\n"  # type: ignore[union-attr]
    if isinstance(store, FileStore):
        store.path(Item.LEDGER).write_bytes(b"a\nb\nhalf")
    else:
        store.replace(Item.LEDGER, b"a\nb\nhalf")
    blob = store.read(Item.LEDGER)
    assert blob is not None
    store.append(Item.LEDGER, b"c\n", blob.revision, torn=True)
    blob = store.read(Item.LEDGER)
    assert blob is not None and blob.data == b"a\nb\nc\n"
    store.replace(Item.LEDGER, b"a\nwhole")
    blob = store.read(Item.LEDGER)
    assert blob is not None
    store.append(Item.LEDGER, b"d\n", blob.revision, torn=False)
    assert store.read(Item.LEDGER).data == b"a\nwhole\nd\n"  # type: ignore[union-attr]


def test_the_tail_is_the_last_lines_and_where_they_start(store: Store) -> None:
    assert store.tail(Item.LEDGER, 2) is None
    store.replace(Item.LEDGER, b"".join(b"line %d\n" % n for n in range(5000)) + b"half")
    tail = store.tail(Item.LEDGER, 2)
    assert tail is not None and tail.data == b"line 4998\nline 4999\nhalf"
    whole = store.read(Item.LEDGER)
    assert whole is not None and whole.data[tail.start :] == tail.data
    assert tail.revision == whole.revision
    store.replace(Item.LEDGER, b"a\nb\n")
    assert store.tail(Item.LEDGER, 5) == type(tail)(b"a\nb\n", 0, store.read(Item.LEDGER).revision)  # type: ignore[union-attr]


def test_the_ledger_in_a_bucket_appends_once_and_names_damage_by_its_line(
    s3_server: S3Served,
) -> None:
    from engage_sync.optouts import ledger

    store = S3Store(S3Settings(s3_server.bucket, "engage-sync.state.json"))
    n = ledger.RECENT + 5
    entries = [{"campaign": 1, "externId": f"e{i}", "requested": "2026-01-05"} for i in range(n)]
    assert ledger.append(store, entries) == n
    assert ledger.append(store, [entries[-1], {**entries[0], "externId": "new"}]) == 1
    assert [e["externId"] for e in ledger.read(store)][-2:] == [f"e{n - 1}", "new"]
    lines = s3_server.read("engage-sync.evidence.jsonl").split(b"\n")
    lines[n - 1] = b"damaged"  # among the last lines an append reads, not at their start
    store.replace(Item.LEDGER, b"\n".join(lines))
    with pytest.raises(ledger.DamagedLedger, match=rf"evidence\.jsonl:{n}: "):
        ledger.append(store, [{**entries[0], "externId": "later"}])


def test_an_append_over_a_ledger_changed_meanwhile_writes_nothing(s3_server: S3Served) -> None:
    store = S3Store(S3Settings(s3_server.bucket, "engage-sync.state.json"))
    store.append(Item.LEDGER, b"a\n", None, torn=False)
    read = store.read(Item.LEDGER)
    assert read is not None
    store.append(Item.LEDGER, b"b\n", read.revision, torn=False)  # another run, meanwhile
    with pytest.raises(Conflict):
        store.append(Item.LEDGER, b"c\n", read.revision, torn=False)
    assert s3_server.read("engage-sync.evidence.jsonl") == b"a\nb\n"


def test_the_items_of_an_s3_state_sit_beside_its_key(s3_server: S3Served) -> None:
    store = S3Store(S3Settings(s3_server.bucket, "team/prod.state.json"))
    where = {item: store.where(item) for item in Item}
    assert where == {
        Item.STATE: "s3://engage-state/team/prod.state.json",
        Item.JOURNAL: "s3://engage-state/team/prod.state.json.journal",
        Item.LOCK: "s3://engage-state/team/prod.state.json.lock",
        Item.LEDGER: "s3://engage-state/team/prod.evidence.jsonl",
        Item.PACING: "s3://engage-state/team/prod.state.json.pacing",
    }
    out = store.appender(Item.JOURNAL)
    out.write(b"x\n")
    out.write(b"y\n")
    assert s3_server.listed("team/") == [
        "team/prod.state.json.journal/000000001",
        "team/prod.state.json.journal/000000002",
    ]
    assert store.local_file() is None


def test_a_second_writer_of_one_journal_is_stopped(s3_server: S3Served) -> None:
    store = S3Store(S3Settings(s3_server.bucket, "engage-sync.state.json"))
    store.appender(Item.JOURNAL).write(b"mine\n")
    with pytest.raises(StoreError, match="another run is writing this journal"):
        store.appender(Item.JOURNAL).write(b"theirs\n")
    assert store.read(Item.JOURNAL).data == b"mine\n"  # type: ignore[union-attr]


def test_a_missing_bucket_is_one_clear_error_naming_it(s3_server: S3Served) -> None:
    store = S3Store(S3Settings("no-such-bucket", "engage-sync.state.json"))
    with pytest.raises(StoreError) as e:
        store.read(Item.STATE)
    assert str(e.value).startswith(
        "s3://no-such-bucket/engage-sync.state.json: cannot read state: NoSuchBucket"
    )
    assert "moto-secret-access-key" not in str(e.value)
