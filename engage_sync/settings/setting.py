"""What a setting is, and the one order every setting is read in: command-line flag > environment
variable > engage-sync.yaml > built-in default."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..errors import ConfigError
from ..ratelimit import parse_limits


class Kind(enum.Enum):
    """What a setting's value is: how it is read from the environment and how it is said."""

    TEXT = "text"
    SECRET = "secret"  # from the environment only, never shown
    PATH = "path"
    CHOICE = "choice"
    INT = "integer"
    NUMBER = "number"
    SECONDS = "seconds"
    BYTES = "bytes"
    DATE = "date"  # YYYY-MM-DD
    LIMITS = "limits"  # COUNT/SECONDS,... (ratelimit.parse_limits)
    FLAG = "flag"  # true or false
    MAPPING = "mapping"  # a block of engage-sync.yaml with settings of its own


_NUMBERS = {
    Kind.INT: (int, "a number"),
    Kind.BYTES: (int, "a number of bytes"),
    Kind.NUMBER: (float, "a number"),
    Kind.SECONDS: (float, "a number of seconds"),
}


@dataclass(frozen=True, slots=True)
class Setting:
    """One row of the settings table (settings/table.py)."""

    name: str
    flag: str | None  # the command-line flag, on `commands`
    env: str | None  # the environment variable
    key: str | None  # in engage-sync.yaml, dotted where nested (rateLimits.loader)
    default: Any  # None: unset (`shown` says what that means)
    kind: Kind
    help: str  # what it is, as --help and docs/settings.md say it
    commands: tuple[str, ...] = ()  # the commands that take `flag` ("" is every command)
    low: float | None = None  # the least value accepted, from any source
    high: float | None = None
    choices: tuple[str, ...] = ()
    shown: str | None = None  # the default in words, where it is not a plain value

    @property
    def default_text(self) -> str:
        """The default as --help and the docs say it ("" when there is none to say)."""
        if self.shown is not None:
            return self.shown
        value = self.default
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, float):
            return f"{value:g}"
        if self.kind is Kind.LIMITS:
            return ",".join(f"{count}/{period:g}" for count, period in value)
        if self.kind is Kind.BYTES and value % (1 << 20) == 0:
            return f"{value} ({value >> 20} MiB)"
        return str(value)

    def help_text(self, note: str = "") -> str:
        """The flag's --help: what it is, then where else it is set and its default."""
        where = [f"env {self.env}"] if self.env else []
        if self.key:
            where.append(f"engage-sync.yaml {self.key}")
        if self.default_text:
            where.append(f"default: {self.default_text}")
        return f"{self.help}{note}" + (f" [{'; '.join(where)}]" if where else "") + "."


def chosen(
    setting: Setting,
    flag: Any = None,
    configured: Any = None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """What the user chose: the flag, else the environment variable, else engage-sync.yaml's
    value (`configured`), read as the setting's kind; None when none of them says. An empty or
    blank variable and an empty value in the file say nothing."""
    env = os.environ if env is None else env
    if flag is not None:
        return _read(setting, flag, setting.flag or setting.name)
    raw = env.get(setting.env, "") if setting.env else ""
    if raw.strip():
        return _read(setting, raw, str(setting.env))
    if configured is not None and configured != "":
        return _read(setting, configured, setting.key or setting.name)
    return None


def resolve(
    setting: Setting,
    flag: Any = None,
    configured: Any = None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """flag > environment > engage-sync.yaml > default: the value a run uses."""
    value = chosen(setting, flag, configured, env)
    return setting.default if value is None else value


def _read(setting: Setting, value: Any, where: str) -> Any:
    """`value` as the setting's kind, within its bounds, or a ConfigError naming `where`."""
    kind = setting.kind
    if kind is Kind.DATE:
        try:
            return date.fromisoformat(str(value))
        except ValueError as e:
            raise ConfigError(f"{where}={value!r} is not a date (YYYY-MM-DD)") from e
    if kind is Kind.LIMITS:
        try:
            return parse_limits(str(value))
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    if kind not in _NUMBERS:
        return value
    convert, noun = _NUMBERS[kind]
    try:
        number = convert(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be {noun}, not {value!r}") from None
    low, high = setting.low, setting.high
    if (low is not None and number < low) or (high is not None and number > high):
        if low is not None and high is not None:
            within = f"from {low:g} to {high:g}"
        else:
            within = f"{low:g} or more" if low is not None else f"{high:g} or less"
        raise ConfigError(f"{where} must be {within}, not {value!r}")
    return number
