"""The command line: exit codes row by row, and the exact lines that matter."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import Served, engage_sync, write

from engage_sync import cli, errors, workspace


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (None, 0),
        (errors.ValidationFailed([]), 1),
        (errors.InputError("x"), 1),
        (errors.ConfigError("x"), 1),
        (errors.StateError("x"), 1),
        (errors.LockError("x"), 1),
        (errors.ApiError("x"), 1),
        (errors.SafetyRailTripped("x"), 3),
        (errors.PartialFailure("x"), 4),
        (errors.ChecksumMismatch("x"), 5),
        (click.UsageError("x"), 64),
        (RuntimeError("bug"), 70),
        (KeyboardInterrupt(), 130),
    ],
)
def test_exit_code_table(outcome: BaseException | None, code: int) -> None:
    assert cli.exit_code(outcome) == code


def test_row_0_valid_lead_sets(workspace: Path, run: Any) -> None:
    r = run("validate")
    assert r.code == 0
    assert r.out == "3 lead-set file(s), 11 lead(s): valid.\n"


def test_row_1_invalid_lead_sets(workspace: Path, run: Any) -> None:
    write(workspace / "leadsets" / "bad.yaml", "campaign: 5\nleads:\n  - {externId: 1}\n")
    r = run("validate")
    assert r.code == 1
    assert (
        "leadsets/bad.yaml:3: leadPhone: required: a lead needs leadPhone or leadPhoneE164" in r.err
    )
    assert r.err.endswith("error(s), 0 warning(s).\n")


def test_plan_refuses_invalid_input_without_output(workspace: Path, run: Any) -> None:
    write(workspace / "leadsets" / "bad.yaml", "campaign: 5\n")
    r = run("plan", "--out", "plan.txt")
    assert r.code == 1 and not (workspace / "plan.txt").exists()
    assert "nothing planned" in r.err


def test_row_2_detailed_exitcode(workspace: Path, run: Any) -> None:
    assert run("plan", "--detailed-exitcode").code == 2
    assert run("plan").code == 0


def test_detailed_exitcode_is_0_without_changes(
    workspace: Path, run: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in served.env("api-token").items():
        monkeypatch.setenv(k, v)
    assert run("apply", "--auto-approve").code == 0
    r = run("plan", "--detailed-exitcode")
    assert r.code == 0
    assert (
        r.out.splitlines()[-1]
        == "Plan: 0 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 11 unchanged."
    )


@pytest.mark.parametrize(
    "args",
    [("plan", "--bogus"), ("plan", "--format", "yaml"), ("nope",), ("apply", "--batch-size", "0")],
)
def test_row_64_usage_errors_never_exit_2(workspace: Path, run: Any, args: tuple[str, ...]) -> None:
    r = run(*args)
    assert r.code == 64
    assert "Usage:" in r.err or "Error:" in r.err


def test_row_70_unexpected_errors_show_the_traceback(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(workspace_module(), "validate", boom)
    r = run("validate")
    assert r.code == 70
    assert "Traceback" in r.err and "RuntimeError: a bug" in r.err and "internal error" in r.err


def workspace_module() -> Any:
    return workspace


def test_expected_errors_have_no_traceback(workspace: Path, run: Any) -> None:
    (workspace / "engage-sync.state.json").write_text("{broken")
    r = run("plan")
    assert r.code == 1
    assert r.err.startswith("error: engage-sync.state.json:1:2: state file is corrupt")
    assert "Traceback" not in r.err


def test_plan_makes_no_network_call(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("plan tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    r = run("plan", "--format", "json")
    assert r.code == 0 and json.loads(r.out)["summary"]["create"] == 11


def test_plan_output_is_byte_identical_across_runs(workspace: Path, run: Any) -> None:
    for fmt in ("text", "json", "markdown"):
        first = run("plan", "--format", fmt).out
        assert run("plan", "--format", fmt).out == first


def test_plan_out_writes_a_file(workspace: Path, run: Any) -> None:
    r = run("plan", "--format", "markdown", "--out", "plan.md")
    assert r.code == 0 and r.out == ""
    assert (workspace / "plan.md").read_text().startswith("<!-- engage-sync-plan -->")


def test_plan_never_shows_lead_values_unless_asked(
    workspace: Path, run: Any, on_a_terminal: None
) -> None:
    for fmt in ("text", "json", "markdown"):
        out = run("plan", "--format", fmt).out
        for value in ("Lovelace", "ada@example.com", "94105", "4155550171", "gold", "Toronto"):
            assert value not in out
    shown = run("plan", "--show-pii").out
    assert "      lastName = Lovelace" in shown


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("CI", "true"),
        ("CI", "1"),  # not only "true" (issue #29)
        ("GITHUB_ACTIONS", "true"),  # without CI
        ("GITLAB_CI", "yes"),
        ("BUILDKITE", "true"),
        ("JENKINS_URL", "https://ci.example/"),
        ("TF_BUILD", "True"),
        ("CIRCLECI", "true"),
    ],
)
def test_show_pii_is_refused_on_ci(
    workspace: Path,
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
    on_a_terminal: None,
    var: str,
    value: str,
) -> None:
    monkeypatch.setenv(var, value)
    r = run("plan", "--show-pii")
    assert r.code == 1 and f"refused in CI ({var} is set)" in r.err and "Lovelace" not in r.out
    assert value not in r.err or value == "true"  # the variable is named, its value is not


def test_show_pii_is_refused_when_output_is_no_terminal(workspace: Path, run: Any) -> None:
    """Redirected to a file or a pipe (here: captured), the values would be kept somewhere."""
    r = run("plan", "--show-pii")
    assert r.code == 1 and "standard output is not a terminal" in r.err
    assert "Lovelace" not in r.out


@pytest.mark.parametrize("value", ["", "false", "0", "False"])
def test_a_ci_variable_set_to_false_is_no_ci(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch, on_a_terminal: None, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    assert "      lastName = Lovelace" in run("plan", "--show-pii").out


def test_show_pii_only_on_the_terminal_text(workspace: Path, run: Any) -> None:
    assert run("plan", "--show-pii", "--format", "json").code == 1


def test_state_flag_beats_environment_beats_config(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in ("flag.json", "env.json", "config.json"):
        (workspace / path).write_text('{"format_version": 2}')
    write(workspace / "engage-sync.yaml", "state: config.json\n")
    assert "config.json" in run("plan").err
    monkeypatch.setenv("ENGAGE_SYNC_STATE", "env.json")
    assert "env.json" in run("plan").err
    assert "flag.json" in run("--state", "flag.json", "plan").err


def test_bad_config_file_is_a_clear_error(workspace: Path, run: Any) -> None:
    write(workspace / "engage-sync.yaml", "acount: 1\n")
    r = run("plan")
    assert r.code == 1 and r.err.startswith(
        "error: engage-sync.yaml:1: acount: unknown setting; known: account, baseUrl,"
    )


def test_version(run: Any) -> None:
    r = run("--version")
    assert r.code == 0 and r.out.startswith("engage-sync, version ")


def test_plan_summarises_many_warnings_and_validate_lists_them_all(
    workspace: Path, run: Any
) -> None:
    # 29 pairs of leads, each pair a phone of its own: 29 warnings, each its own
    rows = "\n".join(f"D{i},41555501{i // 2:02d}" for i in range(58))
    write(workspace / "leadsets" / "dups.csv", "externId,leadPhone\n" + rows + "\n")
    write(
        workspace / "leadsets" / "dups.yaml",
        "campaign: 7\noptions: {dialPriority: NORMAL, "
        "duplicateHandling: RETAIN_ALL, timeZoneOption: NPA_NXX}\nleadsFile: dups.csv\n",
    )
    plan = run("plan")
    assert plan.code == 0
    assert len(plan.err.splitlines()) == 21
    assert plan.err.splitlines()[-1] == "... and 9 more (`engage-sync validate` lists them all)"
    assert (
        "warning: campaign 7: 29 lead(s) share a phone with an earlier lead; with "
        "duplicateHandling RETAIN_ALL Engage keeps both as separate dial records"
    ) in plan.out
    markdown = run("plan", "--format", "markdown").out
    assert ":warning: campaign 7: 29 lead(s) share a phone" in markdown
    assert "4155550100" not in markdown
    validate = run("validate")
    assert validate.code == 0 and len(validate.err.splitlines()) == 29
    # 29 leads with the phone of the first: the same warning 29 times, one line
    rows = "\n".join(f"D{i},4155550100" for i in range(30))
    write(workspace / "leadsets" / "dups.csv", "externId,leadPhone\n" + rows + "\n")
    for r in (run("plan"), run("validate")):
        assert r.code == 0
        assert r.err.splitlines() == [
            "leadsets/dups.csv:3,4,5 and 26 more lines: leadPhone: warning: same phone as the "
            "lead at leadsets/dups.csv:2; with duplicateHandling RETAIN_ALL Engage keeps both "
            "as separate dial records"
        ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("account: [1\n", "engage-sync.yaml:2: invalid YAML"),
        ("- a\n", "engage-sync.yaml:1: the top level must be a mapping"),
        ("rails: {maxCreate: 5}\n", "engage-sync.yaml:1: rails.maxCreate: unknown setting"),
        ("x: 1\nrails:\n  maxCreates: lots\n", "engage-sync.yaml:1: x: unknown setting"),
        ("options: [1]\n", "engage-sync.yaml:1: options: [1] is not of type 'object'"),
    ],
)
def test_bad_settings_are_one_clear_error(
    workspace: Path, run: Any, content: str, message: str
) -> None:
    write(workspace / "engage-sync.yaml", content)
    r = run("validate")
    assert r.code == 1 and r.err.startswith(f"error: {message}"), r.err


def test_every_problem_of_the_state_setting_is_at_its_line(workspace: Path, run: Any) -> None:
    write(
        workspace / "engage-sync.yaml",
        "account: '1'\nstate:\n  backend: s3\n  bucket: B\n  endpointUrl: http://evil\n",
    )
    r = run("validate")
    assert r.code == 1
    assert r.err.splitlines() == [
        "error: engage-sync.yaml:2: state: 'key' is a required property",
        "engage-sync.yaml:4: state.bucket: 'B' does not match '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'",
        "engage-sync.yaml:5: state.endpointUrl: not read from engage-sync.yaml: an S3-compatible "
        "endpoint is named by AWS_ENDPOINT_URL_S3 in the environment (a pull request could "
        "otherwise send the state elsewhere; docs/state.md)",
    ]
    write(workspace / "engage-sync.yaml", "state:\n  backend: file\n  region: eu-west-1\n")
    r = run("validate")
    assert r.err == (
        "error: engage-sync.yaml:3: state.region: a setting of backend s3, not of backend file\n"
    )


def test_the_long_form_of_the_file_backend_names_the_state_file(workspace: Path, run: Any) -> None:
    write(workspace / "engage-sync.yaml", "state: {backend: file, path: kept/state.json}\n")
    r = run("state", "path")
    assert r.code == 0 and r.out == "kept/state.json\n"


def test_a_state_in_s3_is_named_by_its_url_and_a_flag_still_names_a_file(
    workspace: Path, run: Any
) -> None:
    write(
        workspace / "engage-sync.yaml",
        "state: {backend: s3, bucket: acme-state, key: leads/engage-sync.state.json}\n",
    )
    assert run("state", "path").out == "s3://acme-state/leads/engage-sync.state.json\n"
    assert run("state", "path", "--state", "copy.json").out == "copy.json\n"


def test_every_settings_problem_is_reported_at_its_line_in_one_run(
    workspace: Path, run: Any
) -> None:
    write(
        workspace / "engage-sync.yaml",
        "account: 00123\nrails:\n  maxCreates: lots\nbatchSize: 0\npruneAction: nuke\n",
    )
    r = run("validate")
    assert r.code == 1
    assert r.err.splitlines() == [
        "error: engage-sync.yaml:3: rails.maxCreates: 'lots' is not of type 'integer'",
        "engage-sync.yaml:4: batchSize: 0 is less than the minimum of 1",
        "engage-sync.yaml:5: pruneAction: 'nuke' is not one of ['cancel', 'delete']",
    ]


def test_settings_keep_an_account_id_as_written(workspace: Path) -> None:
    from engage_sync.config import Rails, load_config

    write(workspace / "engage-sync.yaml", "account: 00123\nrails: {maxCreates: 5}\n")
    config = load_config()
    assert config.account == "00123"  # YAML 1.1 would read 83 (octal)
    assert config.rails == Rails(max_creates=5)  # the other thresholds keep their defaults


def test_empty_settings_file_means_defaults(workspace: Path, run: Any) -> None:
    write(workspace / "engage-sync.yaml", "")
    assert run("validate").code == 0


def test_config_flag_names_a_missing_file(workspace: Path, run: Any) -> None:
    r = run("--config", "nope.yaml", "validate")
    assert r.code == 1 and r.err == "error: nope.yaml: config file not found\n"


def test_bad_numeric_environment_is_a_clear_error(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGE_API_TOKEN", "t")
    monkeypatch.setenv("ENGAGE_SYNC_MAX_RETRIES", "many")
    monkeypatch.setenv("ENGAGE_BASE_URL", "http://127.0.0.1:9/voice")
    r = run("apply", "--auto-approve")
    assert r.code == 1 and "ENGAGE_SYNC_MAX_RETRIES must be a number, not 'many'" in r.err


def test_one_pass_writes_every_format_asked_for_exactly_as_single_runs_do(
    workspace: Path, run: Any
) -> None:
    assert run("plan", "--out", "both.md", "--out", "both.json", "--out", "both.txt").code == 0
    assert run("plan", "--format", "markdown", "--out", "one.md").code == 0
    assert run("plan", "--format", "json", "--out", "one.json").code == 0
    assert run("plan", "--out", "one.txt").code == 0
    for ext in ("md", "json", "txt"):
        assert (workspace / f"both.{ext}").read_bytes() == (workspace / f"one.{ext}").read_bytes()
    doc = json.loads((workspace / "both.json").read_text())
    assert doc["summary"]["create"] == 11
    assert run("plan", "--out", "by-extension.json").code == 0  # the extension says JSON
    assert json.loads((workspace / "by-extension.json").read_text()) == doc
    clash = run("plan", "--format", "json", "--out", "a.json", "--out", "b.md")
    assert clash.code == 64 and "--format goes with one --out" in clash.err
    assert run("plan", "--out", "a.json", "--out", "a.json").code == 64


def test_one_pass_fails_on_invalid_lead_sets_without_writing(workspace: Path, run: Any) -> None:
    write(workspace / "leadsets" / "bad.yaml", "campaign: 5\nleads:\n  - {externId: 1}\n")
    r = run("plan", "--out", "p.md", "--out", "p.json")
    assert r.code == 1 and "leadsets/bad.yaml:3: leadPhone: required" in r.err
    assert not (workspace / "p.md").exists() and not (workspace / "p.json").exists()


def test_show_pii_shows_a_changed_phone_too(workspace: Path, run: Any, on_a_terminal: None) -> None:
    spring = workspace / "leadsets" / "spring-renewals.yaml"
    assert run("import", "--campaign", "136785", str(spring)).code == 0
    spring.write_text(spring.read_text().replace('"(415) 555-0100"', '"(415) 555-0199"', 1))
    shown = run("plan", "--show-pii").out
    assert "  -/+ R-1001  " in shown and "      leadPhone = 4155550199" in shown
    assert "4155550199" not in run("plan").out


def test_validate_of_a_csv_file_says_how_csv_files_are_read(workspace: Path) -> None:
    write(workspace / "leadsets" / "more.csv", "externId,leadPhone\nX1,4155550100\n")
    r = engage_sync("validate", "leadsets/more.csv", cwd=workspace)  # the installed command
    assert r.code == 1
    assert r.err == (
        "error: leadsets/more.csv: a CSV file holds leads only; it is read through a lead set "
        "that names it (`leadsFile: more.csv` beside `campaign:` and `options:`): validate that "
        "lead set, or the folder\n"
    )


def test_a_corrupt_state_entry_is_a_clear_error_at_its_line(workspace: Path, run: Any) -> None:
    """The installed command, as a user meets it."""
    spring = workspace / "leadsets" / "spring-renewals.yaml"
    assert run("import", "--campaign", "136785", str(spring)).code == 0
    state = workspace / "engage-sync.state.json"
    lines = state.read_text().splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith('"R-1001":'))
    lines[at] = '"R-1001":"!!vA5s.. 0 xyz",'
    state.write_text("\n".join(lines) + "\n")
    r = engage_sync("plan", cwd=workspace)
    assert r.code == 1
    assert r.err == (
        f"error: engage-sync.state.json:{at + 1}: the state entry of lead 'R-1001' is malformed "
        "(not base64 hashes): restore the file from git (`git checkout -- "
        "engage-sync.state.json`), or drop the lead with `engage-sync state rm 136785 R-1001` "
        "so the next apply loads it again\n"
    )


def test_the_loader_calls_in_flight_can_be_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    from engage_sync.cli.apply import _in_flight

    assert _in_flight() is None  # unset: as many as the shortest window admits
    monkeypatch.setenv("ENGAGE_SYNC_MAX_IN_FLIGHT", "4")
    assert _in_flight() == 4
    for bad, said in (("-1", "must be 1 or more"), ("many", "must be a number")):
        monkeypatch.setenv("ENGAGE_SYNC_MAX_IN_FLIGHT", bad)
        with pytest.raises(errors.ConfigError, match=said):
            _in_flight()


def test_no_value_from_a_file_starts_a_line_of_output(workspace: Path, run: Any) -> None:
    """A line break in a campaign name or an externId printed `::error::...` on a line of its
    own: a workflow command in a GitHub Actions log (issue #29)."""
    write(
        workspace / "leadsets" / "x.yaml",
        'campaign: {id: 136785, name: "Spring\\n::error::forged by a name"}\n'
        "leads:\n"
        '  - {externId: "x\\n::error::forged by an id", leadPhone: "4155550100"}\n'
        '  - {externId: "y\\r\\e]8;;https://evil.example\\a", leadPhone: "4155550101"}\n',
    )
    write(workspace / "engage-sync.yaml", '"k\\n::warning::forged by a setting": 1\n')
    for args in (("validate",), ("plan",)):
        r = run(*args)
        assert r.code == 1
        for line in (r.out + r.err).splitlines():
            assert not line.lstrip().startswith("::"), line
            assert "\x1b" not in line and "\r" not in line
    write(workspace / "engage-sync.yaml", "")
    r = run("validate")
    assert "leadsets/x.yaml:3,4: externId: holds a control character" in r.err  # one line
    assert "leadsets/x.yaml:1: campaign.name: holds a control character" in r.err


def test_annotations_escape_what_they_quote(capsys: pytest.CaptureFixture[str]) -> None:
    from engage_sync.cli.common import annotate

    annotate("error", "state not saved: 100% of x\n::warning::forged\r")
    assert capsys.readouterr().out == (
        "::error::state not saved: 100%25 of x\\x0a::warning::forged\\x0d\n"
    )
