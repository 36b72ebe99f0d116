"""`engage-sync lock`: pin this release and every package it needs by hash, for the install step
of the scaffolded workflows (gitops/install_lock.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..config import load_config
from ..display import printable
from ..errors import ExitCode
from ..gitops import install_lock, pip
from ..gitops.pip import Sources, Target


def _target(_ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Refuses a --python-version or --platform no target can have (a usage error)."""
    try:
        Target(**{"python" if param.name == "python_version" else "platform": value})
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    return value


@click.command()
@click.option(
    "--out",
    default=install_lock.DEFAULT_PATH,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The lock file to write (the workflows look for the default path).",
)
@click.option(
    "--python-version",
    default=pip.DEFAULT_PYTHON,
    show_default=True,
    callback=_target,
    help="The Python the workflows run (their setup-python step).",
)
@click.option(
    "--platform",
    default=pip.DEFAULT_PLATFORM,
    show_default=True,
    callback=_target,
    help="The wheel platform of the runner (ubuntu-latest; older manylinux wheels count too).",
)
@click.option("--index-url", metavar="URL", help="The package index (instead of pip's own).")
@click.option("--extra-index-url", metavar="URL", multiple=True, help="Another index.")
@click.option(
    "--find-links", metavar="DIR|URL", multiple=True, help="A folder or page of wheels too."
)
@click.option("--no-index", is_flag=True, help="Only --find-links: no index at all.")
def lock(
    out: Path,
    python_version: str,
    platform: str,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    no_index: bool,
) -> ExitCode:
    """Pin engage-sync and everything it needs by hash for the workflows' install.

    Writes a pip requirements file (`name==version --hash=sha256:...` for engage-sync of this
    version and each dependency) that the scaffolded workflows install with
    `pip install --require-hashes --no-deps` when it exists. Needs network access to the
    package index (pip downloads every wheel to hash it) and this release on that index, or its
    wheel in --find-links. pip's own configuration (pip.conf, PIP_INDEX_URL) applies. With the
    state in S3 (`state: {backend: s3}` in ./engage-sync.yaml) the extra `[s3]` is locked too.
    """
    target = Target(python=python_version, platform=platform)
    sources = Sources(index_url, extra_index_url, find_links, no_index)
    store = load_config().state_store
    extra = f"[{store['backend']}]" if store is not None else ""  # the backend's own extra
    made = install_lock.lock(f"engage-sync{extra}=={__version__}", target, sources)
    install_lock.write(made, out)
    click.echo(
        f"Locked engage-sync {__version__} and {len(made.pins) - 1} packages it needs, for "
        f"{target.describe()}, from {printable(sources.describe())}: wrote {printable(out)}."
    )
    if out.as_posix() != install_lock.DEFAULT_PATH and not out.as_posix().endswith(
        "/" + install_lock.DEFAULT_PATH
    ):
        click.echo(f"The workflows install from {install_lock.DEFAULT_PATH}, not {printable(out)}.")
    else:
        click.echo("Commit it: the workflows install from it (pip --require-hashes).")
    return ExitCode.OK
