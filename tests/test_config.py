"""cacop.yaml: found, checked against its schema, and the check remembered safely."""

import os

import pytest

from cacop_cli.config import load_kb, user_state_dir
from cacop_cli.errors import ConfigError, ExitCode


def test_a_valid_settings_file_is_checked_once_per_version(kb_path):
    load_kb(kb_path)
    stamps = list((user_state_dir() / "settings-checked").iterdir())
    assert len(stamps) == 1
    load_kb(kb_path)
    assert list((user_state_dir() / "settings-checked").iterdir()) == stamps


def test_a_remembered_verdict_never_covers_a_changed_file(kb_path, cli):
    load_kb(kb_path)
    config = kb_path / "cacop.yaml"
    config.write_text(config.read_text() + "surprise: 1\n")
    with pytest.raises(ConfigError, match="surprise"):
        load_kb(kb_path)
    result = cli("validate", kb=kb_path)
    assert result.exit_code == ExitCode.NO_KB
    assert "cacop.yaml:" in result.stderr


def test_the_verdict_is_kept_outside_the_kb(kb_path):
    load_kb(kb_path)
    assert not (kb_path / ".cacop").exists()
    assert user_state_dir().is_relative_to(os.environ["HOME"])


def test_an_unwritable_state_folder_only_costs_the_check(kb_path, tmp_path, monkeypatch):
    blocked = tmp_path / "state-is-a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocked))
    assert load_kb(kb_path).site == "alpha"
    config = kb_path / "cacop.yaml"
    config.write_text(config.read_text().replace("max_tlp: green", "max_tlp: purple"))
    with pytest.raises(ConfigError, match="purple"):
        load_kb(kb_path)
