"""Views of status, edit and open: stdout is what is pending or what happened."""

from __future__ import annotations

from pathlib import Path

from ..editing import Edited
from ..share.status import Status
from . import emit, note, print_json, warn
from .core import issue_lines

__all__ = ["note", "warn"]


def status(result: Status, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "site": result.site,
                "git": result.git,
                "shared_branch": result.shared_branch,
                "last_sync": result.last_sync,
                "unshared": [item.as_dict() for item in result.unshared],
                "submissions": [item.as_dict() for item in result.submissions],
                "rfis_to_answer": [item.as_dict() for item in result.rfis_to_answer],
                "answers": [item.as_dict() for item in result.answers],
            }
        )
        return
    if not result.git:
        note("this knowledge base is not a git clone: nothing here can be shared")
    shown = False
    if result.unshared:
        shown = True
        emit("Not yet shared:", "bold")
        for item in result.unshared:
            emit(f"  {item.state:<9} {item.title}  [{item.entry_id}]  share: {item.command}")
    if result.submissions:
        shown = True
        emit(f"Submissions (as of the last sync or submit with {result.shared_branch}):", "bold")
        for sub in result.submissions:
            if sub.merged:
                state = f"merged into {result.shared_branch}; `cacop sync` brings it in"
            elif not sub.pushed:
                state = f"not pushed; send it with `cacop submit {sub.entry_id}`"
            elif not sub.up_to_date:
                state = f"changed since it was pushed; send it with `cacop submit {sub.entry_id}`"
            else:
                state = "pushed, waiting on review"
            emit(f"  {sub.branch}: {sub.title}  — {state}")
            if sub.pr_url and not sub.merged:
                emit(f"    pull request: {sub.pr_url}")
    if result.rfis_to_answer:
        shown = True
        emit(f"RFIs to {result.site} waiting for your answer:", "bold")
        for rfi in result.rfis_to_answer:
            due = f"needed by {rfi.needed_by}" if rfi.needed_by else "no date"
            emit(f"  ? {rfi.title}  [{rfi.entry_id}] from {rfi.site}, {due}; {rfi.command}")
    if result.answers:
        shown = True
        emit(
            f"Answers to {result.site}'s RFIs since your last sync (bring in: cacop sync):", "bold"
        )
        for answer in result.answers:
            emit(f"  ! {answer.title}  [{answer.entry_id}] from {answer.site}, to {answer.rfi}")
    if not shown:
        emit("nothing pending: everything here is shared, and no RFI waits for you")


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
