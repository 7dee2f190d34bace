"""Reading what a program wrote to a real pseudo-terminal, for the layout and colour tests."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time


def drain(parent: int, process: subprocess.Popen, seconds: float) -> bytes:
    """Everything the program writes to the terminal until it closes it (or `seconds` pass
    with nothing written: then the program is killed). Closes our side of the terminal."""
    chunks = []
    while True:
        ready, _, _ = select.select([parent], [], [], seconds)
        if not ready:
            process.kill()
            break
        try:
            data = os.read(parent, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(parent)
    return b"".join(chunks)


def dialogue(argv: list[str], steps: list[tuple[str, str]], timeout: float = 60) -> tuple[str, int]:
    """Run `argv` on a pseudo-terminal; for each (wait_for, answer) wait until the screen
    shows `wait_for` since the last answer, then type `answer`. The screen and exit code."""
    parent, child = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "LINES": "40", "PAGER": "cat"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(argv, stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    screen, seen = "", 0
    deadline = time.monotonic() + timeout
    pending = list(steps)
    try:
        while time.monotonic() < deadline:
            if pending and pending[0][0] in screen[seen:]:
                seen = screen.index(pending[0][0], seen) + len(pending[0][0])
                os.write(parent, pending.pop(0)[1].encode())
            ready, _, _ = select.select([parent], [], [], 0.2)
            if ready:
                try:
                    data = os.read(parent, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                screen += data.decode("utf-8", "replace")
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"still running; the screen:\n{screen}") from exc
    finally:
        if process.poll() is None:
            process.kill()
        os.close(parent)
    assert not pending, f"never saw {pending[0][0]!r} in:\n{screen}"
    return screen, code
