"""engage-sync.yaml, read and checked; each setting's flag, environment variable, key and default
are in the settings table (settings/table.py), read in its one order (settings.resolve)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from yaml.nodes import MappingNode

from .display import printable
from .donotcall.phones import known_region
from .errors import ConfigError, InputError
from .leadsets.boundary import check_file
from .leadsets.documents import Converter, TabIndented, compose_text, tab_lines
from .leadsets.schema import config_validator
from .model import engage_service, target_of
from .optouts.calendar import OptOutRules, check_country
from .settings import chosen
from .settings import table as settings

# the defaults by the names the rest of the code knows them (declared in the settings table)
CONFIG_FILE: str = settings.CONFIG.default
DEFAULT_BASE_URL: str = settings.BASE_URL.default
DEFAULT_STATE: str = settings.STATE.default
DEFAULT_LEADSETS: str = settings.LEADSETS.default

# engage-sync.yaml's names for the fields of Rails and Config (the defaults live in the classes)
_RAILS = {
    "maxUpdateFraction": "max_update_fraction",
    "minAppliedForUpdateRail": "min_applied_for_update_rail",
    "maxCreates": "max_creates",
    "maxImmediateLeads": "max_immediate_leads",
    "maxPruneFraction": "max_prune_fraction",
    "minAppliedForPruneRail": "min_applied_for_prune_rail",
}
_SETTINGS = {
    "account": "account",
    "baseUrl": "base_url",
    "options": "options",
    "state": "state",
    "leadsets": "leadsets",
    "batchSize": "batch_size",
    "rateLimits": "rate_limits",
    "prune": "prune",
    "pruneAction": "prune_action",
    "lookupDelay": "lookup_delay",
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
    prune: bool = settings.PRUNE.default  # the default for lead sets that do not say: opt in
    prune_action: str = settings.PRUNE_ACTION.default
    lookup_delay: float | None = None  # seconds before looking up leads whose answer was lost
    opt_outs: OptOutRules = field(default_factory=OptOutRules)
    # the file as read (absent: {}), for the plan to show a change to it (None: not tracked)
    settings: Mapping[str, Any] | None = None

    def target(self, account: str | None = None) -> str:
        """Where a campaign's leads go: its lead set's account (else this one) at the Engage
        service of the base URL (model.target_of); the state records it per campaign."""
        service = engage_service(self.base_url or DEFAULT_BASE_URL)
        return target_of(account or self.account, service)


def aimed(
    config: Config,
    account: str | None = None,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """The account and base URL a command works with: flag > environment > engage-sync.yaml (the
    same order `connect` uses to reach Engage, so a plan and an apply agree on the target)."""
    return replace(
        config,
        account=str(chosen(settings.ACCOUNT, account, config.account, env) or "") or None,
        base_url=chosen(settings.BASE_URL, base_url, config.base_url, env),
    )


def load_config(explicit: str | None = None, cwd: Path | None = None) -> Config:
    """Read engage-sync.yaml (or the file named by --config); absent means all defaults. Every
    problem is reported at once, each as FILE:LINE: setting: what is wrong (schemas/config)."""
    path = Path(explicit) if explicit else (cwd or Path.cwd()) / CONFIG_FILE
    if not explicit and path.is_symlink():  # the repository's own: not a way out of it
        try:
            check_file(path, CONFIG_FILE, path.parent.resolve())
        except InputError as e:
            raise ConfigError(str(e)) from e
    if not path.exists():
        if explicit:
            raise ConfigError(f"{explicit}: config file not found")
        return Config(settings={})
    shown = str(path) if explicit else CONFIG_FILE
    data, lines = _read(path, shown)
    if data is None:
        return Config(path=path, settings={})
    problems = []
    for error in config_validator().iter_errors(data):
        where = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            extras = [e for e in error.instance if e not in error.schema.get("properties", {})]
            where = (*where, extras[0]) if extras else where
            message = f"unknown setting; known: {', '.join(sorted(error.schema['properties']))}"
        else:
            message = error.message
        name = printable(".".join(map(str, where))) or "(top level)"  # a key is the file's
        line = lines.get(where) or lines.get(where[:1], 1)
        problems.append((line, f"{shown}:{line}: {name}: {printable(message)}"))
    problems += _opt_out_problems(data.get("optOuts"), lines, shown)
    if problems:
        raise ConfigError("\n".join(text for _, text in sorted(problems)))
    settings = {_SETTINGS[k]: v for k, v in data.items() if k in _SETTINGS}
    if settings.get("account") is not None:
        settings["account"] = str(settings["account"])
    rails = Rails(**{_RAILS[k]: v for k, v in (data.get("rails") or {}).items()})
    return Config(
        path=path,
        rails=rails,
        opt_outs=OptOutRules.of(data.get("optOuts")),
        settings=json.loads(json.dumps(data, default=str)),  # plain JSON, as the state keeps it
        **settings,
    )


def _opt_out_problems(
    raw: object, lines: Mapping[tuple[object, ...], int], shown: str
) -> list[tuple[int, str]]:
    """What the schema cannot check of `optOuts:`: a known country, time zone and real dates."""
    if not isinstance(raw, dict):
        return []
    found: list[tuple[int, str]] = []

    def add(where: tuple[object, ...], message: str) -> None:
        line = lines.get(where) or lines.get(("optOuts",), 1)
        found.append((line, f"{shown}:{line}: {'.'.join(map(str, where))}: {message}"))

    country, subdivision = raw.get("country", "US"), raw.get("subdivision")
    if isinstance(country, str) and (subdivision is None or isinstance(subdivision, str)):
        why = check_country(country, subdivision)
        if why:
            add(("optOuts", "subdivision" if "subdivision" in why else "country"), why)
    zone = raw.get("timezone")
    if isinstance(zone, str):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            add(
                ("optOuts", "timezone"),
                f"{zone!r} is not an IANA time zone (e.g. America/New_York)",
            )
    region = raw.get("phoneRegion")
    if isinstance(region, str) and len(region) == 2 and not known_region(region):
        add(("optOuts", "phoneRegion"), f"{region!r} is not a region phone numbers are known for")
    for i, day in enumerate(raw.get("closed") or []):
        try:
            date.fromisoformat(str(day))
        except ValueError:
            add(("optOuts", "closed", i), f"{day!r} is not a date (YYYY-MM-DD)")
    return found


def _read(path: Path, shown: str) -> tuple[dict[str, Any] | None, dict[tuple[object, ...], int]]:
    """The settings as data, and the line of each (keys and values keep what was written:
    `account: 00123` stays text)."""
    try:
        root = compose_text(path, shown)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        tabs = tab_lines(path, mark.line + 1) if mark is not None else ()
        if tabs:
            raise ConfigError(str(TabIndented(shown, tabs))) from e
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{shown}{line}: invalid YAML: {e.problem or e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{shown}: invalid YAML: {e}") from e
    except InputError as e:
        raise ConfigError(str(e)) from e
    if root is None:
        return None, {}
    if not isinstance(root, MappingNode):
        raise ConfigError(f"{shown}:{root.start_mark.line + 1}: the top level must be a mapping")
    conv = Converter(shown, _wants_text)
    try:
        data = conv.convert(root)
    except InputError as e:
        raise ConfigError(str(e)) from e
    assert isinstance(data, dict)
    return data, conv.lines


def _wants_text(where: tuple[object, ...]) -> bool:
    """Where a plain scalar keeps what was written: `account: 00123`, `country: NO` (Norway,
    not false), dates."""
    return where == ("account",) or (
        where[:1] == ("optOuts",)
        and where[1:2]
        in (("country",), ("subdivision",), ("timezone",), ("closed",), ("phoneRegion",))
    )
