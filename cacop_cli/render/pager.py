"""Output longer than the screen goes through a pager, the way git does it.

Only on a terminal, and only for commands that read (`show`, `list`, `search`, …): their
output is kept while the command runs, then written straight out when it fits on the
screen, or handed to the pager when it does not. The pager is `CACOP_PAGER`, else `PAGER`,
else `less -FRX` (`more` where `less` is missing; on Windows `more`, or none). An empty
value or `cat` turns paging off, as `--no-pager` does. A pipe or a file never gets a pager.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress

from . import terminal

# Commands whose output is read, not answered: (group, command) or (command,).
PAGED_COMMANDS = frozenset(
    {("show",), ("list",), ("search",), ("similar",), ("experts",), ("gaps",), ("digest",),
     ("status",), ("validate",), ("rfi", "list")}
)  # fmt: skip
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def pager_command(
    environ: Mapping[str, str] | None = None, platform: str | None = None
) -> list[str] | None:
    """The pager to run, as an argument list; None for no pager at all."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    for name in ("CACOP_PAGER", "PAGER"):
        value = environ.get(name)
        if value is not None:
            value = value.strip()
            if value in ("", "cat"):
                return None
            return shlex.split(value, posix=platform != "win32") or None
    if platform == "win32":
        return ["more"] if shutil.which("more") else None
    if shutil.which("less"):
        return ["less", "-FRX"]
    return ["more"] if shutil.which("more") else None


def screen_lines(output: str, columns: int) -> int:
    """How many rows of a `columns`-wide terminal the output takes (long lines wrap)."""
    rows = 0
    for line in _ESCAPES.sub("", output).rstrip("\n").split("\n"):
        cells = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
        rows += max(1, -(-cells // max(columns, 1)))
    return rows


class _Screen(io.StringIO):
    """What a command prints while it runs, held for the pager; a terminal to Rich."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def wanted(words: tuple[str, ...], no_pager: bool) -> bool:
    """Should this command's output be paged? Not with --no-pager, nor off a terminal."""
    if no_pager or not (words[:1] in PAGED_COMMANDS or words[:2] in PAGED_COMMANDS):
        return False
    try:
        really = sys.stdout is not None and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
    return really and terminal(sys.stdout)


@contextmanager
def paging(enabled: bool) -> Iterator[None]:
    """Hold stdout while the block runs; then show it, through the pager if it is long."""
    if not enabled:
        yield
        return
    real, held = sys.stdout, _Screen()
    sys.stdout = held
    try:
        yield
    finally:
        sys.stdout = real
        _show(held.getvalue(), real)


def _show(output: str, stream) -> None:
    if not output:
        return
    size = shutil.get_terminal_size()
    command = pager_command()
    if command is None or screen_lines(output, size.columns) < size.lines:
        stream.write(output)
        stream.flush()
        return
    if not _run_pager(command, output):
        stream.write(output)
        stream.flush()


def _let_the_pager_answer(signum: int, frame: object) -> None:
    """SIGINT while the pager runs: the pager's to answer (less stops a long read)."""


def _run_pager(command: list[str], output: str) -> bool:
    """Give the output to the pager and wait for it; False if it could not start."""
    environ = dict(os.environ)
    environ.setdefault("LESS", "FRX")  # as git sets them: quit if one screen, keep colours
    environ.setdefault("LV", "-c")
    sys.stdout.flush()
    # The pager answers Ctrl-C; cacop lets it pass from before the pager starts (a Ctrl-C
    # raised inside Popen would leave a pager running that nothing waits for). A handler of
    # our own, not SIG_IGN: the pager starts with the default, which it would not with an
    # inherited SIG_IGN.
    previous = None
    with suppress(ValueError):  # not the main thread: Ctrl-C is then not ours to hold
        previous = signal.signal(signal.SIGINT, _let_the_pager_answer)
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE, env=environ)
    except OSError:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        return False
    try:
        with suppress(BrokenPipeError, OSError):  # the reader quit before the end
            pager.stdin.write(output.encode("utf-8", "replace"))  # type: ignore[union-attr]
        with suppress(BrokenPipeError, OSError):
            pager.stdin.close()  # type: ignore[union-attr]
        pager.wait()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return True
