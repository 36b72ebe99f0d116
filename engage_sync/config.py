"""Settings: command-line flag > environment variable > engage-sync.yaml > built-in default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .leadsets.documents import read_text

CONFIG_FILE = "engage-sync.yaml"
DEFAULT_BASE_URL = "https://ringcx.ringcentral.com/voice"  # NOTES.md, Hosts: the current name
DEFAULT_STATE = "engage-sync.state.json"
DEFAULT_LEADSETS = "leadsets"

_KNOWN = {
    "account",
    "baseUrl",
    "options",
    "state",
    "leadsets",
    "rails",
    "batchSize",
    "rateLimits",
    "prune",
    "pruneAction",
    "lookupDelay",
}
_RAILS = {
    "maxUpdateFraction",
    "minAppliedForUpdateRail",
    "maxCreates",
    "maxImmediateLeads",
    "maxPruneFraction",
    "minAppliedForPruneRail",
}


@dataclass(frozen=True, slots=True)
class Rails:
    """Safety-rail thresholds (engage-sync.yaml `rails:`)."""

    max_update_fraction: float = 0.30
    min_applied_for_update_rail: int = 10
    max_creates: int = 100_000
    max_immediate_leads: int = 1_000
    max_prune_fraction: float = 0.30
    min_applied_for_prune_rail: int = 10


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None
    account: str | None = None
    base_url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    state: str | None = None
    leadsets: str | None = None
    rails: Rails = field(default_factory=Rails)
    batch_size: int | None = None
    rate_limits: Mapping[str, Any] = field(default_factory=dict)
    prune: bool = False  # the default for lead sets that do not say (issue #10: opt in)
    prune_action: str = "cancel"
    lookup_delay: float | None = None  # seconds before looking up leads whose answer was lost


def load_config(explicit: str | None = None, cwd: Path | None = None) -> Config:
    """Read engage-sync.yaml (or the file named by --config); absent means all defaults."""
    path = Path(explicit) if explicit else (cwd or Path.cwd()) / CONFIG_FILE
    if not path.exists():
        if explicit:
            raise ConfigError(f"{explicit}: config file not found")
        return Config()
    shown = str(path) if explicit else CONFIG_FILE
    try:
        data = yaml.safe_load(read_text(path, shown))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{shown}{line}: invalid YAML: {getattr(e, 'problem', e)}") from e
    if data is None:
        return Config(path=path)
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: the top level must be a mapping")
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise ConfigError(f"{shown}: unknown setting(s): {', '.join(unknown)}")
    rails_raw = data.get("rails") or {}
    if not isinstance(rails_raw, dict) or set(rails_raw) - _RAILS:
        raise ConfigError(f"{shown}: rails: known settings are {', '.join(sorted(_RAILS))}")
    try:
        rails = Rails(
            max_update_fraction=float(rails_raw.get("maxUpdateFraction", 0.30)),
            min_applied_for_update_rail=int(rails_raw.get("minAppliedForUpdateRail", 10)),
            max_creates=int(rails_raw.get("maxCreates", 100_000)),
            max_immediate_leads=int(rails_raw.get("maxImmediateLeads", 1_000)),
            max_prune_fraction=float(rails_raw.get("maxPruneFraction", 0.30)),
            min_applied_for_prune_rail=int(rails_raw.get("minAppliedForPruneRail", 10)),
        )
        batch = data.get("batchSize")
        batch_size = int(batch) if batch is not None else None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{shown}: rails/batchSize must be numbers: {e}") from e
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{shown}: options must be a mapping")
    account = data.get("account")
    prune = data.get("prune", False)
    if not isinstance(prune, bool):
        raise ConfigError(f"{shown}: prune must be true or false")
    prune_action = data.get("pruneAction", "cancel")
    if prune_action not in ("cancel", "delete"):
        raise ConfigError(f"{shown}: pruneAction must be cancel or delete")
    return Config(
        path=path,
        account=str(account) if account is not None else None,
        base_url=data.get("baseUrl"),
        options=options,
        state=data.get("state"),
        leadsets=data.get("leadsets"),
        rails=rails,
        batch_size=batch_size,
        rate_limits=data.get("rateLimits") or {},
        prune=prune,
        prune_action=prune_action,
        lookup_delay=data.get("lookupDelay"),
    )


def pick(flag: Any, env_var: str | None, configured: Any, default: Any) -> Any:
    """Flag > environment > config file > default."""
    if flag is not None:
        return flag
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    if configured is not None:
        return configured
    return default
