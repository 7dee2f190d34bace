"""Views of the core commands."""

from __future__ import annotations

from pathlib import Path

from ..models import Entry, Issue, ValidationReport
from ..ops import EntryView, entry_document
from . import clean, err, note, out, print_json, text

__all__ = ["note"]


def issue_line(issue: Issue) -> str:
    return f"{issue.path}:{issue.line}: {issue.severity}: {issue.message}"


def validation(report: ValidationReport, as_json: bool) -> None:
    if as_json:
        print_json({"ok": report.ok, "problems": [issue.as_dict() for issue in report.issues]})
        return
    console = out()
    for issue in report.issues:
        style = "red" if issue.severity == "error" else "yellow"
        console.print(text(issue_line(issue), style), soft_wrap=True)
    errors = sum(issue.severity == "error" for issue in report.issues)
    warnings = len(report.issues) - errors
    summary = f"{report.checked} checked, {errors} error(s), {warnings} warning(s)"
    err().print(text(("ok: " if report.ok else "") + summary, "green" if report.ok else "red"))


def initialised(root: Path) -> None:
    out().print(text(str(root)), soft_wrap=True)
    note(f"new knowledge base ready: cd {root} && cacop new strategy --title '…'")


def created(path: Path, issues: list[Issue]) -> int:
    out().print(text(str(path)), soft_wrap=True)
    for issue in issues:
        style = "red" if issue.severity == "error" else "yellow"
        err().print(text(issue_line(issue), style), soft_wrap=True)
    return 1 if any(issue.severity == "error" for issue in issues) else 0


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


def entry(view: EntryView, as_json: bool) -> None:
    item = view.entry
    if as_json:
        document = entry_document(item)
        if item.type == "rfi":
            document["responses"] = [entry_document(response) for response in view.responses]
        document["related_entries"] = [
            {"id": entry_id, "title": title} for entry_id, title in view.related
        ]
        print_json(document)
        return
    from rich.panel import Panel
    from rich.table import Table

    console = out()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold cyan", no_wrap=True)
    header.add_column()
    for name in HEADER_FIELDS:
        if name in item.meta:
            value = _value(item.meta[name])
            if name == "status" and item.type == "rfi" and value == "open" and view.responses:
                value = "answered"  # derived from the response files; the RFI is never edited
            header.add_row(text(name), text(value))
    if view.rfi_title:
        header.add_row(text("answers"), text(view.rfi_title))
    if item.type == "rfi":
        count = len(view.responses)
        header.add_row(text("responses"), text(str(count)))
    title = text(item.title, "bold")
    console.print(Panel(header, title=title, subtitle=text(item.id, "dim"), expand=False))
    if item.meta.get("summary"):
        console.print(text(item.meta["summary"], "italic"))
    console.print(body_markdown(item.body))
    for position, response in enumerate(view.responses, 1):
        meta = response.meta
        heading = (
            f"Response {position} — {_value(meta.get('site', '?'))}, "
            f"{_value(meta.get('authors', []))}, {_value(meta.get('created', '?'))}"
        )
        console.rule(text(heading, "bold green"))
        console.print(text(response.title, "bold"))
        console.print(body_markdown(response.body))
    for problem in view.problems:
        err().print(text(issue_line(problem), "red"), soft_wrap=True)
    if view.related:
        console.rule(text("Related", "bold"))
        for entry_id, related_title in view.related:
            label = related_title if related_title else "(missing entry)"
            console.print(text(f"• {label}  [{entry_id}]"))


def entry_list(entries: list[Entry], unreadable: list[Issue], as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "total": len(entries),
                "entries": [
                    {
                        "id": item.id,
                        "type": item.type,
                        "title": item.title,
                        "site": item.meta.get("site"),
                        "created": item.meta.get("created"),
                        "topics": item.meta.get("topics"),
                        "tlp": item.meta.get("tlp"),
                        "path": item.rel,
                    }
                    for item in entries
                ],
            }
        )
        return
    from rich.table import Table

    table = Table(title=text(f"{len(entries)} entries"), show_lines=False)
    for column in ("created", "type", "site", "title", "id"):
        table.add_column(column, overflow="fold")
    for item in entries:
        table.add_row(
            text(item.meta.get("created", "")),
            text(item.type),
            text(item.meta.get("site", "")),
            text(item.title),
            text(item.id, "dim"),
        )
    out().print(table)
    for problem in unreadable:
        err().print(text(issue_line(problem), "red"), soft_wrap=True)
