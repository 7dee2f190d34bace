"""Output that fits the screen: every read command run in a real pseudo-terminal at 80×24
and 120×40 keeps every id whole on one line and no line wider than the terminal; output
longer than the screen goes through the pager, never in a pipe or with --no-pager."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixturefiles import FILES
from ptytools import drain

from cacop_cli.render.pager import pager_command, screen_lines

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")

TODAY = "2026-06-15"
LONG_ID = "alpha-2025-nibin-lead-bulletin-for-investigators-in-every-district-weekly"
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>]")


@pytest.fixture
def community(tmp_path) -> Path:
    """The community fixture, plus an entry with a 73-character id and a unit as author."""
    target = tmp_path / "community"
    shutil.copytree(FILES / "community", target)
    source = target / "kb/work-products/alpha-2025-nibin-lead-bulletin.md"
    text = source.read_text().replace("alpha-2025-nibin-lead-bulletin", LONG_ID)
    text = text.replace("title: NIBIN lead bulletin", "title: NIBIN lead bulletin, long edition")
    text = text.replace("[Ann Alvarez, Cy Chen]", "[Crime Analysis Unit, Cy Chen]")
    (target / f"kb/work-products/{LONG_ID}.md").write_text(text)
    return target


def ids_of(kb: Path) -> list[str]:
    return sorted(path.stem for path in (kb / "kb").rglob("*.md") if path.parent.name != "kb")


def in_pty(argv: list[str], columns: int, rows: int, **environ: str) -> tuple[str, str, int]:
    """Run `argv` with stdin and stdout on a real pseudo-terminal of columns × rows (stderr
    to a pipe: talk is one line a message, by design); return stdout, stderr, exit code."""
    import fcntl
    import pty
    import struct
    import termios

    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "PAGER")}
    env.update(TERM="xterm-256color", COLUMNS=str(columns), LINES=str(rows), **environ)
    env.pop("CACOP_PAGER", None) if "CACOP_PAGER" not in environ else None
    process = subprocess.Popen(
        argv, stdin=child, stdout=child, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    os.close(child)
    written = drain(parent, process, 60)
    stderr = process.stderr.read().decode("utf-8", "replace")  # type: ignore[union-attr]
    code = process.wait(timeout=30)
    return written.decode("utf-8", "replace"), stderr, code


def screen(output: str) -> list[str]:
    """The lines a person sees: escapes gone, the terminal's CR LF as line ends."""
    return ESCAPES.sub("", output).replace("\r\n", "\n").split("\n")


READS = [
    ["list"],
    ["list", "--type", "work-product"],
    ["search", "nibin"],
    ["search", "gun"],
    ["similar", LONG_ID],
    ["show", LONG_ID],
    ["rfi", "list", "--today", TODAY],
    ["experts", "nibin", "--today", TODAY],
    ["gaps", "--today", TODAY],
    ["digest", "--since", "2025-01-01", "--today", TODAY],
    ["validate"],
    ["whoami"],
]


@pytest.mark.parametrize("columns, rows", [(80, 24), (120, 40)])
def test_every_read_command_fits_the_terminal_and_keeps_ids_whole(
    community, cacop_exe, columns, rows
):
    known = ids_of(community)
    assert LONG_ID in known
    for args in READS:
        argv = [*cacop_exe, "--no-pager", "--kb", str(community), *args]
        output, stderr, code = in_pty(argv, columns, rows)
        assert code == 0, (args, output, stderr)
        lines = screen(output)
        for line in lines:
            assert len(line) <= columns, (args, line)
        whole = [line.strip() for line in lines]
        joined = "".join(whole)
        for entry_id in known:  # an id broken over two lines is whole only when they join
            assert joined.count(entry_id) == sum(line.count(entry_id) for line in whole), (
                args,
                entry_id,
                output,
            )
        if args[0] in ("list", "search", "similar", "rfi", "experts"):
            assert any(entry_id in joined for entry_id in known), (args, output)


@pytest.mark.parametrize("columns, rows", [(80, 24), (120, 40)])
def test_listings_say_which_date_they_show(community, cacop_exe, columns, rows):
    base = [*cacop_exe, "--no-pager", "--kb", str(community)]
    listed = "\n".join(screen(in_pty([*base, "list"], columns, rows)[0]))
    assert "created" in listed
    found = "\n".join(screen(in_pty([*base, "search", "nibin"], columns, rows)[0]))
    assert re.search(r"(created|updated) 20\d\d-\d\d-\d\d", found)


def test_experts_lists_units_under_their_site_with_the_score_in_words(community, cacop_exe):
    sites = community / "kb/sites.yaml"
    sites.write_text(
        sites.read_text().replace(
            "  agency: Alpha City Police Department\n",
            "  agency: Alpha City Police Department\n  contacts:\n"
            "    - name: Cy Chen\n      role: crime analyst\n      email: cy.chen@alpha.gov\n",
        )
    )
    base = [*cacop_exe, "--no-pager", "--kb", str(community)]
    output, stderr, code = in_pty([*base, "experts", "nibin", "--today", TODAY], 80, 24)
    assert code == 0, stderr
    text = "\n".join(screen(output))
    people, sites_part = text.split("Sites (and their units)")
    assert "Crime Analysis Unit" not in people and "Cy Chen" in people
    assert "units: Crime Analysis Unit" in sites_part
    assert re.search(r"Cy Chen \(alpha\) — 3 entries on this, newest 2026-05", people)
    assert "reach: Cy Chen, crime analyst, cy.chen@alpha.gov" in text
    validated = subprocess.run([*base, "validate"], capture_output=True, text=True, check=False)
    assert validated.returncode == 0, validated.stdout + validated.stderr  # contacts: valid


# ---------------------------------------------------------------- the pager


@pytest.fixture
def recording_pager(tmp_path) -> tuple[str, Path]:
    """A pager that notes it ran, then shows its input."""
    mark = tmp_path / "paged"
    script = tmp_path / "pager.sh"
    script.write_text(f"#!/bin/sh\necho ran > '{mark}'\ncat\n")
    script.chmod(0o755)
    return str(script), mark


def test_long_output_on_a_terminal_goes_through_the_pager(community, cacop_exe, recording_pager):
    pager, mark = recording_pager
    base = [*cacop_exe, "--kb", str(community)]
    output, _, code = in_pty([*base, "list"], 80, 24, CACOP_PAGER=pager)
    assert code == 0 and mark.is_file(), output  # longer than 24 rows: paged
    assert LONG_ID in output  # what the pager was given: the same narrow layout
    mark.unlink()
    output, _, code = in_pty([*base, "whoami"], 80, 24, CACOP_PAGER=pager)
    assert code == 0 and not mark.exists(), "a short output is written straight out"
    output, _, code = in_pty([*base, "--no-pager", "list"], 80, 24, CACOP_PAGER=pager)
    assert code == 0 and not mark.exists() and LONG_ID in output
    output, _, code = in_pty([*base, "list"], 80, 24, CACOP_PAGER="", PAGER=pager)
    assert code == 0 and not mark.exists(), "an empty CACOP_PAGER turns paging off"
    output, _, code = in_pty([*base, "list"], 80, 24, PAGER=pager)
    assert code == 0 and mark.is_file(), "PAGER when CACOP_PAGER is not set"


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["search", "nibin", "--json"]])
def test_a_pipe_never_gets_a_pager(community, cacop_exe, recording_pager, args):
    pager, mark = recording_pager
    env = {**os.environ, "CACOP_PAGER": pager, "LINES": "5", "COLUMNS": "80"}
    result = subprocess.run(
        [*cacop_exe, "--kb", str(community), *args],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not mark.exists() and LONG_ID in result.stdout
    assert "\x1b" not in result.stdout


def test_the_default_pager_is_less_then_more(tmp_path):
    assert pager_command({"CACOP_PAGER": "most -s", "PAGER": "less"}) == ["most", "-s"]
    assert pager_command({"PAGER": "less -R"}) == ["less", "-R"]
    assert pager_command({"PAGER": "cat"}) is None
    assert pager_command({"CACOP_PAGER": " "}) is None
    if shutil.which("less"):
        assert pager_command({}) == ["less", "-FRX"]
    only_more = tmp_path / "bin"
    only_more.mkdir()
    (only_more / "more").write_text("#!/bin/sh\ncat\n")
    (only_more / "more").chmod(0o755)
    saved = os.environ["PATH"]
    try:
        os.environ["PATH"] = str(only_more)
        assert pager_command({}) == ["more"]
        os.environ["PATH"] = str(tmp_path / "nothing")
        assert pager_command({}) is None
        assert pager_command({}, platform="win32") is None  # no `more` on this PATH
    finally:
        os.environ["PATH"] = saved


def test_screen_lines_counts_wrapped_rows_without_escapes():
    assert screen_lines("a\nb\n", 80) == 2
    assert screen_lines("x" * 81, 80) == 2
    assert screen_lines("\x1b[1m" + "x" * 80 + "\x1b[0m", 80) == 1
    assert screen_lines("界" * 41, 80) == 2


@pytest.mark.parametrize("columns, rows", [(80, 24), (120, 40)])
def test_status_keeps_ids_and_commands_whole_at_any_width(community, cacop_exe, columns, rows):
    """`status` in a clone with an unshared entry whose id is 73 characters: each item is a
    block (title, then its id and the command that shares it), wrapped between words."""
    from conftest import git

    git(community, "init", "-q", "-b", "main")
    git(community, "config", "cacop.site", "alpha")
    git(community, "add", "-A")
    git(community, "reset", "-q", "--", f"kb/work-products/{LONG_ID}.md")
    git(community, "commit", "-qm", "the community")
    argv = [*cacop_exe, "--no-pager", "--kb", str(community), "status"]
    output, stderr, code = in_pty(argv, columns, rows)
    assert code == 0, (output, stderr)
    lines = [line.strip() for line in screen(output)]
    assert all(len(line) <= columns for line in lines), output
    assert any(line.endswith(LONG_ID) or line == LONG_ID for line in lines), output
    assert f"cacop submit {LONG_ID}" in " ".join(lines), output
    for entry_id in ids_of(community):
        assert "".join(lines).count(entry_id) == sum(line.count(entry_id) for line in lines)
