"""Every command, sub-apps included, has help text and a line in README.md's command reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperOption

from cacop_cli.cli import app

README = Path(__file__).parent.parent / "README.md"


def command_paths() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []

    def walk(command, prefix: str) -> None:
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if sub.hidden:
                continue
            found.append((f"{prefix}{name}", sub))
            walk(sub, f"{prefix}{name} ")

    walk(typer.main.get_command(app), "")
    return found


COMMANDS = command_paths()


def commands_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Commands\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Commands' section"
    return match.group(1)


def test_the_tree_holds_the_core_commands():
    names = {path for path, _ in COMMANDS}
    assert {"init", "new", "validate", "show", "list"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_command_has_help(cli, path, command):
    assert (command.help or command.short_help or "").strip(), f"`cacop {path}` has no help"
    for parameter in command.params:
        if isinstance(parameter, TyperOption) and not parameter.hidden:
            assert parameter.help, f"`cacop {path}` option {parameter.opts} has no help"
    result = cli(*path.split(), "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    for parameter in command.params:  # named as the README names them: PATH, ID, QUERY
        if not isinstance(parameter, TyperOption):
            assert parameter.metavar, f"`cacop {path}` argument {parameter.name} has no metavar"
            assert parameter.metavar.strip("[].…").isupper(), parameter.metavar


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS])
def test_command_is_in_the_readme(path):
    section = commands_section()
    assert re.search(rf"`cacop {re.escape(path)}(?:[ `])", section), (
        f"README.md's '## Commands' does not mention `cacop {path}`"
    )


def test_top_level_help_lists_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for path, _ in COMMANDS:
        if " " not in path:
            assert path in result.stdout
