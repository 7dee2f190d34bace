"""Views of upgrade."""

from __future__ import annotations

from ..release import FORMAT, UpgradeResult
from . import emit, note


def upgraded(result: UpgradeResult) -> None:
    if not result.changed:
        note(f"this knowledge base is in format {result.before}, the newest; nothing to change")
        return
    for step in result.steps:
        note(f"upgraded: {step}")
    for name in result.changed:
        emit(name)
    if result.after != result.before:
        note(f"format {result.before} -> {result.after} (this cacop writes {FORMAT})")
    note("review the changes with `git diff`, then share them (`cacop submit` or git)")
