"""This clone's cacop settings read from `.git/config` itself, without starting git.

Every command reads them, so a plain `[cacop]` section is parsed here (0.1 ms, where running
git took 3-4 ms and importing the git module more); anything git's own parser would read
otherwise (includes, quotes, escapes, a worktree's `.git` file, a `[cacop "sub"]` section)
gives None, and gitrepo asks git. Standard library only; never runs anything.
"""

from __future__ import annotations

import re
from pathlib import Path

_PLAIN_SETTING = re.compile(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*([^\"\\;#]*?)\s*")


def plain_cacop_settings(root: Path) -> dict[str, str] | None:
    """The [cacop] section of `root/.git/config`, or None where git must read it."""
    return _plain_cacop_settings(root / ".git" / "config")


def _plain_cacop_settings(config: Path) -> dict[str, str] | None:
    """The [cacop] section of a plain git config file, or None where git must read it."""
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            section = stripped.lower()
            if section.startswith(("[include", "[cacop ")) or not section.endswith("]"):
                return None
            continue
        if section != "[cacop]":
            continue
        match = _PLAIN_SETTING.fullmatch(line)
        if match is None:
            return None
        found[match.group(1).lower()] = match.group(2)
    return found
