"""Who I am and where the line is (issue 13 item 5, issue 14 item 1): `cacop config` and
`cacop whoami`, on real git clones; a pulled cacop.yaml can tighten the line, never loosen it
until confirmed in this clone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode

from conftest import git


def whoami(cli, kb) -> dict:
    result = cli("whoami", "--json", kb=kb)
    assert result.exit_code == ExitCode.OK, result.stderr
    return json.loads(result.stdout)


def set_kb_line(kb, line: str) -> None:
    config = kb / "cacop.yaml"
    text = config.read_text()
    current = load_kb(kb).share_max_tlp
    config.write_text(text.replace(f"max_tlp: {current}", f"max_tlp: {line}"))


def test_site_and_name_per_clone_and_where_they_came_from(cli, git_kb, monkeypatch):
    git(git_kb, "config", "--unset", "cacop.site")  # as cloned: no site of the analyst's own
    before = whoami(cli, git_kb)
    assert before["site"] == {"value": "alpha", "from": "cacop.yaml"}
    assert before["name"]["value"] == "Test Analyst"
    assert cli("config", "site", "beta", kb=git_kb).exit_code == ExitCode.OK
    assert cli("config", "name", "T. Okafor", kb=git_kb).exit_code == ExitCode.OK
    assert git(git_kb, "config", "cacop.site").strip() == "beta"
    after = whoami(cli, git_kb)
    assert after["site"] == {"value": "beta", "from": "git config cacop.site"}
    assert after["name"] == {"value": "T. Okafor", "from": "git config cacop.name"}
    monkeypatch.setenv("CACOP_SITE", "gamma")
    assert whoami(cli, git_kb)["site"] == {"value": "gamma", "from": "CACOP_SITE"}
    listed = cli("config", kb=git_kb)
    assert "T. Okafor" in listed.stdout and "gamma" in listed.stdout


def test_the_configured_name_is_the_default_author(cli, git_kb):
    cli("config", "name", "T. Okafor", kb=git_kb)
    result = cli("new", "strategy", "--title", "Porch pirate letters", "--topic",
                 "crime-analysis", "--no-edit", kb=git_kb)  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.stderr
    from pathlib import Path

    from cacop_cli.entries import read_entry

    assert read_entry(Path(result.stdout.strip()), git_kb).meta["authors"] == ["T. Okafor"]


def test_user_settings_apply_to_every_clone(cli, git_kb, tmp_path):
    result = cli("config", "--user", "name", "Pat Userwide", kb=git_kb)
    assert result.exit_code == ExitCode.OK, result.stderr
    found = whoami(cli, git_kb)["name"]
    assert found["value"] == "Pat Userwide" and found["from"].endswith("config.yaml")
    cli("config", "name", "Clone Only", kb=git_kb)  # the clone's own wins
    assert whoami(cli, git_kb)["name"]["value"] == "Clone Only"


def test_the_local_line_is_stricter_never_looser(cli, git_kb):
    assert whoami(cli, git_kb)["max_tlp"]["value"] == "green"
    cli("config", "max-tlp", "clear", kb=git_kb)
    assert load_kb(git_kb).max_tlp == "clear"
    cli("config", "max-tlp", "red", kb=git_kb)  # cannot loosen past cacop.yaml
    assert load_kb(git_kb).max_tlp == "green"
    assert cli("config", "max-tlp", "purple", kb=git_kb).exit_code == ExitCode.USAGE


def test_a_pulled_looser_line_waits_for_confirmation_a_stricter_one_applies_at_once(cli, git_kb):
    assert whoami(cli, git_kb)["max_tlp"]["value"] == "green"  # green is now confirmed
    set_kb_line(git_kb, "amber")  # as a pulled commit would
    result = cli("whoami", "--json", kb=git_kb)
    assert json.loads(result.stdout)["max_tlp"]["value"] == "green"
    assert result.stderr.count("cacop.yaml now allows TLP:AMBER") == 1
    assert "cacop config max-tlp --confirm" in result.stderr
    assert cli("config", "max-tlp", "--confirm", kb=git_kb).exit_code == ExitCode.OK
    confirmed = cli("whoami", "--json", kb=git_kb)
    assert json.loads(confirmed.stdout)["max_tlp"]["value"] == "amber"
    assert "now allows" not in confirmed.stderr
    set_kb_line(git_kb, "clear")  # stricter: at once, and it becomes the confirmed line
    assert whoami(cli, git_kb)["max_tlp"]["value"] == "clear"
    set_kb_line(git_kb, "amber")
    assert whoami(cli, git_kb)["max_tlp"]["value"] == "clear"


def test_settings_read_from_git_config_directly_equal_what_git_reads(git_kb):
    from cacop_cli import gitconfig, gitrepo

    git(git_kb, "config", "cacop.site", "memphis")
    git(git_kb, "config", "cacop.name", "T. Okafor")
    git(git_kb, "config", "cacop.max-tlp", "clear")
    direct = gitconfig._plain_cacop_settings(git_kb / ".git" / "config")
    assert direct == {"site": "memphis", "name": "T. Okafor", "max-tlp": "clear"}
    assert gitrepo.cacop_settings(git_kb) == direct
    git(git_kb, "config", "cacop.name", 'T. "Tee" Okafor ; the analyst')  # git quotes this
    assert gitconfig._plain_cacop_settings(git_kb / ".git" / "config") is None  # left to git
    assert gitrepo.cacop_settings(git_kb)["name"] == 'T. "Tee" Okafor ; the analyst'
    (git_kb / ".git" / "extra.cfg").write_text("[cacop]\n\tsite = baton-rouge\n")
    git(git_kb, "config", "include.path", "extra.cfg")
    assert gitconfig._plain_cacop_settings(git_kb / ".git" / "config") is None
    assert gitrepo.cacop_settings(git_kb)["site"] == "baton-rouge"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="elsewhere platformdirs decides")
def test_the_user_config_path_on_linux_is_platformdirs_own(monkeypatch, tmp_path):
    import platformdirs

    from cacop_cli.config import user_config_path

    for xdg in (str(tmp_path / "xdg"), ""):
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
        expected = Path(platformdirs.user_config_dir("cacop")) / "config.yaml"
        assert user_config_path() == expected
