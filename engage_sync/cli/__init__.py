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

import sys

# httpx imports its own command line (httpx._main) with itself, and that imports rich and pygments
# wherever they are installed (twine and pytest bring them): 120 ms of every engage-sync command's
# start, for a command line engage-sync never runs. None in sys.modules makes that import fail as
# it does where they are not installed, and httpx goes on without its command line.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from .common import exit_code  # noqa: E402  (after the line above, which must come first)
from .main import cli, main  # noqa: E402

__all__ = ["cli", "exit_code", "main"]
