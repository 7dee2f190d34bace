"""Which site am I (issue 14 item 1): a clone whose analyst has not said which site they are
never writes as cacop.yaml's site, which is the knowledge base's. On a terminal the first
command that writes asks (in a real pseudo-terminal here); without one it refuses, exit 2,
with the command to run. Outside git, and wherever a personal setting exists, nothing asks.

The suite's clones say their site once (tests/gitserver.py `analyst_site`); these tests make
clones without it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ptytools import dialogue

from cacop_cli.errors import ExitCode

from conftest import FILES, git

YEAR = dt.date.today().year
NEW = ["new", "strategy", "--title", "Porch letters", "--topic", "crime-analysis", "--no-edit"]
RFI = "beta-2025-nibin-and-group-data"  # the fixture's open RFI, from beta to every site
WRITES = {
    "new": NEW,
    "rfi open": ["rfi", "open", "--title", "Who has LPR?", "--needed-by", "2099-01-01",
                 "--message", "Anyone?"],
    "rfi respond": ["rfi", "respond", RFI, "--message", "We do."],
    "rfi close": ["rfi", "close", "alpha-2025-x"],
    "submit": ["submit", "alpha-2024-focused-deterrence-call-ins", "--no-push"],
}  # fmt: skip


@pytest.fixture
def bare_clone(tmp_path) -> Path:
    """A clone of the fixture KB whose analyst has set nothing: cacop.yaml says `site: alpha`
    and kb/sites.yaml lists alpha, beta and gamma."""
    clone = tmp_path / "clone"
    shutil.copytree(FILES / "valid", clone)
    (clone / ".gitignore").write_text(".cacop/\n")
    git(clone, "init", "-q", "-b", "main")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "start")
    return clone


def entries_of(clone: Path) -> set[str]:
    return {path.name for path in (clone / "kb").rglob("*.md")}


@pytest.mark.parametrize("command", list(WRITES))
def test_without_a_terminal_every_write_refuses_with_the_command_to_run(
    command, bare_clone, cacop_exe
):
    before = entries_of(bare_clone)
    done = subprocess.run(
        [*cacop_exe, "--kb", str(bare_clone), *WRITES[command]],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == ExitCode.USAGE, (done.stdout, done.stderr)
    assert "`cacop config site SLUG`" in done.stderr
    assert "alpha, beta, gamma" in done.stderr and "CACOP_SITE" in done.stderr
    assert "Traceback" not in done.stderr and "Which site" not in done.stderr
    assert entries_of(bare_clone) == before  # nothing written as alpha
    assert "submit/" not in git(bare_clone, "branch")


def test_reading_never_asks(cli, bare_clone):
    for args in (["list"], ["show", RFI], ["whoami", "--json"], ["status"], ["rfi", "list"]):
        result = cli(*args, kb=bare_clone)
        assert result.exit_code == ExitCode.OK, (args, result.stderr)
    site = json.loads(cli("whoami", "--json", kb=bare_clone).stdout)["site"]
    assert site == {"value": "alpha", "from": "cacop.yaml"}  # shown as the KB's, not set
    for args in (["whoami"], ["status"]):  # and said: what status lists is alpha's, not yours
        said = cli(*args, kb=bare_clone).stderr
        assert "you have not said which site you are" in said and "cacop config site" in said
    cli("config", "site", "beta", kb=bare_clone)
    assert "which site you are" not in cli("status", kb=bare_clone).stderr


def test_the_first_write_on_a_terminal_asks_again_until_a_site_and_keeps_it(
    bare_clone, cacop_exe, cli
):
    screen, code = dialogue(
        [*cacop_exe, "--kb", str(bare_clone), *NEW],
        [
            ("Which site are you? [alpha, beta, gamma]", "Nowhere\r"),
            ("try again", ""),
            ("Which site are you?", "  BETA \r"),  # case-blind, spaces ignored
        ],
    )
    assert code == ExitCode.OK, screen
    assert "'Nowhere' is not a site in kb/sites.yaml" in screen
    assert "git config cacop.site = beta" in screen  # said where it was kept
    assert "Test Analyst (git config user.name)" in screen  # the default author, not asked
    assert (bare_clone / f"kb/strategies/beta-{YEAR}-porch-letters.md").is_file()
    assert git(bare_clone, "config", "cacop.site").strip() == "beta"
    again = cli(*NEW[:3], "Porch letters again", *NEW[4:], kb=bare_clone)  # no terminal now
    assert again.exit_code == ExitCode.OK, again.stderr
    assert (bare_clone / f"kb/strategies/beta-{YEAR}-porch-letters-again.md").is_file()


def test_a_site_may_be_answered_by_its_name(bare_clone, cacop_exe):
    sites = bare_clone / "kb/sites.yaml"
    sites.write_text(sites.read_text().replace("name: Gamma", "name: Gamma City"))
    screen, code = dialogue(
        [*cacop_exe, "--kb", str(bare_clone), *NEW], [("Which site are you?", "gamma city\r")]
    )
    assert code == ExitCode.OK, screen
    assert git(bare_clone, "config", "cacop.site").strip() == "gamma"


def test_end_of_input_at_the_question_writes_nothing(bare_clone, cacop_exe):
    before = entries_of(bare_clone)
    screen, code = dialogue(
        [*cacop_exe, "--kb", str(bare_clone), *NEW], [("Which site are you?", "\x04")]
    )
    assert code != ExitCode.OK, screen
    assert entries_of(bare_clone) == before and "Traceback" not in screen
    assert "cacop.site" not in git(bare_clone, "config", "--list", "--local")


def test_a_personal_setting_means_no_question(cli, bare_clone, monkeypatch, tmp_path):
    monkeypatch.setenv("CACOP_SITE", "gamma")
    assert cli(*NEW, kb=bare_clone).exit_code == ExitCode.OK
    monkeypatch.delenv("CACOP_SITE")
    assert cli("config", "--user", "site", "beta", kb=bare_clone).exit_code == ExitCode.OK
    result = cli(*NEW[:3], "From the user config", *NEW[4:], kb=bare_clone)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert (bare_clone / f"kb/strategies/beta-{YEAR}-from-the-user-config.md").is_file()


def test_outside_git_the_folder_writes_as_its_cacop_yaml_site(cli, kb_path):
    """Nothing outside git is shared: the folder's cacop.yaml is its owner's, so no question."""
    result = cli(*NEW, kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert (kb_path / f"kb/strategies/alpha-{YEAR}-porch-letters.md").is_file()


def test_init_keeps_the_site_it_was_given_as_this_clones(cli, tmp_path):
    made = cli("init", str(tmp_path / "new-kb"), "--site", "memphis")
    assert made.exit_code == ExitCode.OK, made.stderr
    who = json.loads(cli("whoami", "--json", kb=tmp_path / "new-kb").stdout)["site"]
    assert who == {"value": "memphis", "from": "git config cacop.site"}
    written = cli(*NEW, kb=tmp_path / "new-kb")
    assert written.exit_code == ExitCode.OK, written.stderr
