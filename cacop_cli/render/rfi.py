"""Views of the RFI lifecycle."""

from __future__ import annotations

import sys

from ..models import tlp_label
from ..ops import NewEntry
from ..rfi import Closed, NewResponse, RfiListing, RfiRow
from . import emit, note, out, plain_lines, print_json, talk, terminal, text, tlp_text
from .core import issue_line, issue_lines

__all__ = ["note"]


def opened(created: NewEntry) -> None:
    emit(str(created.path))
    issue_lines(created.issues)
    if created.ok:
        note(f"RFI {created.entry_id} is ready; share it with `cacop submit {created.entry_id}`")


def responded(created: NewResponse) -> None:
    emit(str(created.path))
    issue_lines(created.issues)
    if created.rfi is not None and created.rfi.meta.get("status") == "closed":
        note(f"{created.rfi.id} is already closed; your response is recorded all the same")
    if created.ok:
        note(
            f"response {created.entry_id} written; share it with `cacop submit {created.entry_id}`"
        )


def closed(result: Closed) -> None:
    emit(result.rfi.id)
    if result.changed:
        count = result.responses
        note(
            f"closed {result.rfi.id} after {count} response(s); "
            f"share it with `cacop submit {result.rfi.id}`"
        )
    else:
        note(f"{result.rfi.id} was already closed; nothing changed")


def due_text(row: RfiRow) -> tuple[str, str]:
    """'in 5 d', 'today' or '3 d overdue', and a style for it."""
    if row.days_left is None:
        return "no date", "yellow"
    if row.status == "closed" or (row.status == "answered" and row.days_left < 0):
        return "—", "dim"  # nobody is waiting on it any more
    if row.days_left > 0:
        return f"in {row.days_left} d", "yellow" if row.days_left <= 3 else ""
    if row.days_left == 0:
        return "today", "bold yellow"
    return f"{-row.days_left} d overdue", "bold red"


PRIORITY_STYLE = {"urgent": "bold red", "priority": "yellow", "routine": ""}
STATUS_STYLE = {"open": "bold", "answered": "green", "closed": "dim"}


def _rows(result: RfiListing) -> list[tuple[object, ...]]:
    """needed by, when due, priority, status, answers, site, title, id, TLP: one row an RFI."""
    return [
        (row.entry.meta.get("needed_by", ""), due_text(row)[0], row.entry.meta.get("priority", ""),
         row.status, row.responses, row.entry.meta.get("site", ""), row.entry.title, row.entry.id,
         tlp_label(row.entry.meta.get("tlp")))
        for row in result.rows
    ]  # fmt: skip


def _plain_row(
    needed: object, due: str, priority: object, status: str, answers: int, site: object,
    title: str, entry_id: str, tlp: str,
) -> str:  # fmt: skip
    """A row's tab-separated line: what came from the entry on one line each (its white
    space, tabs and line breaks included, single spaces); the rest is cacop's own words."""
    texts = (" ".join(str(part).split()) for part in (needed, priority, site, title, entry_id))
    needed, priority, site, title, entry_id = texts
    return "\t".join((needed, due, priority, status, str(answers), site, title, entry_id, tlp))


def listing(result: RfiListing, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "today": result.today.isoformat(),
                "site": result.site,
                "total": len(result.rows),
                "rfis": [row.as_dict() for row in result.rows],
            }
        )
        return
    for problem in result.unreadable:
        talk(issue_line(problem), "red")
    if not result.rows:
        note("no RFIs match")
        return
    if not terminal(sys.stdout):  # one line an RFI, tab-separated: ready for grep and cut
        plain_lines(_plain_row(*row) for row in _rows(result))
        return
    from rich.table import Table

    console = out()
    title = f"{len(result.rows)} RFI(s) as of {result.today.isoformat()}"
    longest = {
        "site": max(len(str(row.entry.meta.get("site", ""))) for row in result.rows),
        "id": max(len(row.entry.id) for row in result.rows),
        "tlp": max(len(tlp_label(row.entry.meta.get("tlp"))) for row in result.rows),
    }
    if (
        sum(longest.values()) + len("needed by") + 8 + 8 + 7 + TITLE_ROOM + 3 * 7 + 1
        > console.width
    ):
        _blocks(result, title)
        return
    table = Table(title=text(title))
    table.add_column("needed by", no_wrap=True)
    table.add_column("priority", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("answers", justify="right", no_wrap=True)
    table.add_column("site", no_wrap=True)
    table.add_column("title / id", ratio=1)
    table.add_column("tlp", no_wrap=True)
    for row in result.rows:
        meta = row.entry.meta
        due, due_style = due_text(row)
        priority = str(meta.get("priority", ""))
        label = text(row.entry.title)
        label.append("\n")
        label.append_text(text(row.entry.id, "dim"))
        needed_by = text(meta.get("needed_by", ""))
        needed_by.append_text(text(f"\n{due}", due_style))
        table.add_row(
            needed_by,
            text(priority, PRIORITY_STYLE.get(priority, "")),
            text(row.status, STATUS_STYLE.get(row.status, "")),
            text(str(row.responses)),
            text(meta.get("site", "")),
            label,
            tlp_text(meta.get("tlp")),
        )
    console.print(table)


TITLE_ROOM = 20  # the table is used only while its title column keeps this many columns


def _blocks(result: RfiListing, title: str) -> None:
    """One block an RFI for a narrow terminal: the id whole on its line, the title wrapped
    under it, then when it is needed, priority, status, answers, site and TLP."""
    from rich.padding import Padding

    from . import packed

    console = out()
    console.print(text(title, "italic"))
    for row in result.rows:
        meta = row.entry.meta
        due, due_style = due_text(row)
        priority = str(meta.get("priority", ""))
        needed = f"needed by {meta['needed_by']}" if meta.get("needed_by") else "no date"
        parts = [
            text(needed),
            text(due, due_style),
            text(priority, PRIORITY_STYLE.get(priority, "")),
            text(row.status, STATUS_STYLE.get(row.status, "")),
            text(f"{row.responses} answer{'s' * (row.responses != 1)}"),
            text(meta.get("site", "")),
            tlp_text(meta.get("tlp")),
        ]
        console.print()
        console.print(text(row.entry.id, "bold"))
        console.print(Padding(text(row.entry.title), (0, 0, 0, 2), expand=False))
        console.print(packed([part for part in parts if part.plain], console.width, indent=2))
