"""Views of the core commands."""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from typing import Any

from ..listing import Listing
from ..models import Entry, Issue, ValidationReport, tlp_label
from ..ops import EntryList, EntryView, NewEntry, NewKB, entry_document
from . import (
    SHOWN_WITH_BANNER,
    clean,
    emit,
    emit_all,
    emit_banner,
    note,
    out,
    plain_lines,
    print_json,
    talk,
    terminal,
    text,
    tlp_text,
    warn,
)

__all__ = ["note", "warn"]


def issue_line(issue: Issue) -> str:
    return f"{issue.path}:{issue.line}: {issue.severity}: {issue.message}"


def validation(report: ValidationReport, as_json: bool) -> None:
    if as_json:
        print_json({"ok": report.ok, "problems": [issue.as_dict() for issue in report.issues]})
        return
    emit_all(
        (issue_line(issue), "red" if issue.severity == "error" else "yellow")
        for issue in report.issues
    )
    errors = sum(issue.severity == "error" for issue in report.issues)
    warnings = len(report.issues) - errors
    summary = f"{report.checked} checked, {errors} error(s), {warnings} warning(s)"
    talk(("ok: " if report.ok else "") + summary, "green" if report.ok else "red")


def initialised(created: NewKB) -> None:
    root = created.root
    emit(root)
    if created.placeholders:
        note(
            "kb/sites.yaml has placeholders made from the site's slug; correct them there: "
            + "; ".join(created.placeholders)
        )
    note(f"new knowledge base ready: cd {root} && cacop new strategy --title '…'")


def issue_lines(issues: list[Issue]) -> None:
    """A new entry's findings on stderr, errors in red."""
    for issue in issues:
        talk(issue_line(issue), "red" if issue.severity == "error" else "yellow")


def created(result: NewEntry, written: bool = True) -> None:
    """`written`: an editor ran. Without one the sections still hold the template's prompts,
    which `submit` refuses: say to write them first, not that the entry is ready."""
    emit(result.path)
    issue_lines(result.issues)
    if result.ok and written:
        note(f"{result.entry_id} is ready; share it with `cacop submit {result.entry_id}`")
    elif result.ok:
        note(
            f"write its sections with `cacop edit {result.entry_id}`, then share it with "
            f"`cacop submit {result.entry_id}`"
        )


HEADER_FIELDS = (
    "type", "site", "authors", "created", "updated", "topics", "tags", "tlp", "status",
    "evidence", "product_type", "priority", "needed_by", "to", "rfi", "attachments", "tools",
    "data_sources",
)  # fmt: skip


def _value(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def body_markdown(body: str):  # -> rich.markdown.Markdown
    """An entry's body as Markdown; links show their address instead of a hidden target."""
    from rich.markdown import Markdown

    return Markdown(clean(body), hyperlinks=False)


def _header(view: EntryView) -> list[tuple[str, str]]:
    """The entry's fields worth a glance, as (name, value) rows."""
    item = view.entry
    rows = []
    for name in HEADER_FIELDS:
        if name in item.meta:
            value = _value(item.meta[name])
            if name == "status" and item.type == "rfi" and value == "open" and view.responses:
                value = "answered"  # derived from the response files; the RFI is never edited
            rows.append((name, value))
    if view.pending:
        rows.append(("pending", f"on {view.pending}, not yet in the shared branch"))
    if view.rfi_title:
        rows.append(("answers", view.rfi_title))
    if item.type == "rfi":
        rows.append(("responses", str(len(view.responses))))
    return rows


def _response_heading(position: int, response: Entry) -> str:
    meta = response.meta
    return (
        f"Response {position} — {_value(meta.get('site', '?'))}, "
        f"{_value(meta.get('authors', []))}, {_value(meta.get('created', '?'))}"
    )


def _related_line(entry_id: str, title: str | None) -> str:
    return f"• {title if title else '(missing entry)'}  [{entry_id}]"


def entry(view: EntryView, as_json: bool) -> None:
    item = view.entry
    if as_json:
        document = entry_document(item)
        if item.type == "rfi":
            document["responses"] = [entry_document(response) for response in view.responses]
        document["related_entries"] = [
            {"id": entry_id, "title": title} for entry_id, title in view.related
        ]
        if view.attachments:
            document["attachment_paths"] = view.attachments
        if view.pending:
            document["pending"] = view.pending
        print_json(document)
        return
    marking = item.meta.get("tlp")
    framed = marking in SHOWN_WITH_BANNER or not isinstance(marking, str)
    if framed:  # restricted text: its label above and below, so any excerpt carries it
        emit_banner(marking)
    if terminal(sys.stdout):
        _entry_for_terminal(view)
    else:
        plain_lines(_entry_as_text(view))
    if framed:
        emit_banner(marking)
    for problem in view.problems:
        talk(issue_line(problem), "red")


def _entry_as_text(view: EntryView) -> list[str]:
    """The entry for a pipe or a file: its fields, then its Markdown as written."""
    item = view.entry
    rows = _header(view)
    width = max((len(name) for name, _ in rows), default=0)
    lines = [item.title, item.id, ""] + [f"{name:<{width}}  {value}" for name, value in rows]
    if item.meta.get("summary"):
        lines += ["", _value(item.meta["summary"])]
    lines += ["", item.body.strip("\n")]
    for position, response in enumerate(view.responses, 1):
        heading = _response_heading(position, response)
        lines += ["", f"--- {heading} ---", response.title, "", response.body.strip("\n")]
    if view.attachments:
        lines += ["", "--- Attachments (open with `cacop open ID FILE`) ---", *view.attachments]
    if view.related:
        lines += ["", "--- Related ---"]
        lines += [_related_line(entry_id, title) for entry_id, title in view.related]
    return lines


def _entry_for_terminal(view: EntryView) -> None:
    from rich.panel import Panel
    from rich.table import Table

    item = view.entry
    console = out()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold cyan", no_wrap=True)
    header.add_column()
    for name, value in _header(view):
        header.add_row(text(name), text(value))
    title = text(item.title, "bold")
    console.print(Panel(header, title=title, subtitle=text(item.id, "dim"), expand=False))
    if item.meta.get("summary"):
        console.print(text(item.meta["summary"], "italic"))
    console.print(body_markdown(item.body))
    for position, response in enumerate(view.responses, 1):
        console.rule(text(_response_heading(position, response), "bold green"))
        console.print(text(response.title, "bold"))
        console.print(body_markdown(response.body))
    if view.attachments:
        console.rule(text("Attachments (open with `cacop open ID FILE`)", "bold"))
        for path in view.attachments:
            console.print(text(path), soft_wrap=True)
    if view.related:
        console.rule(text("Related", "bold"))
        for entry_id, related_title in view.related:
            console.print(text(_related_line(entry_id, related_title)))


def _title(item: Entry) -> str:
    """The title as listed: an entry only on its submit branch says so."""
    return f"{item.title} (pending: {item.pending})" if item.pending else item.title


def entry_list(listed: EntryList, as_json: bool) -> None:
    listing, chosen = listed.listing, listed.chosen
    if as_json:
        for piece in _list_json(listing, chosen):  # 20 MB at 50,000: written as it is made
            sys.stdout.write(piece)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    if not terminal(sys.stdout):  # one line an entry, tab-separated: ready for grep and cut
        lines = listing.columns["line"]
        plain_lines([lines[at] for at in chosen], safe=True)
    else:
        _entries_for_terminal([listing.entry(at) for at in chosen])
    for problem in listed.unreadable:
        talk(issue_line(problem), "red")


def _list_json(listing: Listing, chosen: list[int]) -> Iterator[str]:
    """`list --json`'s document in pieces, as print_json writes it (indented by 2, ASCII):
    each entry's object made with the C string encoder, for Python's indenting encoder takes
    ~0.5 s over 50,000 entries. tests/test_listing.py holds the two equal."""
    from json.encoder import encode_basestring_ascii as text_of

    if not chosen:
        yield '{\n  "total": 0,\n  "entries": []\n}'
        return
    columns, value, pending = listing.columns, listing.value, listing.pending
    ids, kinds, titles, rels = (columns[name] for name in ("id", "type", "title", "rel"))
    made: dict[int, tuple[Any, str]] = {}  # the text of each list or other value met

    def json_of(item: Any) -> str:
        if item.__class__ is str:
            return text_of(item)
        if item is None:
            return "null"
        known = made.get(id(item))
        if known is None:  # the value is held with its text: its id stays its own
            shown = json.dumps(item, ensure_ascii=True, indent=2, default=str)
            known = made[id(item)] = (item, shown.replace("\n", "\n      "))
        return known[1]

    entries = (
        f'    {{\n      "id": {text_of(ids[at])},\n      "type": {text_of(kinds[at])},\n'
        f'      "title": {text_of(titles[at])},\n      "site": {json_of(value("site", at))},\n'
        f'      "created": {json_of(value("created", at))},\n'
        f'      "topics": {json_of(value("topics", at))},\n'
        f'      "tlp": {json_of(value("tlp", at))},\n      "path": {text_of(rels[at])},\n'
        f'      "pending": {json_of(pending[at])}\n    }}'
        for at in chosen
    )
    yield f'{{\n  "total": {len(chosen)},\n  "entries": [\n'
    for first in range(0, len(chosen), 1000):
        yield ("" if first == 0 else ",\n") + ",\n".join(itertools.islice(entries, 1000))
    yield "\n  ]\n}"


TABLE_TITLE_ROOM = 24  # a listing is a table only while the title keeps this many columns


def _dates(meta: dict) -> list[str]:
    """'created 2024-03-05', and 'updated …' when it was: which date each one is."""
    dates = [f"created {meta['created']}"] if meta.get("created") else []
    if meta.get("updated") and meta.get("updated") != meta.get("created"):
        dates.append(f"updated {meta['updated']}")
    return dates


def _entries_for_terminal(entries: list[Entry]) -> None:
    """A table where every column fits with the ids whole; else one block an entry: the id
    on its own line, the title wrapped under it, then type, site, dates and TLP."""
    from rich.padding import Padding
    from rich.table import Table

    from . import packed

    console = out()
    fixed = {
        "created": max((len(str(e.meta.get("created", ""))) for e in entries), default=0),
        "type": max((len(e.type) for e in entries), default=0),
        "site": max((len(clean(e.meta.get("site", ""))) for e in entries), default=0),
        "id": max((len(e.id) for e in entries), default=0),
        "tlp": max((len(tlp_label(e.meta.get("tlp"))) for e in entries), default=0),
    }
    needed = sum(max(width, len(name)) for name, width in fixed.items()) + TABLE_TITLE_ROOM
    if needed + 3 * 6 + 1 <= console.width:
        table = Table(title=text(f"{len(entries)} entries"), show_lines=False)
        table.add_column("created", no_wrap=True)
        table.add_column("type", no_wrap=True)
        table.add_column("site", no_wrap=True)
        table.add_column("title", ratio=1)
        table.add_column("id", no_wrap=True)
        table.add_column("tlp", no_wrap=True)
        for item in entries:
            table.add_row(
                text(item.meta.get("created", "")),
                text(item.type),
                text(item.meta.get("site", "")),
                text(_title(item)),
                text(item.id, "dim"),
                tlp_text(item.meta.get("tlp")),
            )
        console.print(table)
        return
    console.print(text(f"{len(entries)} entries", "italic"))
    for item in entries:
        console.print()
        console.print(text(item.id, "bold"))
        console.print(Padding(text(item.title), (0, 0, 0, 2), expand=False))
        parts = [text(item.type), text(item.meta.get("site", ""))]
        parts += [text(date) for date in _dates(item.meta)] + [tlp_text(item.meta.get("tlp"))]
        console.print(packed(parts, console.width, indent=2))
