"""The command line in-process under click's CliRunner: `engage_sync.cli.main` (the outcome to
exit-code map included) with standard input, output and error of its own and the environment
changed for the call only."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

from click.testing import CliRunner

from engage_sync.cli import main


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def invoke(
    *args: str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    terminal: bool = False,
) -> Ran:
    """`engage-sync ARGS` as the console script runs it; never raises (main always exits).
    `terminal`: standard input is taken for a terminal (where apply asks before posting)."""
    runner = CliRunner()
    code = 0
    with runner.isolation(input=input, env=dict(env or {})) as (out, err, _):
        if terminal:
            sys.stdin.isatty = lambda: True  # type: ignore[method-assign]
        try:
            main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0
    return Ran(code, out.getvalue().decode(), err.getvalue().decode())
