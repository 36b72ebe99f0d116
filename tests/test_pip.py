"""The pip runs of `engage-sync lock` (gitops/pip.py): the target's wheel platforms and marker
values, and what is shown of pip's sources and failures (never a URL's user or password)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engage_sync.errors import PipError
from engage_sync.gitops.pip import Sources, Target, download, redact_urls


def test_the_target_accepts_the_older_manylinux_wheels_its_glibc_runs() -> None:
    tags = Target().pip_platforms()
    assert tags[0] == "manylinux_2_39_x86_64"
    for older in ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"):
        assert older in tags
    assert tags.index("manylinux_2_17_x86_64") + 1 == tags.index("manylinux2014_x86_64")
    arm = Target(platform="manylinux_2_35_aarch64").pip_platforms()
    assert arm[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert Target(platform="manylinux2014_x86_64").pip_platforms()[:2] == [
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
    ]
    assert Target(platform="musllinux_1_2_x86_64").pip_platforms() == [
        "musllinux_1_2_x86_64",
        "musllinux_1_1_x86_64",
    ]
    env = Target("3.12", "manylinux_2_35_aarch64").environment()
    assert env["python_version"] == "3.12" and env["platform_machine"] == "aarch64"
    assert env["sys_platform"] == "linux"


@pytest.mark.parametrize(
    ("python", "platform"),
    [("3", None), ("3.11; rm -rf /", None), ("", None), (None, "win_amd64"), (None, "any")],
)
def test_a_target_that_is_not_cpython_3_on_linux_is_refused(
    python: str | None, platform: str | None
) -> None:
    with pytest.raises(ValueError, match="give a"):
        Target(
            "3.11" if python is None else python,
            "manylinux_2_39_x86_64" if platform is None else platform,
        )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://alice:s3cret@pypi.example/simple", "https://****@pypi.example/simple"),
        ("https://tok3n@pypi.example/simple/", "https://****@pypi.example/simple/"),
        ("https://a:p@ss@host:8443/x?y=z@w", "https://****@host:8443/x?y=z@w"),
        ("see HTTP://u:p@h/simple and https://h2/ok", "see HTTP://****@h/simple and https://h2/ok"),
        ("https://pypi.org/simple", "https://pypi.org/simple"),
        ("file:///opt/wheels", "file:///opt/wheels"),
        ("mailto-like user@example.com", "mailto-like user@example.com"),
    ],
)
def test_urls_are_shown_without_their_user_and_password(text: str, shown: str) -> None:
    assert redact_urls(text) == shown


def test_where_pip_looked_is_described_without_credentials() -> None:
    sources = Sources(
        "https://ci-user:s3cr%40t-pass@pkgs.example/simple",
        ("https://other:pw-extra-1@pkgs2.example/simple",),
        ("./wheels",),
    )
    assert sources.describe() == (
        "https://****@pkgs.example/simple, https://****@pkgs2.example/simple, ./wheels"
    )
    assert Sources().describe() == "pip's configured index"
    said = sources.redact("401 for ci-user with s3cr@t-pass (s3cr%40t-pass)")
    assert "ci-user" not in said and "s3cr" not in said and said.count("[redacted]") == 3


def test_pip_failing_is_one_error_without_credentials(tmp_path: Path) -> None:
    said = (
        "print('Looking in indexes: https://ci-user:****@pkgs.example/simple');"
        "import sys; sys.stderr.write('ERROR: 403 Client Error for url: "
        "https://ci-user:hunter2-pass@pkgs.example/simple/x/\\nERROR: and ci-user again\\n');"
        "sys.exit(1)"
    )
    sources = Sources("https://ci-user:hunter2-pass@pkgs.example/simple")
    with pytest.raises(PipError) as failed:
        download((sys.executable, "-c", said), ["x==1"], Target(), sources, tmp_path)
    message = str(failed.value)
    assert message.startswith(
        "pip download failed: 403 Client Error for url: https://****@pkgs.example/simple/x/; "
        "and [redacted] again. `engage-sync lock` needs network access to the package index "
        "(looked in: https://****@pkgs.example/simple)"
    )
    assert "hunter2" not in message and "ci-user" not in message and "\n" not in message
    with pytest.raises(PipError, match="pip is not installed for"):
        download((sys.executable, "-m", "no_such_pip"), ["x"], Target(), Sources(), tmp_path)
    with pytest.raises(PipError, match=r"cannot run pip \(.*nowhere\)"):
        download((str(tmp_path / "nowhere"),), ["x"], Target(), Sources(), tmp_path)
