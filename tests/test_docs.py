"""The documents in the repository stay true to the code: docs/format.md names every exit
code and every command, its JSON table matches what the read commands print, and no file
of the project points at a document outside the repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import typer.main

from cacop_cli.cli import app
from cacop_cli.entries import read_entry
from cacop_cli.errors import ExitCode

REPO = Path(__file__).parent.parent
FORMAT = REPO / "docs" / "format.md"
# Spelled in pieces, so that this file does not name them itself.
OUTSIDE = [f"{name}.md" for name in ("SPEC", "STYLE", "HOSTILE", "WHOOSH")] + [
    "../" + "shared",
    "/work/" + "shared",
]


def section(heading: str) -> str:
    """The text of docs/format.md under `## heading`, up to the next `## `."""
    text = FORMAT.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/format.md has no '## {heading}' section"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """The cells of each body row of the Markdown tables in `text`."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|[-| ]+\|", line.strip()):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:] if rows else rows  # the first row is the header


def test_no_tracked_file_refers_to_a_document_outside_the_repository():
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    files = [name for name in listed.split("\0") if name]
    assert "docs/format.md" in files or (REPO / "docs/format.md").is_file()
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{name}:{number}: {word}" for word in OUTSIDE if word in line]
    assert found == [], "cite docs/format.md or docs/architecture.md instead:\n" + "\n".join(found)


def test_every_exit_code_is_in_the_format_tables_exit_codes():
    documented = {}
    for cells in table_rows(section("Exit codes")):
        if cells and cells[0].isdigit():
            documented[int(cells[0])] = cells[1].strip("`")
    assert documented == {int(code): code.name for code in ExitCode}


def command_paths() -> list[str]:
    found: list[str] = []

    def walk(command, prefix: str) -> None:
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if not sub.hidden:
                found.append(f"{prefix}{name}")
                walk(sub, f"{prefix}{name} ")

    walk(typer.main.get_command(app), "")
    return found


def test_the_walk_finds_subcommands():
    assert {"search", "rfi", "rfi open", "bundle apply"} <= set(command_paths())


@pytest.mark.parametrize("path", command_paths())
def test_every_command_has_a_section_in_the_format(path):
    text = section("Commands")
    assert re.search(rf"^### `cacop {re.escape(path)}(?:[ `])", text, re.M), (
        f"docs/format.md's '## Commands' has no '### `cacop {path} …`' section"
    )


def test_every_command_in_the_top_level_help_has_a_section(cacop_exe):
    shown = subprocess.run([*cacop_exe, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    listed = shown.stdout.split("Commands:", 1)[1]  # plain help: the output is a pipe
    names = re.findall(r"^\s{2}([a-z][a-z-]*)\s", listed, re.M)
    assert "search" in names and "rfi" in names
    text = section("Commands")
    for name in names:
        assert re.search(rf"^### `cacop {name}[ `]", text, re.M), name


RFI = "beta-2025-nibin-and-group-data"
RUNS = {
    "validate": ["validate"],
    "show": ["show", RFI],
    "list": ["list"],
    "search": ["search", "nibin"],
    "similar": ["similar", RFI],
    "rfi list": ["rfi", "list"],
    "gaps": ["gaps", "--by-type"],
    "experts": ["experts", "nibin"],
    "digest": ["digest", "--since", "2000-01-01"],
    "status": ["status"],
}


def documented_keys() -> dict[str, tuple[set[str], set[str]]]:
    """command -> (keys always printed, keys printed in some cases), from the JSON table.
    In a keys cell, names before the first ';' are always there, names after it sometimes."""
    table = {}
    for cells in table_rows(section("JSON output")):
        if len(cells) == 3 and cells[2] == "✓":
            always, _, sometimes = cells[1].partition(";")
            table[cells[0].strip("`")] = (
                set(re.findall(r"`([a-z_]+)`", always)),
                set(re.findall(r"`([a-z_]+)`", sometimes)),
            )
    return table


def test_the_json_table_marks_every_read_command_it_can_run():
    assert set(documented_keys()) == set(RUNS)


@pytest.mark.parametrize("command", sorted(RUNS))
def test_documented_json_keys_are_what_the_command_prints(cli, kb_path, command):
    result = cli(*RUNS[command], "--json", kb=kb_path)
    assert result.exit_code == 0, result.stderr
    printed = set(json.loads(result.stdout))
    if command == "show":  # the entry's own fields come first, whatever they are
        path = kb_path / f"kb/rfis/{RFI}.md"
        printed -= set(read_entry(path, kb_path).meta)
    always, sometimes = documented_keys()[command]
    assert always <= printed <= always | sometimes
