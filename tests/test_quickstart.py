"""The README's first quick-start command works: the whole loop on the bundled examples."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import REPO


@pytest.mark.slow
def test_demo_script_runs_the_whole_loop() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGAGE_", "RINGCENTRAL_"))}
    result = subprocess.run(
        [str(REPO / "scripts" / "demo.sh")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "3 lead-set file(s), 11 lead(s): valid." in out
    assert (
        "Plan: 11 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 0 unchanged."
        in out
    )
    assert "Recorded 11 lead(s)" in out
    assert (
        out.count(
            "Plan: 0 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 11 unchanged."
        )
        == 1
    )
    assert "Done: every lead is loaded" in out
    assert "emulator-client-secret" not in out + result.stderr


def test_readme_quick_start_names_the_scripts_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    for command in ("scripts/demo.sh", "scripts/test.sh"):
        assert f"\n{command}" in readme
        assert (REPO / command).is_file() and os.access(REPO / command, os.X_OK)
    ci = (REPO / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
