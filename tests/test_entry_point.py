"""The console entry point builds only the command it runs (Typer's build of all is ~13 ms)."""

from __future__ import annotations

import subprocess

import pytest
import typer.main

from cacop_cli import cli
from cacop_cli.errors import ExitCode


def _built(args: list[str]) -> dict[str, object]:
    return dict(typer.main.get_command(cli.for_command(args)).commands)


FULL = _built([])


def test_the_whole_app_has_every_command():
    assert {"search", "index", "show", "list", "validate", "rfi", "bundle", "submit"} <= set(FULL)


@pytest.mark.parametrize("name", sorted(FULL))
def test_each_command_is_built_alone_and_alike(name):
    built = _built(["--kb", "some/where", name, "more", "--json"])
    assert list(built) == [name]
    alone, whole = built[name], FULL[name]
    assert [p.name for p in alone.params] == [p.name for p in whole.params]
    assert alone.help == whole.help
    if hasattr(whole, "commands"):  # a group (rfi, bundle): all of its own commands
        assert sorted(alone.commands) == sorted(whole.commands)


@pytest.mark.parametrize(
    "args",
    [[], ["--help"], ["-h"], ["serch", "x"], ["--kb", "search"], ["--version", "--help"]],
)
def test_without_a_known_command_word_every_command_is_built(args):
    assert set(_built(args)) == set(FULL)


def test_version_alone_needs_no_command():
    assert _built(["--version"]) == {}


def test_the_installed_script_runs_commands_and_answers_typos(cacop_exe, kb_path):
    version = subprocess.run([*cacop_exe, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("cacop ")
    listed = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), "list", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0 and '"entries"' in listed.stdout, listed.stderr
    typo = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), "serch", "x"], capture_output=True, text=True, timeout=30
    )
    assert typo.returncode == ExitCode.USAGE
    assert "Did you mean 'search'" in typo.stderr
