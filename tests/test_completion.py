"""Shell completion (issue 14 item 4): ids from file names, types, topics, sites of
kb/sites.yaml and paths; `--show-completion` on the root; nothing added to other commands."""

from __future__ import annotations

import os
import subprocess

import pytest

from cacop_cli.cli import for_command
from cacop_cli.errors import ExitCode


def complete(cacop_exe, cwd, words: str) -> list[str]:
    """What bash would be offered for `words` (the last one being typed)."""
    env = {
        **os.environ,
        "_CACOP_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = subprocess.run(
        cacop_exe, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        ("cacop show alpha-2024", ["alpha-2024-focused-deterrence-call-ins",
                                   "alpha-2024-shooting-review-checklist"]),
        ("cacop rfi respond beta-2025", ["beta-2025-nibin-and-group-data"]),
        ("cacop list --site ", ["alpha", "beta", "gamma"]),
        ("cacop search --topic gun", ["gun-violence"]),
        ("cacop search --type work", ["work-product"]),
        ("cacop new --tlp amber", ["amber", "amber+strict"]),
        ("cacop submit kb/st", ["kb/strategies/"]),
    ],
)  # fmt: skip
def test_the_shell_is_offered_ids_values_and_paths(cacop_exe, kb_path, words, offered):
    assert complete(cacop_exe, kb_path, words) == offered


def test_completing_ids_reads_no_entry(cacop_exe, kb_path):
    (kb_path / "kb/strategies/alpha-2099-broken.md").write_text("not an entry at all")
    assert "alpha-2099-broken" in complete(cacop_exe, kb_path, "cacop show alpha-2099")


def test_show_completion_prints_a_script_for_each_shell(cacop_exe, kb_path):
    for shell in ("bash", "zsh", "fish", "powershell"):
        result = subprocess.run(
            [*cacop_exe, "--show-completion", shell],
            env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == ExitCode.OK, result.stderr
        assert "_CACOP_COMPLETE" in result.stdout


def test_completion_options_belong_to_the_root_alone(monkeypatch):
    monkeypatch.delenv("_CACOP_COMPLETE", raising=False)
    assert for_command(["--help"])._add_completion
    assert not for_command(["search", "robbery"])._add_completion
    assert not for_command(["--version"])._add_completion
