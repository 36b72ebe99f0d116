"""Lead-set files in: find, parse, validate and stream them, every problem with file:line.

sources.py    lead-set files: discover, parse, group by campaign, stream leads
boundary.py   which files may be read: regular files inside the repository
documents.py  YAML/JSON composed by libyaml, with line numbers and exact scalar text
readers.py    inline leads, CSV and JSON Lines leadsFiles, streamed
fields.py     per-field rules of the API, phone normalisation, the compiled CSV fast path
exports.py    what spreadsheet exports do: the CSV separator, numbers Excel shortened
problems.py   the problems found, the hashed duplicate check and its exact re-check
schema.py     the lead-set JSON Schema
"""

from __future__ import annotations

from .problems import DUPLICATE_EFFECT, Sink
from .sources import (
    SUFFIXES,
    Source,
    by_campaign,
    campaign_leads,
    discover,
    group,
    iter_leads,
    leads_file_source,
    load_source,
    load_sources,
    shown_path,
    stream,
)

__all__ = [
    "DUPLICATE_EFFECT",
    "SUFFIXES",
    "Sink",
    "Source",
    "by_campaign",
    "campaign_leads",
    "discover",
    "group",
    "iter_leads",
    "leads_file_source",
    "load_source",
    "load_sources",
    "shown_path",
    "stream",
]
