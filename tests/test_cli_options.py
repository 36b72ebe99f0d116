"""Global options before or after the command, colour the Terraform way, shell completion, the
credentials check before any plan output, and plan links for pull requests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import ENGAGE_SYNC, engage_sync, user_env, write
from test_apply_e2e import run_on_terminal

from engage_sync.cli import cli
from engage_sync.cli.plan import github_source_url

GREEN_CREATE = "\x1b[32m+ R-1001  leadsets/spring-renewals.yaml:10\x1b[0m"


def commands() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):  # loaded when asked for (cli.main.Commands)
        cmd = cli.get_command(ctx, name)
        assert cmd is not None, name
        if isinstance(cmd, click.Group):
            found.extend((name, sub) for sub in sorted(cmd.commands))
        else:
            found.append((name,))
    return found


def loaded_by(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after `engage-sync ARGV` (then `import httpx`, as
    the commands that talk to Engage do when they do)."""
    code = (
        "import json, sys\n"
        "from engage_sync.cli import main\n"
        f"try:\n    main({list(argv)!r})\nexcept SystemExit:\n    pass\n"
        "import httpx\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_a_command_imports_its_own_modules_only_and_not_httpxs_command_line() -> None:
    """`plan` once imported every command's module (`lock`'s packaging among them), httpx's
    own command line, which imports rich and pygments where they are installed, and
    libphonenumber, which ten-digit phones do not need: about 0.2 s of each command's start,
    paid a thousand times by the suite."""
    loaded = loaded_by("plan", "--help")
    assert "engage_sync.cli.plan" in loaded and "httpx" in loaded
    assert not {m.split(".")[0] for m in loaded} & {"rich", "pygments", "packaging", "phonenumbers"}
    commands_loaded = {m for m in loaded if m.startswith("engage_sync.cli.")}
    assert commands_loaded == {
        "engage_sync.cli.common",
        "engage_sync.cli.connect",
        "engage_sync.cli.main",
        "engage_sync.cli.plan",
    }
    assert not any(m.startswith(("engage_sync.gitops", "engage_sync.emulator")) for m in loaded)


def test_the_emulator_starts_without_the_lead_set_readers() -> None:
    """Every end-to-end test starts one: it reads no lead sets, no settings, no state."""
    loaded = loaded_by("emulator", "--help")
    assert "engage_sync.cli.emulator" in loaded
    assert not any(
        m.startswith(("engage_sync.leadsets", "engage_sync.workspace", "engage_sync.config"))
        for m in loaded
    )


def test_a_command_added_to_the_lazy_group_is_listed_and_runs() -> None:
    from click.testing import CliRunner

    from engage_sync.cli.main import Commands

    group = Commands(name="g")
    group.add_command(click.Command("extra", callback=lambda: click.echo("ran")))
    listed = group.list_commands(click.Context(group))
    assert "extra" in listed and "plan" in listed and listed == sorted(listed)
    assert CliRunner().invoke(group, ["extra"]).output == "ran\n"


def test_every_command_is_listed_and_an_unknown_one_is_a_usage_error(run: Any) -> None:
    listed = run("--help")
    for (name,) in {c[:1] for c in commands()}:
        assert f"  {name} " in listed.out, name
    unknown = run("aply")
    assert unknown.code == 64 and "No such command 'aply'" in unknown.err


CI = {"ci plan", "ci apply", "ci drift"}  # each runs plan or apply, with their options
USES_STATE = {"plan", "apply", "force-unlock", "import", "state", "evidence", "optouts", *CI}
USES_DEBUG = {"apply", "campaigns", "plan", "import", "optouts", *CI}


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_every_command_lists_the_global_options_it_uses(command: tuple[str, ...], run: Any) -> None:
    r = run(*command, "--help")
    assert r.code == 0
    if command[0] in ("init", "emulator", "lock"):  # they read no settings
        return
    assert "--config FILE" in r.out and "--color / --no-color" in r.out
    name = " ".join(command) if command[0] == "ci" else command[0]
    assert ("--state PATH" in r.out) == (name in USES_STATE)
    assert ("--debug" in r.out) == (name in USES_DEBUG)


def test_the_commands_page_names_exactly_the_commands_that_take_debug() -> None:
    """docs/commands.md once said `-v` was for apply and campaigns only (issue #31)."""
    text = (Path(__file__).parent.parent / "docs" / "commands.md").read_text()
    start = text.index("`--debug`/`-v` is taken before any command name and after")
    sentence = text[start : text.index(";", start)]
    named: set[str] = set()
    for name in re.findall(r"`([a-z |]+)`", sentence.split(" after ", 1)[1]):
        head, _, subs = name.rpartition(" ")
        named |= {f"{head} {sub}".strip() for sub in subs.split("|")}
    # a command's subcommand (`optouts pull`) takes its command's options
    assert {n if n.startswith("ci ") else n.split()[0] for n in named} == USES_DEBUG


def test_state_after_the_command_as_terraform_users_type_it(workspace: Path, run: Any) -> None:
    r = run("plan", "--state", "other.json")
    assert r.code == 0 and "Plan: 11 to create" in r.out
    assert run("state", "path", "--state", "other.json").out == "other.json\n"


def test_after_the_command_beats_before_it_and_keeps_the_precedence(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(workspace / "engage-sync.yaml", "state: config.json\n")
    assert run("state", "path").out == "config.json\n"
    monkeypatch.setenv("ENGAGE_SYNC_STATE", "env.json")
    assert run("state", "path").out == "env.json\n"
    assert run("--state", "before.json", "state", "path").out == "before.json\n"
    assert run("state", "path", "--state", "after.json").out == "after.json\n"
    assert run("--state", "before.json", "state", "path", "--state", "after.json").out == (
        "after.json\n"
    )


def test_config_after_the_command(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(workspace / "other.yaml", "acount: 1\n")
    r = run("validate", "--config", "other.yaml")
    assert r.code == 1 and r.err.startswith("error: other.yaml:1: acount: unknown setting")
    monkeypatch.setenv("ENGAGE_SYNC_CONFIG", "missing.yaml")
    assert "missing.yaml: config file not found" in run("validate").err
    assert run("validate", "--config", "engage-sync.yaml").code == 0


def test_colour_can_be_forced_in_a_pipe_and_never_reaches_out_files(
    workspace: Path, run: Any
) -> None:
    assert "\x1b[" not in run("plan").out  # a pipe: plain
    assert GREEN_CREATE in run("plan", "--color").out
    assert "\x1b[1mPlan: 11 to create" in run("--color", "plan").out
    assert run("plan", "--color", "--out", "plan.txt").out == ""
    assert "\x1b[" not in (workspace / "plan.txt").read_text()
    assert run("plan", "--out", "plan.txt").code == 0


def test_colour_styles_each_kind_of_line() -> None:
    from engage_sync.cli.common import colourise

    text = "  + A\n  ~ B\n  - C\n  -/+ D\n  warning: w\nerror: e\nplain"
    styled = colourise(text)
    assert click.unstyle(styled) == text
    assert "\x1b[32m+ A" in styled and "\x1b[33m~ B" in styled and "\x1b[31m- C" in styled
    assert "\x1b[33m-/+ D" in styled and "\x1b[33mwarning: w" in styled
    assert styled.endswith("\nplain")


def test_colour_on_a_terminal_and_not_with_no_color(repo: Path) -> None:
    code, out = run_on_terminal(["plan"], {}, repo, b"")
    assert code == 0 and GREEN_CREATE in out
    code, out = run_on_terminal(["plan"], {"NO_COLOR": "1"}, repo, b"")
    assert code == 0 and "\x1b[" not in out and "+ R-1001" in out
    code, out = run_on_terminal(["plan", "--no-color"], {}, repo, b"")
    assert code == 0 and "\x1b[" not in out
    code, out = run_on_terminal(["plan", "--color"], {"NO_COLOR": "1"}, repo, b"")
    assert GREEN_CREATE in out  # the flag beats the environment


def test_plain_in_a_pipe_from_the_installed_command(repo: Path) -> None:
    r = engage_sync("plan", cwd=repo)
    assert r.code == 0 and "\x1b[" not in r.out and "+ R-1001" in r.out


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "error: no Engage credentials"),
        (
            {"ENGAGE_API_TOKEN": "t", "ENGAGE_BASE_URL": "http://engage.example.com/voice"},
            "plain http:// is refused",
        ),
        ({"ENGAGE_API_TOKEN": "t", "ENGAGE_ACCOUNT_ID": ""}, "error: no account for campaign"),
    ],
)
def test_apply_fails_on_its_first_line_before_any_plan(
    repo: Path, env: dict[str, str], message: str
) -> None:
    write(repo / "engage-sync.yaml", "state: engage-sync.state.json\n")  # no account
    r = engage_sync("apply", "--auto-approve", cwd=repo, env=env)
    assert r.code == 1
    assert r.out == ""  # no plan printed
    first = r.err.splitlines()[0]
    assert first.startswith("error: ") and message in first, r.err
    assert not (repo / "engage-sync.state.json").exists()


def test_shell_completion_through_click(repo: Path) -> None:
    env = user_env({"_ENGAGE_SYNC_COMPLETE": "bash_source"})
    script = subprocess.run([ENGAGE_SYNC], env=env, capture_output=True, text=True, check=True)
    assert "_engage_sync_completion()" in script.stdout
    env = user_env({"_ENGAGE_SYNC_COMPLETE": "bash_complete"})
    env.update(COMP_WORDS="engage-sync pl", COMP_CWORD="1")
    words = subprocess.run([ENGAGE_SYNC], env=env, capture_output=True, text=True, check=True)
    assert "plan" in words.stdout.split("\n")[0].split(",")
    env.update(COMP_WORDS="engage-sync plan --sta", COMP_CWORD="2")
    words = subprocess.run([ENGAGE_SYNC], env=env, capture_output=True, text=True, check=True)
    assert "--state" in words.stdout


def test_source_links_from_the_github_actions_environment(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "feedc0de"}}}))
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/leads",
        "GITHUB_SHA": "mergecommit",
        "GITHUB_EVENT_PATH": str(event),
    }
    assert github_source_url(env) == "https://github.com/acme/leads/blob/feedc0de/"
    assert github_source_url({**env, "GITHUB_EVENT_PATH": str(tmp_path / "none")}) == (
        "https://github.com/acme/leads/blob/mergecommit/"
    )
    assert github_source_url({"GITHUB_SHA": "x"}) is None


def test_markdown_plan_links_in_a_pull_request_and_stays_plain_elsewhere(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("plan", "--format", "markdown", "--out", "plain.md").code == 0
    plain = (workspace / "plain.md").read_text()
    assert "| create | `R-1001` | `leadsets/spring-renewals.yaml:10` |" in plain
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/leads")
    monkeypatch.setenv("GITHUB_SHA", "0123abc")
    assert run("plan", "--format", "markdown", "--out", "linked.md").code == 0
    linked = (workspace / "linked.md").read_text()
    assert (
        "| create | `R-1001` | [`leadsets/spring-renewals.yaml:10`]"
        "(https://github.com/acme/leads/blob/0123abc/leadsets/spring-renewals.yaml#L10) |"
    ) in linked
    assert os.environ["GITHUB_SHA"] == "0123abc"
