"""The lead-set JSON Schema: loaded from the package (wheel) or the checkout's schemas/ folder."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_NAME = "leadset.schema.json"
CONFIG_SCHEMA_NAME = "config.schema.json"
DNC_SCHEMA_NAME = "donotcall.schema.json"


def schema_path(name: str = SCHEMA_NAME) -> Path:
    """Where a schema lives: inside an installed wheel, or schemas/ beside the package."""
    packaged = resources.files("engage_sync") / "schemas" / name
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "schemas" / name


@lru_cache(maxsize=1)
def config_validator() -> jsonschema.Draft202012Validator:
    """Validates engage-sync.yaml."""
    with schema_path(CONFIG_SCHEMA_NAME).open(encoding="utf-8") as f:
        return jsonschema.Draft202012Validator(json.load(f))


@lru_cache(maxsize=1)
def leadset_schema() -> dict[str, Any]:
    with schema_path().open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@lru_cache(maxsize=1)
def document_validator() -> jsonschema.Draft202012Validator:
    """Validates a whole lead-set document (with its leads)."""
    return jsonschema.Draft202012Validator(leadset_schema())


def definition(name: str) -> dict[str, Any]:
    result: dict[str, Any] = leadset_schema()["$defs"][name]
    return result


@lru_cache(maxsize=1)
def do_not_call_validator() -> jsonschema.Draft202012Validator:
    """Validates a do-not-call list document (its entries are checked one by one as they
    stream: donotcall_entry)."""
    with schema_path(DNC_SCHEMA_NAME).open(encoding="utf-8") as f:
        return jsonschema.Draft202012Validator(json.load(f))


@lru_cache(maxsize=1)
def do_not_call_entry() -> dict[str, Any]:
    schema = do_not_call_validator().schema
    assert isinstance(schema, dict)
    entry: dict[str, Any] = schema["$defs"]["entry"]
    return entry
