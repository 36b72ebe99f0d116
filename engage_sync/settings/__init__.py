"""Settings: each one's flag, environment variable, engage-sync.yaml key and default in one table
(table.py), read in one order (setting.py: flag > environment > engage-sync.yaml > default),
and docs/settings.md's tables rendered from it (doc.py)."""

from .doc import markdown
from .setting import Kind, Setting, chosen, resolve
from .table import SETTINGS

__all__ = ["SETTINGS", "Kind", "Setting", "chosen", "markdown", "resolve"]
