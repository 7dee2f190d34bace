"""Helpers the hostile-input tests share: file snapshots, audit of opened paths, entry text."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STRATEGY_FIELDS = (
    "id: {id}\ntype: strategy\ntitle: Near-repeat burglary notification\nsite: alpha\n"
    "authors: [A. Analyst]\ncreated: 2024-03-05\ntopics: [crime-analysis]\ntlp: green\n"
    "status: active\nevidence: promising\n"
)
BODY = "## Problem\n\nRepeat burglaries near prior ones.\n"


def strategy_text(entry_id: str, extra: str = "", body: str = BODY) -> str:
    """A valid strategy (fields on lines 2-11, closing '---' on 12) plus `extra` lines."""
    return f"---\n{STRATEGY_FIELDS.format(id=entry_id)}{extra}---\n{body}"


def write_strategy(kb: Path, entry_id: str, extra: str = "", body: str = BODY) -> Path:
    path = kb / "kb" / "strategies" / f"{entry_id}.md"
    path.write_text(strategy_text(entry_id, extra, body), encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (links as their target text), to prove nothing changed; not
    .cacop/, which is derived and private (validate keeps its findings there)."""
    files = {}
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if ".git" in parts or parts[:1] == (".cacop",):
            continue
        if path.is_symlink():
            files[str(path.relative_to(root))] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            files[str(path.relative_to(root))] = path.read_bytes()
    return files


_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event in ("open", "os.listdir", "os.scandir") and args:
        target = args[0]
        if isinstance(target, (str, bytes, Path)):
            _OPENED.append(str(target if not isinstance(target, bytes) else target.decode()))


sys.addaudithook(_audit)


@contextmanager
def opened_paths() -> Iterator[list[str]]:
    """Every path opened or listed by this process inside the block (a real audit hook)."""
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


def no_traceback(result) -> None:
    both = result.stdout + result.stderr
    assert "Traceback" not in both, both
