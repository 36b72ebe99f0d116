"""Files stay in the repository (leadsets/boundary.py, issue #29): lead sets, their leadsFiles and
the state a repository setting names resolve inside the working directory; nothing but regular
files is read; a path the user gives on the command line or in the environment may be anywhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import engage_sync, write

from engage_sync.errors import InputError
from engage_sync.leadsets.boundary import check_file

OPTIONS = (
    "options: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, timeZoneOption: NPA_NXX}\n"
)
LEADS = "externId,leadPhone\nOUT-1,4155550199\n"


def lead_set(folder: Path, leads_file: str, name: str = "x.yaml") -> Path:
    """A lead set of campaign 246810 (no example declares it) whose line 3 names `leads_file`."""
    return write(folder / name, f"campaign: 246810\n{OPTIONS}leadsFile: {leads_file}\n")


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the repository, with a valid CSV of leads in it."""
    folder = tmp_path_factory.mktemp("outside")
    write(folder / "leads.csv", LEADS)
    return folder


# -- the attack of issue #29: a link to /proc/self/environ ---------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_leadsfile_linked_to_the_environment_is_refused_and_no_secret_is_printed(
    repo: Path, command: str
) -> None:
    lead_set(repo / "leadsets", "env.csv")
    (repo / "leadsets" / "env.csv").symlink_to("/proc/self/environ")
    # a secret with a comma, a quote and a backslash: repr() of it escaped the log's masking
    secret = 'fake-s3cret-value,with"quote\\and'
    r = engage_sync(command, cwd=repo, env={"FAKE_SECRET": secret})
    assert r.code == 1, r.err
    said = r.out + r.err
    assert "s3cret" not in said and "FAKE_SECRET" not in said and "PATH=" not in said
    assert (
        "leadsets/x.yaml:3: leadsFile: leadsets/env.csv: a system file through a symbolic "
        "link (/proc, /sys or /dev): not read"
    ) in r.err


@pytest.mark.e2e
def test_a_valid_csv_outside_the_repository_is_neither_planned_nor_read(
    repo: Path, outside: Path
) -> None:
    relative = os.path.relpath(outside / "leads.csv", repo / "leadsets")
    lead_set(repo / "leadsets", relative)
    r = engage_sync("plan", "--format", "json", cwd=repo)
    assert r.code == 1 and "OUT-1" not in r.out
    assert f"leadsets/x.yaml:3: leadsFile: leadsets/{relative}: outside the repository" in r.err


# -- every way out of the repository -------------------------------------------------------------


def test_a_leadsfile_may_not_leave_the_repository(workspace: Path, outside: Path, run: Any) -> None:
    ways = {
        "up.yaml": os.path.relpath(outside / "leads.csv", workspace / "leadsets"),
        "absolute.yaml": str(outside / "leads.csv"),
        "passwd.yaml": "../../../../../../../../etc/passwd.csv",
    }
    (workspace / "leadsets" / "data").symlink_to(outside)  # a link in the middle of the path
    ways["middle.yaml"] = "data/leads.csv"
    (workspace / "leadsets" / "link.csv").symlink_to(outside / "leads.csv")
    ways["link.yaml"] = "link.csv"
    for name, leads_file in ways.items():
        lead_set(workspace / "leadsets", leads_file, name)
    r = run("plan")
    assert r.code == 1
    for name in ways:
        assert f"leadsets/{name}:3: leadsFile: " in r.err, name
    # /etc/passwd.csv is not there: refused all the same, before it is looked for
    assert r.err.count("outside the repository") == len(ways)


def test_a_link_inside_the_repository_is_followed(workspace: Path, run: Any) -> None:
    write(workspace / "data" / "leads.csv", LEADS)
    (workspace / "leadsets" / "link.csv").symlink_to(workspace / "data" / "leads.csv")
    lead_set(workspace / "leadsets", "link.csv")
    r = run("plan")
    assert r.code == 0, r.err
    assert "+ OUT-1  leadsets/link.csv:2" in r.out


def test_a_linked_leadsets_folder_is_refused(workspace: Path, outside: Path, run: Any) -> None:
    lead_set(outside, "leads.csv")
    (workspace / "leadsets").rename(workspace / "old")
    (workspace / "leadsets").symlink_to(outside)
    r = run("plan")
    assert r.code == 1 and "OUT-1" not in r.out
    assert "leadsets: leadsets: outside the repository" in r.err


def test_a_lead_set_linked_to_a_file_outside_is_refused(
    workspace: Path, outside: Path, run: Any
) -> None:
    (workspace / "leadsets" / "x.yaml").symlink_to(lead_set(outside, "leads.csv"))
    r = run("validate")
    assert r.code == 1
    assert "leadsets/x.yaml: outside the repository through a symbolic link" in r.err


def test_the_leadsets_setting_may_not_leave_the_repository(
    workspace: Path, outside: Path, run: Any
) -> None:
    lead_set(outside, "leads.csv")
    write(workspace / "engage-sync.yaml", f"leadsets: {outside}\n")
    r = run("plan")
    assert r.code == 1 and "outside the repository" in r.err and "OUT-1" not in r.out


def test_lead_sets_named_on_the_command_line_are_read_where_they_are(
    workspace: Path, outside: Path, run: Any
) -> None:
    """The user chose them: they may be outside, and what they name stays beside them."""
    lead_set(outside, "leads.csv")
    r = run("validate", str(outside))
    assert r.code == 0, r.err
    assert "1 lead-set file(s), 1 lead(s): valid" in r.out
    sub = outside / "sub"
    lead_set(sub, "../leads.csv")
    r = run("validate", str(sub))
    assert r.code == 1 and "leadsFile: " in r.err and "outside the repository" in r.err


def test_a_leadsfile_the_schema_refuses_is_never_opened(workspace: Path, run: Any) -> None:
    """Its rows would be read (and their problems printed) were it opened."""
    write(workspace / "leadsets" / "leads.txt", '{"externId": "T1", "leadPhone": "12"}\n')
    lead_set(workspace / "leadsets", "leads.txt")
    r = run("validate")
    assert r.code == 1
    assert "leadsets/x.yaml:3: leadsFile: 'leads.txt' does not match" in r.err
    assert "leads.txt:1" not in r.err and "'12'" not in r.err


# -- not a regular file ---------------------------------------------------------------------------


@pytest.mark.e2e
def test_fifos_are_refused_without_waiting_for_a_writer(repo: Path) -> None:
    """Opening a FIFO blocks until someone writes: the command would hang (engage_sync() fails
    the test if it has not returned in two minutes; it returns at once)."""
    os.mkfifo(repo / "leadsets" / "pipe.csv")
    lead_set(repo / "leadsets", "pipe.csv")
    r = engage_sync("validate", cwd=repo)
    assert r.code == 1
    assert "leadsets/x.yaml:3: leadsFile: leadsets/pipe.csv: a FIFO, not a regular file" in r.err
    (repo / "leadsets" / "x.yaml").unlink()
    os.mkfifo(repo / "named.yaml")
    r = engage_sync("validate", "named.yaml", cwd=repo)
    assert r.code == 1 and "named.yaml: a FIFO, not a regular file: not read" in r.err
    os.mkfifo(repo / "engage-sync.state.json")
    r = engage_sync("plan", cwd=repo)
    assert r.code == 1 and "engage-sync.state.json: a FIFO, not a regular file" in r.err


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("/proc/self/environ", "a system file through a symbolic link"),
        ("/dev/zero", "a system file through a symbolic link"),
        ("/sys/kernel/mm", "a system file through a symbolic link"),
    ],
)
def test_system_files_are_refused_even_where_the_user_chose(
    tmp_path: Path, target: str, says: str
) -> None:
    link = tmp_path / "x.csv"
    link.symlink_to(target)
    with pytest.raises(InputError, match=says):
        check_file(link, "x.csv", None)
    with pytest.raises(InputError, match="a system file"):
        check_file(Path(target), target, None)


def test_folders_loops_and_missing_files_say_so(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match=r"dir\.csv: a folder, not a regular file"):
        check_file(tmp_path / "dir.csv", "dir.csv", tmp_path)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(InputError, match=r"a: cannot be resolved|a: file not found"):
        check_file(tmp_path / "a", "a", tmp_path)
    with pytest.raises(InputError, match=r"none\.csv: file not found"):
        check_file(tmp_path / "none.csv", "none.csv", tmp_path)
    check_file(tmp_path / "none.json", "none.json", tmp_path, missing_ok=True)


def test_a_file_name_with_a_control_character_is_refused(workspace: Path, run: Any) -> None:
    write(workspace / "leadsets" / "x\n::error::forged.yaml", f"campaign: 1\n{OPTIONS}leads: []\n")
    r = run("validate")
    assert r.code == 1
    assert "leadsets/x\\x0a::error::forged.yaml: the file name holds a control character" in r.err
    assert not any(line.lstrip().startswith("::") for line in (r.out + r.err).splitlines())


# -- the state -----------------------------------------------------------------------------------


def test_the_state_setting_must_stay_in_the_repository(
    workspace: Path, outside: Path, run: Any
) -> None:
    write(workspace / "engage-sync.yaml", f"state: {outside / 'state.json'}\n")
    r = run("plan")
    assert r.code == 1
    assert "state: " in r.err and "outside the repository; a state kept elsewhere" in r.err
    write(workspace / "engage-sync.yaml", "state: ../state.json\n")
    assert "outside the repository" in run("plan").err


def test_a_state_named_by_the_user_may_be_anywhere(
    workspace: Path, outside: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo keeps a scratch state in /tmp through ENGAGE_SYNC_STATE."""
    assert run("plan", "--state", str(outside / "flag.json")).code == 0
    monkeypatch.setenv("ENGAGE_SYNC_STATE", str(outside / "env.json"))
    assert run("plan").code == 0


@pytest.mark.parametrize(
    "name",
    [
        "engage-sync.state.json",
        "engage-sync.state.json.journal",
        "engage-sync.state.json.lock",
        "engage-sync.evidence.jsonl",
    ],
)
def test_a_state_file_linked_out_of_the_repository_is_refused(
    workspace: Path, outside: Path, run: Any, name: str
) -> None:
    """A committed link would have the state read, or the journal, lock or evidence written,
    wherever it points."""
    (workspace / name).symlink_to(outside / "target")
    r = run("plan")
    assert r.code == 1
    assert f"{name}: outside the repository through a symbolic link" in r.err
    assert not (outside / "target").exists()


def test_a_settings_file_linked_out_of_the_repository_is_refused(
    workspace: Path, outside: Path, run: Any
) -> None:
    write(outside / "settings.yaml", "account: '1'\n")
    (workspace / "engage-sync.yaml").unlink()
    (workspace / "engage-sync.yaml").symlink_to(outside / "settings.yaml")
    r = run("validate")
    assert r.code == 1
    assert "engage-sync.yaml: outside the repository through a symbolic link" in r.err
