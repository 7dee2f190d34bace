"""Views of status, edit and open: stdout is what is pending or what happened."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import emit, note, out, plain_lines, print_json, terminal, text, warn
from .core import issue_lines

if TYPE_CHECKING:  # status loads neither editing (ops, sync) nor anything it imports
    from ..editing import Edited
    from ..share.status import Status

__all__ = ["note", "warn"]


def status(result: Status, as_json: bool) -> None:
    def told(items: list[dict]) -> list[dict] | None:
        return items if result.git else None

    if as_json:
        print_json(
            {
                "site": result.site,
                "git": result.git,
                "shared_branch": result.shared_branch,
                "last_sync": result.last_sync,
                # outside git only the RFIs can be told: the rest is null, not "none"
                "unshared": told([item.as_dict() for item in result.unshared]),
                "submissions": told([item.as_dict() for item in result.submissions]),
                "rfis_to_answer": [item.as_dict() for item in result.rfis_to_answer],
                "answers": told([item.as_dict() for item in result.answers]),
            }
        )
        return
    lines = _StatusLines()
    if not result.git:
        _status_outside_git(result, lines)
    else:
        _status_in_git(result, lines)
    lines.write()


class _StatusLines:
    """Status's lines, written at once: on a terminal each styled, a block's lines wrapped
    between words (an id moves to the next line whole); elsewhere plain, in one write (at
    50,000 entries status lists thousands of RFIs: a write and flush a line cost ~0.1 s)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, bool]] = []  # (line, style, wrapped between words)

    def heading(self, line: str, style: str = "bold") -> None:
        self.lines.append((line, style, False))

    def block(self, title: str, *details: str) -> None:
        """One item as a block that fits any screen: its title, then each detail on its
        own line."""
        self.lines += [(line, "", True) for line in (f"  {title}", *(f"    {d}" for d in details))]

    def write(self) -> None:
        if not terminal(sys.stdout):
            plain_lines(line for line, _, _ in self.lines)
            return
        for line, style, wrapped in self.lines:
            if wrapped:
                out().print(text(line), soft_wrap=False, overflow="fold")
            else:
                out().print(text(line, style), soft_wrap=True)


def _status_in_git(result: Status, lines: _StatusLines) -> None:
    shown = False
    if result.unshared:
        shown = True
        lines.heading("Not yet shared:")
        for item in result.unshared:
            lines.block(item.title, f"{item.entry_id} ({item.state})", f"share: {item.command}")
    if result.submissions:
        shown = True
        lines.heading(f"Submissions (as of the last sync or submit with {result.shared_branch}):")
        for sub in result.submissions:
            if sub.merged:
                state = f"merged into {result.shared_branch}; `cacop sync` brings it in"
            elif not sub.pushed:
                state = f"not pushed; send it with `cacop submit {sub.entry_id}`"
            elif not sub.up_to_date:
                state = f"changed since it was pushed; send it with `cacop submit {sub.entry_id}`"
            else:
                state = "pushed, waiting on review"
            lines.block(sub.title, sub.branch, state)
            if sub.pr_url and not sub.merged:
                lines.heading(f"    pull request: {sub.pr_url}", "")
    if result.rfis_to_answer:
        shown = True
        _rfis_to_answer(result, f"RFIs to {result.site} waiting for your answer:", lines)
    if result.answers:
        shown = True
        lines.heading(
            f"Answers to {result.site}'s RFIs since your last sync (bring in: cacop sync):"
        )
        for answer in result.answers:
            lines.block(answer.title, answer.entry_id, f"from {answer.site}, to {answer.rfi}")
    if not shown:
        lines.heading("nothing pending: everything here is shared, and no RFI waits for you", "")


def _rfis_to_answer(result: Status, heading: str, lines: _StatusLines) -> None:
    lines.heading(heading)
    for rfi in result.rfis_to_answer:
        due = f"needed by {rfi.needed_by}" if rfi.needed_by else "no date"
        lines.block(rfi.title, f"{rfi.entry_id} from {rfi.site}, {due}", rfi.command)


def _status_outside_git(result: Status, lines: _StatusLines) -> None:
    """One statement of what status can tell in a folder that is not a git clone: the RFIs
    waiting for this site; not what is unshared or submitted, since nothing here can be."""
    lead = (
        "not a git clone: nothing here can be shared or submitted, so status can tell only "
        f"which RFIs to {result.site} wait for your answer"
    )
    if result.rfis_to_answer:
        _rfis_to_answer(result, f"{lead}:", lines)
    else:
        lines.heading(f"{lead}: none", "")


def edited(result: Edited) -> None:
    emit(result.path)
    issue_lines(result.issues)
    if not result.changed:
        note(f"{result.entry_id}: the file did not change")
        return
    if result.updated:
        note(f"updated: {result.updated}")
    if result.ok:
        note(f"{result.entry_id} changed; share the change with `{result.share_command}`")
    else:
        note(f"fix what is listed (`cacop edit {result.entry_id}`), then `{result.share_command}`")


def opened(path: Path) -> None:
    emit(path)
