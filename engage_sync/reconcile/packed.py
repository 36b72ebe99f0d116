"""A batch's leads while they wait for their do-not-call look-up and while they fly (issue #34,
item 2): held as the loader call's body, encoded (engage/upload.py), not as `Lead`s.

An apply holds about 30 calls of 500 leads in flight (the burst the documented limits allow) and
16 look-ups of 1,000 phones ahead of them; as `Lead`s (a tuple of every value, the strings the
reader made, the request rows) that was a kilobyte a lead and most of what the apply held above
its plan. Packed, a lead is its row's JSON, its digest and its line; the `Lead`s are made again,
exactly (`Lead.from_request`), when an answer is read or a look-up needs them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..engage.leads import phone_key
from ..engage.upload import Upload
from ..model import PHONE_FIELDS, Lead


@dataclass(frozen=True, slots=True)
class Packed:
    upload: Upload  # what the call sends: the options and each lead's row
    files: str | tuple[str, ...]  # the leads' file, or each lead's where they differ
    lines: array[int]
    digests: bytes  # each lead's digest, one a line (a str each was 65 bytes a lead)
    phones: frozenset[str]  # phone keys: batches sharing one never fly together (loader.py)

    @classmethod
    def of(cls, leads: Sequence[Lead], options: Mapping[str, Any]) -> Packed:
        files = {lead.file for lead in leads}
        return cls(
            Upload.of(options, (lead.to_request() for lead in leads)),
            files.pop() if len(files) == 1 else tuple(lead.file for lead in leads),
            array("q", (lead.line for lead in leads)),
            "\n".join(lead.digest for lead in leads).encode(),
            phones_of(leads),
        )

    def __len__(self) -> int:
        return self.upload.count

    @property
    def extern_ids(self) -> tuple[str, ...]:
        return self.upload.extern_ids

    def leads(self) -> list[Lead]:
        """The leads packed, as they were."""
        files = self.files
        digests = self.digests.decode().split("\n") if self.digests else []
        return [
            Lead.from_request(row, files if isinstance(files, str) else files[i], line, digest)
            for i, (row, line, digest) in enumerate(
                zip(self.upload.rows(), self.lines, digests, strict=True)
            )
        ]


def unpacked(leads: Packed | list[Lead]) -> list[Lead]:
    return leads.leads() if isinstance(leads, Packed) else leads


def phones_of(leads: Iterable[Lead]) -> frozenset[str]:
    """The phone keys of these leads' phone fields."""
    found: set[str] = set()
    for lead in leads:
        for name, value in zip(lead.names, lead.values, strict=True):
            if name in PHONE_FIELDS:
                found.update(p for p in phone_key(value).split("|") if p)
    return frozenset(found)
