"""Reading what a program wrote to a real pseudo-terminal, for the layout and colour tests."""

from __future__ import annotations

import os
import select
import subprocess


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
