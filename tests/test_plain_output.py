"""Rich's colour and layout only on a terminal: pipes and files get plain lines, without Rich."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from kbtools import write_strategy
from rich.console import Console

from cacop_cli import render
from cacop_cli.errors import ExitCode

RFI_ID = "beta-2025-nibin-and-group-data"
STRATEGY_ID = "alpha-2024-focused-deterrence-call-ins"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.parametrize(
    "environ",
    [{}, {"FORCE_COLOR": "1"}, {"FORCE_COLOR": ""}, {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
     {"TTY_COMPATIBLE": "1"}, {"TTY_COMPATIBLE": "2"}, {"NO_COLOR": "1"}],
)  # fmt: skip
def test_terminal_is_decided_as_rich_decides_it(monkeypatch, tty, environ):
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    stream = _Tty() if tty else io.StringIO()
    assert render.terminal(stream) == Console(file=stream).is_terminal


def test_talk_with_stderr_closed_at_start_is_dropped_and_stdout_untouched(monkeypatch):
    data = io.StringIO()
    monkeypatch.setattr(sys, "stdout", data)
    monkeypatch.setattr(sys, "stderr", None)  # what Python sets for a descriptor closed at start
    render.error("no entry has the id x", "run cacop list")
    render.warn("skipped one entry")
    assert data.getvalue() == ""


def test_show_in_a_pipe_is_its_fields_then_its_markdown_as_written(cli, kb_path):
    result = cli("show", RFI_ID, kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Has anyone linked NIBIN leads to group violence data?", RFI_ID]
    assert "site       beta" in lines
    assert "status     answered" in lines  # derived from the two response files
    assert "responses  2" in lines
    assert "## Question" in lines  # Markdown as written, not rendered
    assert "--- Response 1 — gamma, G. Analyst, 2025-02-05 ---" in lines
    assert "We join the lead's incident numbers to the group audit's incident list weekly." in lines
    assert not any(char in result.stdout for char in "╭│═")


def test_show_on_a_terminal_keeps_richs_panel_and_rendered_markdown(cli, kb_path):
    terminal = {"FORCE_COLOR": "1", "NO_COLOR": "1", "COLUMNS": "100"}
    result = cli("show", RFI_ID, kb=kb_path, env=terminal)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "╭" in result.stdout and "Question" in result.stdout
    assert "## Question" not in result.stdout  # rendered as a heading


def test_show_written_to_a_file_keeps_the_entrys_markdown(cli, kb_path):
    body = (kb_path / f"kb/strategies/{STRATEGY_ID}.md").read_text().split("---\n", 2)[2]
    result = cli("show", STRATEGY_ID, kb=kb_path)
    assert body.strip("\n") in result.stdout


def test_search_in_a_pipe_is_plain_lines(cli, kb_path):
    result = cli("search", "nibin", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    lines = result.stdout.splitlines()
    first = next(number for number, line in enumerate(lines) if line.startswith("1. "))
    assert lines[first] == "1. TLP:GREEN  Has anyone linked NIBIN leads to group violence data?"
    assert lines[first + 1].split() == ["rfi", "·", "beta", "·", "created", "2025-02-01", RFI_ID]
    assert "nibin" in lines[first + 2].lower()  # the snippet, on one line
    assert any(line.startswith("  by type: ") for line in lines)
    assert "entries found" in result.stdout or "entry found" in result.stdout


def test_list_in_a_pipe_is_one_tab_separated_line_an_entry(cli, kb_path):
    result = cli("list", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    listed = cli("list", "--json", kb=kb_path)
    assert len(rows) == listed.stdout.count('"id":')
    assert all(len(row) == 6 and row[5].startswith("TLP:") for row in rows)
    row = next(row for row in rows if row[4] == STRATEGY_ID)
    assert row[:3] == ["2024-03-05", "strategy", "alpha"]


CHECK_NO_RICH = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('RICH LOADED\\n' if 'rich' in sys.modules else ''))\n"
    "from cacop_cli import main\n"
    "sys.argv = ['cacop', *sys.argv[1:]]\n"
    "main()\n"
)


@pytest.mark.parametrize(
    "command",
    [["show", RFI_ID], ["list"], ["search", "nibin"], ["search", "nibbin"], ["index"],
     ["validate"], ["rfi", "list"], ["search", "nibin", "--json"], ["gaps"],
     ["experts", "nibin"]],
)  # fmt: skip
def test_a_piped_command_never_loads_rich(kb_path, command):
    env = {key: value for key, value in os.environ.items() if key not in ("FORCE_COLOR",)}
    result = subprocess.run(
        [sys.executable, "-c", CHECK_NO_RICH, "--kb", str(kb_path), *command],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == ExitCode.OK, result.stderr
    assert (result.stdout + result.stderr).strip()  # it said something
    assert "RICH LOADED" not in result.stderr


@pytest.mark.parametrize(
    ("command", "code"),
    [(["--help"], ExitCode.OK), (["search", "--help"], ExitCode.OK), (["rfi", "-h"], ExitCode.OK),
     (["nosuch"], ExitCode.USAGE), (["search", "--bad"], ExitCode.USAGE)],
)  # fmt: skip
def test_help_and_usage_errors_are_plain_text_off_a_terminal(kb_path, command, code):
    env = {key: value for key, value in os.environ.items() if key not in ("FORCE_COLOR",)}
    run = [sys.executable, "-c", CHECK_NO_RICH, "--kb", str(kb_path), *command]
    piped = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
    assert piped.returncode == code, piped.stderr
    said = piped.stdout + piped.stderr
    assert "Usage: cacop" in said and "RICH LOADED" not in said
    assert not {"╭", "│", "╰"} & set(said)  # no boxes
    shown = subprocess.run(
        run, capture_output=True, text=True, env={**env, "TTY_COMPATIBLE": "1"}, timeout=60
    )
    assert shown.returncode == code and "RICH LOADED" in shown.stderr  # Typer's Rich help
    assert "╭" in shown.stdout + shown.stderr
    if code == ExitCode.USAGE:  # `cacop nosuch 2> errors.log` at a terminal: a plain file
        import pty

        leader, follower = pty.openpty()
        try:
            logged = subprocess.run(
                run, stdout=follower, stderr=subprocess.PIPE, text=True,
                env={**env, "TERM": "xterm"}, timeout=60,
            )  # fmt: skip
        finally:
            os.close(follower)
            os.close(leader)
        assert logged.returncode == code and "Usage: cacop" in logged.stderr
        assert "╭" not in logged.stderr


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
@pytest.mark.parametrize(
    "command", [["list"], ["search", "moral voices"], ["show", "alpha-2024-narrow-output"]]
)
def test_output_in_a_narrow_encoding_replaces_what_it_cannot_hold(
    kb_path, cacop_exe, encoding, command
):
    entry = write_strategy(kb_path, "alpha-2024-narrow-output", body="Moral voices — → 中.\n")
    entry.write_text(entry.read_text().replace("burglary notification", "burglary — notice"))
    args = [*cacop_exe, "--kb", str(kb_path), *command]
    wide, narrow = (
        subprocess.run(args, capture_output=True, timeout=60, env={**os.environ, **forced})
        for forced in ({"PYTHONIOENCODING": "utf-8"}, {"PYTHONIOENCODING": encoding})
    )
    assert (wide.returncode, narrow.returncode) == (0, 0), narrow.stderr
    assert "—" in wide.stdout.decode()  # the entry really is listed, dash and all
    expected = wide.stdout.decode().encode(encoding, "replace")
    assert narrow.stdout == expected and narrow.stderr == wide.stderr


def test_a_reader_that_leaves_early_is_not_an_error(kb_path, cacop_exe):
    listing = subprocess.Popen(
        [*cacop_exe, "--kb", str(kb_path), "show", RFI_ID],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    listing.stdout.read(10)
    listing.stdout.close()  # like `| head -c 10`
    _, stderr = listing.communicate(timeout=30)
    assert listing.returncode == ExitCode.OK
    assert b"Traceback" not in stderr and b"Exception ignored" not in stderr


def test_a_long_index_shows_a_progress_bar_only_on_a_terminal(cli, kb_path, monkeypatch):
    from kbtools import write_strategy
    from rich.progress import Progress

    started: list[str] = []
    real_start = Progress.start
    monkeypatch.setattr(Progress, "start", lambda bar: started.append("bar") or real_start(bar))
    for number in range(60):  # above the progress bar's threshold
        write_strategy(kb_path, f"alpha-2024-progress-{number}", body=f"entry {number}\n")
    watched = cli("index", "--rebuild", kb=kb_path, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert watched.exit_code == ExitCode.OK and started == ["bar"]
    piped = cli("index", "--rebuild", kb=kb_path)
    assert piped.exit_code == ExitCode.OK and started == ["bar"]  # no second bar
    assert piped.stderr.startswith("index rebuilt: 66 entries")


def test_the_progress_bar_ends_with_its_work_and_its_thread_with_it(monkeypatch):
    """Rich draws a bar from a thread of its own; once the build it shows is done the bar
    ends, so the command's later work may fork (scan.in_second_process refuses to fork
    while another thread runs)."""
    import threading
    import time

    from cacop_cli import cli, progress
    from cacop_cli.render import search as view

    def threads_after_a_moment() -> int:  # Rich tells its thread to stop, without a join
        deadline = time.monotonic() + 2
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.01)
        return threading.active_count()

    monkeypatch.setattr(view, "terminal", lambda stream: True)
    before = threading.active_count()
    with cli._progress_bar():
        advance = progress.current.get()
        advance(10, 100)
        assert threading.active_count() == before + 1  # drawing
        advance(100, 100)
        assert threads_after_a_moment() == before  # done: no thread left
        advance(1, 100)  # a second piece of long work gets a bar of its own
        assert threading.active_count() == before + 1
    assert threads_after_a_moment() == before


@pytest.mark.parametrize(
    "lines",
    [
        ["plain", "text, tabs\tand all", ""],
        ["ends with a return\r", "next", "bidi \u202etxt.exe", "bell\x07 and escape \x1b[31m"],
        ["\r\n", "\r", "x\ry"],
        [],
    ],
)
def test_plain_lines_are_cleaned_as_each_line_alone_would_be(lines):
    """plain_lines searches the whole text once; whatever it cleans, it cleans line by line,
    so a line's own carriage return never joins the line break after it."""
    import io

    from cacop_cli.models import clean
    from cacop_cli.render import plain_lines

    written = io.StringIO()
    plain_lines(iter(lines), written)
    assert written.getvalue() == "".join(clean(line) + "\n" for line in lines)
    trusted = io.StringIO()
    plain_lines(iter(lines), trusted, safe=True)
    assert trusted.getvalue() == "".join(f"{line}\n" for line in lines)


class _CountedWrites(io.StringIO):
    """A pipe's stand-in that counts the writes made to it."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_long_status_and_validate_reports_reach_a_pipe_in_one_write(monkeypatch):
    """Thousands of lines written and flushed one at a time cost ~0.1 s at 10,000 entries:
    off a terminal, status and validate write their lines at once, as a line at a time
    would have printed them."""
    from cacop_cli.models import Issue, ValidationReport
    from cacop_cli.render import core, working
    from cacop_cli.share.status import RfiToAnswer, Status, Unshared

    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    rfis = [
        RfiToAnswer(f"beta-2025-q{n}", f"Question [bold]{n}[/bold]\x1b[2J", "beta", "high",
                    "2025-03-01" if n % 2 else "", None, f"kb/rfis/beta-2025-q{n}.md")
        for n in range(500)
    ]  # fmt: skip
    unshared = [Unshared("alpha-2024-x", "strategy", "Street lights", "kb/strategies/a.md", "new")]
    report = Status("alpha", True, "origin/main", unshared=unshared, rfis_to_answer=rfis)
    issues = [
        Issue("error", "schema", f"kb/strategies/s{n}.md", 3, "tlp: missing") for n in range(500)
    ]
    for render_it in (lambda: working.status(report, False),
                      lambda: core.validation(ValidationReport(issues, 500), False)):  # fmt: skip
        stream = _CountedWrites()
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.setattr(sys, "stderr", io.StringIO())
        render_it()
        assert stream.writes == 1
        lines = stream.getvalue().splitlines()
        assert len(lines) >= 500 and "\x1b" not in stream.getvalue()
    assert stream.getvalue().splitlines()[0] == "kb/strategies/s0.md:3: error: tlp: missing"
    monkeypatch.setattr(sys, "stdout", stream := _CountedWrites())
    working.status(report, False)
    text = stream.getvalue().splitlines()
    assert text[:4] == ["Not yet shared:", "  Street lights", "    alpha-2024-x (new)",
                        "    share: cacop submit alpha-2024-x"]  # fmt: skip
    assert text[4] == "RFIs to alpha waiting for your answer:"
    assert text[5:8] == ["  Question [bold]0[/bold][2J", "    beta-2025-q0 from beta, no date",
                         "    cacop rfi respond beta-2025-q0"]  # fmt: skip
    assert text[8:10] == [
        "  Question [bold]1[/bold][2J",
        "    beta-2025-q1 from beta, needed by 2025-03-01",
    ]
