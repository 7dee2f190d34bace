"""Views of search, index and similar: a ranked list for people, JSON (docs/format.md) for tools."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..models import Hit, Issue, tlp_label
from . import (
    emit,
    empty_kb,
    err,
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

if TYPE_CHECKING:
    from ..search import RefreshStats, SearchResult

__all__ = ["empty_kb"]

PROGRESS_FROM = 50  # entries: below this, indexing is quick enough to do silently
BROKEN_SHOWN = 3


@contextlib.contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A callback (done, total) that draws a progress bar on stderr for long work."""
    state: dict[str, object] = {}

    def advance(done: int, total: int) -> None:
        if "bar" not in state:
            if total < PROGRESS_FROM or not terminal(sys.stderr):  # Rich loads only for
                return  # long work that someone watches (50 ms of imports)
            console = err()
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total)
        state["bar"].update(state["task"], completed=done, total=total)  # type: ignore[attr-defined]

    try:
        yield advance
    finally:
        if "bar" in state:
            state["bar"].stop()  # type: ignore[attr-defined]


def _broken(issues: list[Issue]) -> None:
    for issue in issues[:BROKEN_SHOWN]:
        warn(f"{issue.path}:{issue.line}: {issue.message} (skipped: not searchable until fixed)")
    if len(issues) > BROKEN_SHOWN:
        warn(f"and {len(issues) - BROKEN_SHOWN} more unreadable entries; run `cacop validate`")


def hit_document(hit: Hit) -> dict[str, object]:
    return {
        "id": hit.id,
        "type": hit.type,
        "title": hit.title,
        "site": hit.site,
        "tlp": hit.tlp,
        "path": hit.path,
        "score": hit.score,
        "snippet": hit.snippet,
        "matched_in": hit.matched_in,
    }


def _details(hit: Hit) -> str:
    """'strategy · alpha · updated 2025-01-10': the date says which date it is."""
    when = f"{hit.dated} {hit.created}" if hit.created else ""
    return " · ".join(part for part in (hit.type, hit.site, when) if part)


def _found_in(hit: Hit) -> str:
    if not hit.matched_in:
        return ""
    return f"in {hit.matched_in['file']}, {hit.matched_in['where']}: "


def _hit_lines(hits: list[Hit], pattern: str | None) -> None:
    width = len(str(len(hits)))
    indent = " " * (width + 2)
    if not terminal(sys.stdout):
        lines = []
        for rank, hit in enumerate(hits, 1):
            title = f"{rank:>{width}}. {tlp_label(hit.tlp)}  {hit.title}"
            lines += [title, f"{indent}{_details(hit)}  {hit.id}"]
            lines += [f"{indent}{_found_in(hit)}{hit.snippet}", ""] if hit.snippet else [""]
        plain_lines(lines)
        return
    from rich.padding import Padding
    from rich.table import Table

    from . import packed

    console = out()
    for rank, hit in enumerate(hits, 1):  # the title wraps under itself; the id never breaks
        heading = Table.grid()
        heading.add_column(no_wrap=True)
        heading.add_column(ratio=1)
        title = tlp_text(hit.tlp)
        title.append_text(text("  " + hit.title, "bold"))
        heading.add_row(text(f"{rank:>{width}}. ", "bold"), title)
        console.print(heading)
        parts = [text(part, "cyan") for part in _details(hit).split(" · ")]
        console.print(packed([*parts, text(hit.id, "dim")], console.width, len(indent)))
        if hit.snippet:
            snippet = text(hit.snippet)
            if hit.matched_in:
                snippet = text(_found_in(hit), "italic").append_text(snippet)
            if pattern:
                snippet.highlight_regex(pattern, "bold yellow")
            console.print(Padding(snippet, (0, 0, 0, width + 2), expand=False))
        console.print()


def results(result: SearchResult, as_json: bool) -> None:
    for message in result.notices:
        note(message)
    _broken(result.broken)
    if result.corrected:
        note(f"no entries for {result.query!r}; showing results for {result.corrected!r}")
    if as_json:
        print_json(
            {
                "query": result.query,
                "total": result.total,
                "results": [hit_document(hit) for hit in result.hits],
            }
        )
        if result.suggestion:
            note(result.suggestion)
        return
    if not result.hits:
        talk(f"no entries found for {result.query!r}" if result.query else
             "no entries match these filters", "bold")  # fmt: skip
        if result.suggestion:
            note(result.suggestion)
        return
    _hit_lines(result.hits, result.highlight)
    shown = len(result.hits)
    summary = f"{result.total} {'entry' if result.total == 1 else 'entries'} found"
    if shown < result.total:
        summary += f", best {shown} shown (--limit N for more)"
    emit(summary, "bold")
    for name, counts in result.facets.items():
        if counts:
            _facet_line(name, counts)
    if result.suggestion:
        note(result.suggestion)


def _facet_line(name: str, counts: dict[str, int]) -> None:
    """'  by topic: robbery 3, burglary 1': on a terminal broken only between values."""
    if not terminal(sys.stdout):
        emit(f"  by {name}: " + ", ".join(f"{value} {count}" for value, count in counts.items()))
        return
    from . import packed

    parts = [text(f"{value} {count}", "dim") for value, count in counts.items()]
    line = packed(parts, out().width, indent=4, separator=", ", lead=f"  by {name}: ")
    out().print(line, soft_wrap=True)


def index_stats(stats: RefreshStats) -> None:
    for message in stats.notices:
        note(message)
    _broken(stats.broken)
    if stats.rebuilt:
        done = f"index rebuilt: {stats.count} entries in {stats.seconds:.1f} s"
    elif stats.added or stats.changed or stats.removed:
        done = (
            f"index updated: {stats.added} added, {stats.changed} changed, "
            f"{stats.removed} removed; {stats.count} entries ({stats.seconds:.2f} s)"
        )
    else:
        done = f"index up to date: {stats.count} entries"
    talk(done, "green")


def similar(entry_id: str, hits: list[Hit], as_json: bool) -> None:
    if as_json:
        print_json({"id": entry_id, "results": [hit_document(hit) for hit in hits]})
        return
    if not hits:
        note(f"no entry is much like {entry_id}")
        return
    _hit_lines(hits, None)
