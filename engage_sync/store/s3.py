"""The state in an S3-compatible object store, with conditional writes as lock and compare-and-swap.

As Terraform's S3 backend does since it dropped DynamoDB: the lock is an object created with
`If-None-Match: *` (a second run's PUT fails with 412 while it is there), and the state is
replaced with `If-Match: <the ETag read>` (a run that lost the race gets 412 and writes nothing).
The journal of an apply is one object per record under `<key>.journal/` (each PUT durable and
whole: a record is never torn), the evidence ledger one object appended to by a compare-and-swap,
and the pacing memory one object. Credentials, and the endpoint of a store other than AWS, come
from the usual AWS environment (`AWS_ENDPOINT_URL_S3`), never from engage-sync.yaml: docs/state.md.

boto3 is an optional extra (`pip install 'engage-sync[s3]'`), imported when the store is first
used. A PUT whose answer was lost is retried by botocore; a retried conditional PUT that meets its
own first attempt (412) is recognised by reading the object back and comparing its bytes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import posixpath
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError
from .base import Blob, Conflict, Item, StoreError, Tail
from .files import last_lines, ledger_path

JOURNAL_DIGITS = 9
_NOUNS = {
    Item.STATE: "state",
    Item.JOURNAL: "journal",
    Item.LOCK: "lock",
    Item.LEDGER: "the evidence ledger",
    Item.PACING: "pacing memory",
}
ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


@dataclass(frozen=True, slots=True)
class S3Settings:
    """engage-sync.yaml `state: {backend: s3, bucket, key, region}`."""

    bucket: str
    key: str
    region: str | None = None


def client(settings: S3Settings) -> Any:
    """A boto3 S3 client from the usual AWS environment (credentials, profile, endpoint)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError(
            "state: the s3 backend needs boto3: pip install 'engage-sync[s3]'"
        ) from None
    region = settings.region or os.environ.get("AWS_REGION") or None
    # an S3-compatible store named by an endpoint (MinIO, a local server) is addressed by path
    style = "path" if any(os.environ.get(v) for v in ENDPOINT_VARS) else "auto"
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        s3={"addressing_style": style},
        connect_timeout=10,
        read_timeout=60,
    )
    return boto3.client("s3", region_name=region, config=config)


class S3Store:
    def __init__(self, settings: S3Settings, s3: Any = None) -> None:
        self.settings = settings
        self._s3 = s3
        key = settings.key
        self.keys = {
            Item.STATE: key,
            Item.JOURNAL: key + ".journal",
            Item.LOCK: key + ".lock",
            Item.PACING: key + ".pacing",
            Item.LEDGER: posixpath.join(
                posixpath.dirname(key), ledger_path(Path(posixpath.basename(key))).name
            ),
        }

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = client(self.settings)
        return self._s3

    def __repr__(self) -> str:
        return f"S3Store({self.where(Item.STATE)})"

    def where(self, item: Item) -> str:
        return f"s3://{self.settings.bucket}/{self.keys[item]}"

    def restore(self, item: Item) -> str:
        what = (
            "the damaged line from an earlier version"
            if item is Item.LEDGER
            else ("an earlier version of it")
        )
        return (
            f"restore {what} (with the bucket's versioning on, `aws s3api "
            f"list-object-versions --bucket {self.settings.bucket} --prefix {self.keys[item]}` "
            "lists them: docs/state.md)"
        )

    def local_file(self) -> Path | None:
        return None

    # -- plain objects ---------------------------------------------------------------------------
    def read(self, item: Item) -> Blob | None:
        if item is Item.JOURNAL:
            return self._read_records(item)
        return self._get(item, self.keys[item])

    def exists(self, item: Item) -> bool:
        if item is Item.JOURNAL:
            return bool(self._records(item, limit=1))
        try:
            self.s3.head_object(Bucket=self.settings.bucket, Key=self.keys[item])
        except _errors() as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(item, "cannot read", e) from e
        return True

    def tail(self, item: Item, lines: int) -> Tail | None:
        # an object is replaced whole to append to it: its whole is read anyway
        blob = self._get(item, self.keys[item])
        if blob is None:
            return None
        start, data = last_lines(io.BytesIO(blob.data), lines)
        return Tail(data, start, blob.revision)

    def swap(self, item: Item, data: bytes | Iterable[bytes], over: str | None) -> str:
        condition = {"IfMatch": over} if over is not None else {"IfNoneMatch": "*"}
        with _spooled(data) as (body, digest):
            try:
                answer = self.s3.put_object(
                    Bucket=self.settings.bucket, Key=self.keys[item], Body=body, **condition
                )
            except _errors() as e:
                if _code(e) not in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                    raise self._error(item, "cannot write", e) from e
                now = self._get(item, self.keys[item])
                if now is not None and hashlib.sha256(now.data).digest() == digest:
                    return now.revision  # our own retried PUT
                raise Conflict(
                    f"{self.where(item)}: the {_NOUNS[item]} changed since this run read it "
                    "(another run wrote it, or the lock was removed while a run held it): "
                    "nothing was overwritten"
                ) from e
        return str(answer["ETag"])

    def replace(self, item: Item, data: bytes | Iterable[bytes]) -> None:
        with _spooled(data) as (body, _):
            try:
                self.s3.put_object(Bucket=self.settings.bucket, Key=self.keys[item], Body=body)
            except _errors() as e:
                raise self._error(item, "cannot write", e) from e

    def create(self, item: Item, data: bytes) -> bool:
        return self._create(item, self.keys[item], data)

    def delete(self, item: Item) -> None:
        keys = [k for k, _ in self._records(item)] if item is Item.JOURNAL else [self.keys[item]]
        try:
            for at in range(0, len(keys), 1000):
                objects = [{"Key": k} for k in keys[at : at + 1000]]
                self.s3.delete_objects(
                    Bucket=self.settings.bucket, Delete={"Objects": objects, "Quiet": True}
                )
        except _errors() as e:
            raise self._error(item, "cannot delete", e) from e

    def append(self, item: Item, data: bytes, over: str | None, torn: bool) -> None:
        now = self._get(item, self.keys[item])
        if (now.revision if now is not None else None) != over:
            raise Conflict(f"{self.where(item)}: changed since this run read it: nothing written")
        old = now.data if now is not None else b""
        if old and not old.endswith(b"\n"):
            old = old[: old.rfind(b"\n") + 1] if torn else old + b"\n"
        self.swap(item, old + data, over)

    def appender(self, item: Item) -> _RecordAppender:
        return _RecordAppender(self, item)

    def set_aside(self, item: Item, suffix: str) -> str:
        blob = self.read(item)
        kept = self.keys[item] + suffix
        if blob is not None:
            try:
                self.s3.put_object(Bucket=self.settings.bucket, Key=kept, Body=blob.data)
            except _errors() as e:
                raise self._error(item, "cannot move it aside", e) from e
        self.delete(item)
        return f"s3://{self.settings.bucket}/{kept}"

    # -- the journal: one object per record ------------------------------------------------------
    def record_key(self, item: Item, number: int) -> str:
        return f"{self.keys[item]}/{number:0{JOURNAL_DIGITS}d}"

    def _records(self, item: Item, limit: int | None = None) -> list[tuple[str, int]]:
        prefix = self.keys[item] + "/"
        found: list[tuple[str, int]] = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    found.append((str(obj["Key"]), int(obj["Size"])))
                    if limit is not None and len(found) >= limit:
                        return found
        except _errors() as e:
            raise self._error(item, "cannot read", e) from e
        return sorted(found)

    def _read_records(self, item: Item) -> Blob | None:
        keys = self._records(item)
        if not keys:
            return None
        parts = []
        for key, _ in keys:
            blob = self._get(item, key)
            if blob is not None:  # deleted meanwhile: its run folded it
                parts.append(blob.data)
        return Blob(b"".join(parts))

    # -- one object --------------------------------------------------------------------------------
    def _get(self, item: Item, key: str) -> Blob | None:
        try:
            answer = self.s3.get_object(Bucket=self.settings.bucket, Key=key)
            body = answer["Body"]
            try:
                data = body.read()
            finally:
                body.close()
        except _errors() as e:
            if _code(e) in ("NoSuchKey", "404"):
                return None
            raise self._error(item, "cannot read", e) from e
        return Blob(data, str(answer["ETag"]))

    def _create(self, item: Item, key: str, data: bytes) -> bool:
        try:
            self.s3.put_object(Bucket=self.settings.bucket, Key=key, Body=data, IfNoneMatch="*")
        except _errors() as e:
            if _code(e) not in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                raise self._error(item, "cannot create", e) from e
            now = self._get(item, key)
            return now is not None and now.data == data  # our own retried PUT
        return True

    def _error(self, item: Item, doing: str, e: Exception) -> StoreError:
        return StoreError(f"{self.where(item)}: {doing} {_NOUNS[item]}: {_describe(e)}")


class _RecordAppender:
    """Each record one new object, `<key>.journal/000000001` on: created only where none is, so
    two writers never interleave unseen."""

    def __init__(self, store: S3Store, item: Item) -> None:
        self.store = store
        self.item = item
        self.number = 0

    def write(self, record: bytes) -> None:
        self.number += 1
        key = self.store.record_key(self.item, self.number)
        if not self.store._create(self.item, key, record):
            raise StoreError(
                f"{self.store.where(self.item)}: record {self.number} is there already: another "
                "run is writing this journal; nothing more is written"
            )

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _spooled(data: bytes | Iterable[bytes]) -> Iterator[tuple[IO[bytes], bytes]]:
    """What is to be written, as one seekable body and its SHA-256: pieces go to a temporary
    file as they come (on disk past 8 MB), so a large state is never whole in memory here."""
    if isinstance(data, bytes):
        yield io.BytesIO(data), hashlib.sha256(data).digest()
        return
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as body:
        for piece in data:
            digest.update(piece)
            body.write(piece)
        body.seek(0)
        yield body, digest.digest()


@functools.cache
def _errors() -> tuple[type[Exception], ...]:
    """What boto3 raises for an answer or a failure to get one (not a bug of ours)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _code(e: Exception) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _describe(e: Exception) -> str:
    """What went wrong, in one line and without anything secret (botocore's messages name the
    bucket, the key and the operation, never a credential)."""
    code = _code(e)
    if code:
        message = getattr(e, "response", {}).get("Error", {}).get("Message", "")
        return f"{code} ({message})" if message else code
    name = type(e).__name__
    if name == "NoCredentialsError":
        return (
            "no AWS credentials found: set them in the environment the usual way "
            "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role)"
        )
    return f"{name}: {e}"
