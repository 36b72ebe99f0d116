"""The command line on top: click commands, the only code that prints or chooses exit codes.

main.py      the command group and entry point
common.py    the exit-code table, the run's context, global options, colour
plan.py      validate, plan
apply.py     apply, campaigns, force-unlock
state.py     state list|show|rm|path, import
scaffold.py  init
emulator.py  emulator
"""

from __future__ import annotations

from .common import exit_code
from .main import cli, main

__all__ = ["cli", "exit_code", "main"]
