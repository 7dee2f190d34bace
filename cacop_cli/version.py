"""The version of this cacop, and the commit when it runs from a git checkout of its source.

Only what `cacop --version` needs: stdlib, no dataclasses (building one costs ~1 ms)."""

from __future__ import annotations

import re
from pathlib import Path

from . import __version__


def _hex(text: str) -> str | None:
    return text if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", text) else None


def checkout_commit(package_dir: Path | None = None) -> str | None:
    """The commit checked out, when cacop runs from a git checkout of its own source.

    Read from `.git/HEAD` and the ref it names (loose or packed) without starting git:
    `cacop --version` stays as fast as before. None for an installed wheel, or anything
    that cannot be read."""
    root = (package_dir or Path(__file__).resolve().parent).parent
    if not (root / "pyproject.toml").is_file():  # a wheel in site-packages: no checkout
        return None
    try:
        git = root / ".git"
        if git.is_file():  # a worktree or submodule: "gitdir: PATH"
            text = git.read_text("utf-8").strip()
            if not text.startswith("gitdir: "):
                return None
            git = root / text.removeprefix("gitdir: ")
        head = (git / "HEAD").read_text("utf-8").strip()
        if not head.startswith("ref: "):
            return _hex(head)  # a detached HEAD
        ref = head.removeprefix("ref: ")
        common = git
        if (git / "commondir").is_file():
            common = git / (git / "commondir").read_text("utf-8").strip()
        for base in dict.fromkeys((git, common)):
            loose = base / ref
            if loose.is_file():
                return _hex(loose.read_text("utf-8").strip())
        packed = common / "packed-refs"
        for line in packed.read_text("utf-8").splitlines() if packed.is_file() else ():
            commit, _, name = line.partition(" ")
            if name == ref:
                return _hex(commit)
    except (OSError, UnicodeDecodeError):
        return None
    return None  # an unborn branch


def version_line() -> str:
    commit = checkout_commit()
    return f"cacop {__version__}" + (f" (commit {commit[:12]})" if commit else "")
