"""config.py: engage-sync.yaml read into a Config, what it keeps, what it refuses, and the order
flag > environment > file > default (problems reported through the CLI are in test_cli.py,
the `optOuts:` block in test_optouts.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engage_sync.config import Config, Rails, aimed, load_config
from engage_sync.errors import ConfigError


def settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engage-sync.yaml"
    path.write_text(text)
    return path


def test_no_settings_file_is_every_default(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path)
    assert config == Config(settings={})
    assert config.rails == Rails() and config.prune is False and config.prune_action == "cancel"


def test_an_empty_settings_file_is_every_default_read_from_it(tmp_path: Path) -> None:
    path = settings(tmp_path, "# nothing yet\n")
    assert load_config(cwd=tmp_path) == Config(path=path, settings={})


def test_each_setting_lands_in_its_field(tmp_path: Path) -> None:
    settings(
        tmp_path,
        "account: 12345\nbaseUrl: https://engage.example/voice\nstate: s.json\n"
        "leadsets: sets\nbatchSize: 50\nprune: true\npruneAction: delete\nlookupDelay: 2.5\n"
        "options: {dialPriority: HIGH}\nrateLimits: {search: 30/10}\n"
        "rails: {maxCreates: 5, maxPruneFraction: 0.5}\n",
    )
    config = load_config(cwd=tmp_path)
    assert config.account == "12345"  # an id, as text
    assert (config.base_url, config.state, config.leadsets) == (
        "https://engage.example/voice",
        "s.json",
        "sets",
    )
    assert (config.batch_size, config.prune, config.prune_action, config.lookup_delay) == (
        50,
        True,
        "delete",
        2.5,
    )
    assert config.options == {"dialPriority": "HIGH"}
    assert config.rate_limits == {"search": "30/10"}
    assert config.rails == Rails(max_creates=5, max_prune_fraction=0.5)


def test_the_settings_kept_for_the_plan_are_plain_json(tmp_path: Path) -> None:
    settings(tmp_path, "account: '7'\noptOuts: {closed: [2026-12-24]}\n")
    kept = load_config(cwd=tmp_path).settings
    assert kept == {"account": "7", "optOuts": {"closed": ["2026-12-24"]}}
    assert json.loads(json.dumps(kept)) == kept


def test_bad_yaml_in_the_settings_is_refused_at_its_line(tmp_path: Path) -> None:
    settings(tmp_path, "account: 1\n\nrails: {maxCreates: [}\n")
    with pytest.raises(ConfigError, match=r"^engage-sync\.yaml:3: invalid YAML: "):
        load_config(cwd=tmp_path)


def test_an_explicit_tag_its_value_does_not_fit_is_a_clear_problem(tmp_path: Path) -> None:
    settings(tmp_path, "account: '1'\nbatchSize: !!int ten\n")
    with pytest.raises(ConfigError) as e:
        load_config(cwd=tmp_path)
    assert str(e.value) == "engage-sync.yaml:2: batchSize: 'ten' is not of type 'integer'"


def test_problems_are_named_with_the_path_given_on_the_command_line(tmp_path: Path) -> None:
    path = settings(tmp_path, "batchSize: 0\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(path))
    assert str(e.value) == f"{path}:1: batchSize: 0 is less than the minimum of 1"


def test_an_unknown_phone_region_is_refused(tmp_path: Path) -> None:
    settings(tmp_path, "optOuts:\n  phoneRegion: ZZ\n")
    with pytest.raises(ConfigError) as e:
        load_config(cwd=tmp_path)
    assert str(e.value) == (
        "engage-sync.yaml:2: optOuts.phoneRegion: 'ZZ' is not a region phone numbers are known for"
    )


def test_a_settings_file_linked_from_outside_the_repository_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("account: 1\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "engage-sync.yaml").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the repository through a symbolic link"):
        load_config(cwd=repo)
    assert load_config(str(repo / "engage-sync.yaml")).account == "1"  # named: the user's choice


def test_aimed_gives_the_account_and_service_a_command_works_with() -> None:
    config = Config(account="1", base_url="https://a.example/voice")
    assert aimed(config, env={}) == config
    env = {"ENGAGE_ACCOUNT_ID": "2", "ENGAGE_BASE_URL": "https://b.example/voice"}
    moved = aimed(config, env=env)
    assert (moved.account, moved.base_url) == ("2", "https://b.example/voice")
    flagged = aimed(config, account="3", base_url="https://c.example/voice", env=env)
    assert (flagged.account, flagged.base_url) == ("3", "https://c.example/voice")
    assert aimed(Config(), env={}).account is None


def test_the_target_is_the_account_at_the_service() -> None:
    assert Config().target() == "@https://ringcx.ringcentral.com/voice"  # the default service
    config = Config(account="1", base_url="https://engage.example/voice/")
    assert config.target() == "1@https://engage.example/voice"
    assert config.target("2") == "2@https://engage.example/voice"
