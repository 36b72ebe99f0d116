"""One loader call's body, encoded once, when its batch is made (issue #34, item 2).

A call's leads were held as request rows (a dict each) for as long as it was in flight, and
encoded in the thread that sent it: the JSON encoder holds a list of every token it writes until
it joins them, several MB for 500 leads, and with 30 calls in flight several threads did so at
once, each in its own malloc arena. Now the caller encodes each row as it is made and joins the
bytes; what flies is those bytes (the request exactly as httpx would have encoded it) and the
externIds sent, which the answer is read against. The rows come back from the bytes one at a
time when a message must be redacted of what the call carried (`parts`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# httpx's own JSON encoding (httpx/_content.py encode_json): the bytes on the wire do not change
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_ROWS = "uploadLeads"


@dataclass(frozen=True, slots=True)
class Upload:
    content: bytes  # the JSON body
    extern_ids: tuple[str, ...]  # of the rows that carry one, in order
    count: int  # rows sent
    rows_at: int = -1  # where the rows start in `content` (encoded by `of`), or -1

    @classmethod
    def of(cls, options: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> Upload:
        """The body `{**options, "uploadLeads": rows}`, encoding one row at a time."""
        # uploadLeads last, whatever the options hold: its list ends the body
        head = _ENCODE({**{k: v for k, v in options.items() if k != _ROWS}, _ROWS: []})
        parts: list[bytes] = []
        ids: list[str] = []
        for row in rows:
            parts.append(_ENCODE(row).encode())
            if row.get("externId") is not None:
                ids.append(str(row["externId"]))
        start = head[:-2].encode()
        content = b"".join((start, b",".join(parts), b"]}"))
        return cls(content, tuple(ids), len(parts), len(start) if parts else -1)

    @classmethod
    def of_body(cls, body: Mapping[str, Any]) -> Upload:
        """A body given whole (rows that are not objects are sent, not counted as leads)."""
        rows = body.get(_ROWS)
        leads = [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []
        ids = tuple(str(r["externId"]) for r in leads if r.get("externId") is not None)
        return cls(_ENCODE(dict(body)).encode(), ids, len(leads))

    def body(self) -> Any:
        """The body as it was sent, whole."""
        return json.loads(self.content)

    def rows(self) -> list[Any]:
        """The rows sent, decoded together (reconcile/packed.py: on the loader's own thread)."""
        if self.rows_at < 0:
            whole = self.body().get(_ROWS)
            return whole if isinstance(whole, list) else []
        rows: list[Any] = json.loads(b"[" + self.content[self.rows_at : -2] + b"]")
        return rows

    def parts(self) -> Iterator[Any]:
        """The body in parts, for what is found in each: its options (with no rows), then each
        row as `{"uploadLeads": [row]}`, decoded one at a time (a whole body of 500 decoded
        in each of several threads at once was what the encoding here saved)."""
        if self.rows_at < 0:
            yield self.body()
            return
        yield json.loads(self.content[: self.rows_at] + b"]}")
        text = self.content.decode()
        decode = json.JSONDecoder().raw_decode
        at, end = len(self.content[: self.rows_at].decode()), len(text) - 2
        while at < end:
            row, at = decode(text, at)
            yield {_ROWS: [row]}
            at += 1  # the comma
