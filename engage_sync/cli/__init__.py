"""The command line on top: click commands, the only code that prints or chooses exit codes.

main.py      the command group and entry point
common.py    the map from outcomes to exit codes (errors.ExitCode), the run's context,
             global options, colour
plan.py      validate, plan
apply.py     apply (renders the apply operation's outcome), campaigns, force-unlock
ci.py        ci plan|apply|drift: the GitOps loop's steps
state.py     state list|show|rm|path, import
scaffold.py  init
emulator.py  emulator
"""

from __future__ import annotations

from .common import exit_code
from .main import cli, main

__all__ = ["cli", "exit_code", "main"]
