"""The settings table (engage_sync/settings/table.py) is the one place a setting is declared: the
reference page shows it, --help and the config schema agree with it, no module reads an Engage
variable around it, and a wrong value is one line naming the variable.

`python tests/test_settings.py` writes docs/settings.md's generated part from the table."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

import click
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script too

from engage_sync.cli.main import cli  # noqa: E402
from engage_sync.errors import ConfigError  # noqa: E402
from engage_sync.settings import SETTINGS, Kind, Setting, chosen, markdown, resolve  # noqa: E402
from engage_sync.settings.doc import BEGIN, END  # noqa: E402

PAGE = REPO / "docs" / "settings.md"
PACKAGE = REPO / "engage_sync"
NAME = re.compile(r"\b(?:ENGAGE|RINGCENTRAL)_[A-Z0-9_]+\b")
# named in the docs and the workflows, read by the workflows or this repository's scripts and
# tests (the convergence campaign's seeds in the suite: docs/chaos.md)
NOT_READ = {
    "ENGAGE_SYNC_INSTALL",
    "ENGAGE_SYNC_BIN",
    "ENGAGE_SYNC_TEST_WORKERS",
    "ENGAGE_SYNC_CHAOS_SEEDS",
    "ENGAGE_SYNC_CHAOS_TEAM_SEEDS",
}
CHECKED = (Kind.INT, Kind.NUMBER, Kind.SECONDS, Kind.BYTES, Kind.DATE, Kind.LIMITS)
READ = re.compile(r"(environ|getenv|env)(\.get)?[\[(]\s*f?[\"'](ENGAGE|RINGCENTRAL)_")
VARIABLES = {s.env for s in SETTINGS if s.env}


def generated(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def written(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    return f"{head}{BEGIN}\n\n{markdown()}\n{END}{rest.split(END, 1)[1]}"


def test_the_reference_page_shows_the_table() -> None:
    assert generated(PAGE.read_text(encoding="utf-8")) == markdown(), (
        "docs/settings.md is not the table: run `python tests/test_settings.py`"
    )


def test_the_page_comparison_sees_a_changed_default() -> None:
    page = PAGE.read_text(encoding="utf-8").replace("`engage-sync.state.json`", "`other.json`")
    assert generated(page) != markdown()


def test_each_setting_and_each_variable_is_declared_once() -> None:
    names = [s.name for s in SETTINGS]
    variables = [s.env for s in SETTINGS if s.env]
    keys = [s.key for s in SETTINGS if s.key]
    assert len(names) == len(set(names))
    assert len(variables) == len(set(variables))
    assert len(keys) == len(set(keys))
    for s in SETTINGS:  # one command, one declaration of a flag (--out-dir: ci plan, ci drift)
        assert s.help and (s.flag is None) == (not s.commands), s.name
        assert s.kind is not Kind.CHOICE or s.default in s.choices, s.name
    flags = [(s.flag, c) for s in SETTINGS if s.flag for c in s.commands]
    assert len(flags) == len(set(flags))
    assert [s.name for s in SETTINGS if s.flag == "--look-first"] == ["look_first"]


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _outside_settings() -> list[Path]:
    return [
        p for p in sorted(PACKAGE.rglob("*.py")) if "settings" not in p.relative_to(PACKAGE).parts
    ]


def test_no_module_names_an_engage_variable_to_read_it_outside_the_settings_package() -> None:
    """A read needs the variable's name as a string of its own (`os.environ["ENGAGE_X"]`,
    `VAR = "ENGAGE_X"`): outside engage_sync/settings/ no such string exists, so every read goes
    through the table (`settings.resolve`/`chosen`, or `setting.env`)."""
    found = [
        f"{path.relative_to(REPO)}:{line}: {value}"
        for path in _outside_settings()
        for line, value in _string_constants(path)
        if NAME.fullmatch(value.strip())
    ]
    assert found == []
    readers = [  # nor does any module read the environment by a name it builds
        f"{path.relative_to(REPO)}:{line}"
        for path in _outside_settings()
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _builds_a_name(text)
    ]
    assert readers == []


def _builds_a_name(line: str) -> bool:
    return bool(READ.search(line))


def test_the_read_check_finds_a_read(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('import os\nx = os.environ.get("ENGAGE_SYNC_NEW")\n', encoding="utf-8")
    assert [v for _, v in _string_constants(module) if NAME.fullmatch(v)] == ["ENGAGE_SYNC_NEW"]
    assert _builds_a_name('env.get(f"ENGAGE_SYNC_{name}")')
    assert _builds_a_name('os.environ["RINGCENTRAL_" + x]')
    assert not _builds_a_name("check_host(url, str(settings.RC_SERVER.env), RINGCENTRAL_HOSTS)")


def test_every_variable_the_code_docs_and_workflows_name_is_a_row() -> None:
    """A message, a page or a scaffolded workflow that names a variable names one the table
    declares (a renamed variable leaves no stale name behind)."""
    named: dict[str, set[str]] = {}
    pages = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(PACKAGE / "templates").iterdir()]
    for page in pages:
        for name in NAME.findall(page.read_text(encoding="utf-8")):
            named.setdefault(name, set()).add(page.name)
    for path in _outside_settings():
        for _, value in _string_constants(path):
            for name in NAME.findall(value):
                named.setdefault(name, set()).add(path.name)
    unknown = {k: sorted(v) for k, v in named.items() if k not in VARIABLES | NOT_READ}
    assert unknown == {}


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the top group loads its commands when asked
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = f"{prefix}{name}"
        found[path] = command
        if isinstance(command, click.Group):
            found.update(_commands(command, f"{path} "))
    return found


def test_help_says_each_flag_as_its_row_does() -> None:
    """Every option for a flag of the table comes from its row: the row's help, variable, key and
    default, on the commands the row names, and nowhere else."""
    commands = _commands(cli)
    rows = {(s.flag, c): s for s in SETTINGS if s.flag for c in s.commands}
    for path, command in commands.items():
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            for flag in param.opts:
                row = rows.get((flag, path)) or rows.get((flag, ""))
                if row is None:  # a flag of one run's own (apply --checksum), not a setting
                    assert "[env " not in (param.help or ""), (path, flag)
                    continue
                text = param.help or ""
                assert text.startswith(row.help), (path, flag)
                if row.env:
                    assert f"env {row.env}" in text, (path, flag)
                if row.key:
                    assert f"engage-sync.yaml {row.key}" in text, (path, flag)
                assert f"default: {row.default_text}" in text or not row.default_text
                assert param.default is None, (path, flag)  # the row's default, resolved
    for (flag, path), _ in rows.items():
        if path:
            assert flag in {o for p in commands[path].params for o in getattr(p, "opts", [])}


def test_the_config_schema_has_each_key_of_the_table_and_no_other() -> None:
    schema = json.loads((REPO / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
    top = {s.key.split(".")[0] for s in SETTINGS if s.key}
    assert top == set(schema["properties"])
    for s in SETTINGS:
        if not s.key:
            continue
        node: dict[str, Any] = schema
        for part in s.key.split("."):
            node = node["properties"][part]
        assert node.get("minimum") == s.low and node.get("maximum") == s.high, s.key
        if s.choices:
            assert node["enum"] == list(s.choices), s.key


def test_a_value_reads_flag_then_environment_then_file_then_default() -> None:
    row = next(s for s in SETTINGS if s.name == "batch_size")
    env = {"ENGAGE_SYNC_X": "3"}
    assert resolve(row, None, None, env) == 500
    assert resolve(row, None, 7, env) == 7
    assert resolve(row, 9, 7, env) == 9
    timeout = next(s for s in SETTINGS if s.name == "timeout")
    assert resolve(timeout, None, None, {"ENGAGE_SYNC_TIMEOUT": " "}) == 60.0  # blank: unset
    assert resolve(timeout, None, None, {"ENGAGE_SYNC_TIMEOUT": "2.5"}) == 2.5
    assert resolve(timeout, 4.0, None, {"ENGAGE_SYNC_TIMEOUT": "2.5"}) == 4.0
    assert chosen(timeout, env={}) is None


@pytest.mark.parametrize(
    "row", [s for s in SETTINGS if s.env and s.kind in CHECKED], ids=lambda s: str(s.env)
)
def test_a_wrong_value_in_the_environment_is_an_error_naming_the_variable(row: Setting) -> None:
    with pytest.raises(ConfigError) as e:
        resolve(row, env={str(row.env): "soon"})
    assert str(e.value).startswith(f"{row.env}"), e.value
    assert "soon" in str(e.value)


@pytest.mark.parametrize(
    "row", [s for s in SETTINGS if s.env and s.low is not None], ids=lambda s: str(s.env)
)
def test_a_number_out_of_range_is_an_error_naming_the_variable_and_the_range(
    row: Setting,
) -> None:
    assert row.low is not None
    with pytest.raises(ConfigError, match=f"^{row.env} must be .*{row.low:g}"):
        resolve(row, env={str(row.env): str(row.low - 1)})


def test_a_wrong_value_in_the_file_names_its_key() -> None:
    row = next(s for s in SETTINGS if s.name == "loader_limits")
    with pytest.raises(ConfigError, match=r"^rateLimits\.loader: "):
        resolve(row, configured="many", env={})


def test_a_secret_is_never_repeated_in_an_error() -> None:
    for row in SETTINGS:
        assert row.kind not in CHECKED or row.kind is not Kind.SECRET
    key = next(s for s in SETTINGS if s.name == "phone_key")
    assert chosen(key, env={"ENGAGE_SYNC_PHONE_KEY": "a-secret-of-sorts"}) == "a-secret-of-sorts"


@pytest.mark.parametrize(
    ("variable", "value", "said", "args"),
    [
        ("ENGAGE_SYNC_TIMEOUT", "soon", "must be a number of seconds, not 'soon'", ["apply"]),
        ("ENGAGE_SYNC_MAX_RETRIES", "6.5", "must be a number, not '6.5'", ["apply"]),
        ("ENGAGE_SYNC_LOADER_LIMITS", "fast", "", ["apply"]),
        ("ENGAGE_SYNC_GIVE_UP_AFTER", "never", "must be a number, not 'never'", ["apply"]),
        ("ENGAGE_SYNC_LOOKUP_DELAY", "-1", "must be 0 or more, not '-1'", ["apply"]),
        ("ENGAGE_SYNC_MAX_IN_FLIGHT", "0", "must be 1 or more, not '0'", ["apply"]),
        ("ENGAGE_SYNC_PROGRESS_SECONDS", "soon", "must be a number of seconds", ["validate"]),
    ],
)
def test_the_command_says_a_wrong_variable_in_one_line_and_stops(
    repo: Path, variable: str, value: str, said: str, args: list[str]
) -> None:
    """The installed command, as a user runs it: exit 1, one line naming the variable, no
    traceback, and nothing posted (the base URL goes nowhere: the value is read first)."""
    from conftest import engage_sync

    env = {
        variable: value,
        "ENGAGE_API_TOKEN": "a-token-that-goes-nowhere",
        "ENGAGE_BASE_URL": "http://127.0.0.1:9/voice",
        "ENGAGE_SYNC_ALLOWED_HOSTS": "127.0.0.1:9",
        "ENGAGE_ACCOUNT_ID": "99990001",
    }
    flags = ["--auto-approve"] if args == ["apply"] else []
    done = engage_sync(*args, *flags, env=env, cwd=repo)
    assert done.code == 1, done.err
    assert done.err.startswith(f"error: {variable}") and said in done.err
    assert "Traceback" not in done.err and len(done.err.strip().splitlines()) == 1, done.err


if __name__ == "__main__":
    PAGE.write_text(written(PAGE.read_text(encoding="utf-8")), encoding="utf-8")
