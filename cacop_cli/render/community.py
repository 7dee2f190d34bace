"""Views of the community's map: the gaps heatmap (terminal and HTML), experts and the digest."""

from __future__ import annotations

import html
import math
import os
import re
import sys
from pathlib import Path

from ..community import Expert, ExpertReport, GapReport
from ..digest import Digest
from ..models import Entry, tlp_label
from ..publish import Line
from . import (
    TLP_BACKGROUND,
    clean,
    emit,
    empty_kb,
    note,
    out,
    plain_lines,
    print_json,
    talk,
    terminal,
    text,
    tlp_banner,
    tlp_colour,
    tlp_text,
    warn,
)
from .core import issue_line

__all__ = ["empty_kb", "note"]

# The map is about what is missing: level 0 ("nothing here") is a strong red, the filled
# cells a quiet sequential blue (ColorBrewer Blues) from 1 to 5, the most. Each ink keeps a
# contrast of at least 4.5:1 (WCAG AA) on its fill; tests/test_gaps.py computes it.
PALETTE = ("#b2182b", "#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#2171b5")
INK = ("#ffffff", "#1d1d1d", "#1d1d1d", "#1d1d1d", "#1d1d1d", "#ffffff")
TYPE_LABELS = {
    "strategy": "Strategies",
    "work-product": "Work products",
    "rfi": "Requests for information",
    "response": "Responses",
}


def heat_level(count: int, most: int) -> int:
    """0 for no entries, else 1..5 in proportion to the largest count."""
    if count <= 0 or most <= 0:
        return 0
    return max(1, min(5, math.ceil(count * 5 / most)))


def _report_unreadable(report) -> None:
    for problem in report.unreadable:
        talk(issue_line(problem), "red")


def _report_left_out(line: Line) -> None:
    """On stderr, for the analyst: how many entries the output left out, and why."""
    for message in line.left_out():
        note(message)
    if line.raised:
        warn(
            f"includes entries up to {tlp_label(line.line)}, above share.max_tlp "
            f"({tlp_label(line.effective)}); the output is marked {line.banner}"
        )


def banner_markdown(tlp: str) -> str:
    """FIRST's label in its colours (inline HTML, which Markdown passes through) and words."""
    label = tlp_label(tlp)
    style = f"background:{TLP_BACKGROUND};color:{tlp_colour(tlp)};font-weight:bold;padding:0 4px"
    return f'<span style="{style}">{label}</span> {tlp_banner(tlp)[len(label) :]}'


def banner_html(tlp: str) -> str:
    return (
        f'<p class="tlp" style="background:{TLP_BACKGROUND};color:{tlp_colour(tlp)};'
        f'font-weight:bold;padding:6px 10px;margin:0 0 12px">{_h(tlp_banner(tlp))}</p>'
    )


def matrix_legend(report: GapReport) -> str | None:
    """What the map's counts hold that its lists do not name (None: nothing restricted)."""
    if not report.counted_above:
        return None
    return (
        f"Counts include {report.counted_above} "
        f"{'entry' if report.counted_above == 1 else 'entries'} above "
        f"{tlp_label(report.line.line)}: counted, never named."
    )


# ---------------------------------------------------------------- gaps: terminal


def _heatmap(
    title: str, counts: dict[str, dict[str, int]], sites: list[str], most: int, total: bool
):
    from rich import box
    from rich.table import Table

    table = Table(title=text(title, "bold"), box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("topic", no_wrap=True)
    for site in sites:
        table.add_column(text(site), justify="center", no_wrap=True)
    if total:
        table.add_column("total", justify="right", no_wrap=True)
    for topic, row in counts.items():
        cells = []
        for site in sites:
            level = heat_level(row.get(site, 0), most)
            cells.append(text(f" {row.get(site, 0)} ", f"{INK[level]} on {PALETTE[level]}"))
        if total:
            cells.append(text(str(sum(row.values())), "bold"))
        table.add_row(text(topic), *cells)
    return table


def _site_chunks(topics: list[str], sites: list[str], width: int) -> list[list[str]]:
    """Sites in groups narrow enough that each heatmap fits the terminal without folding."""
    room = width - (max(map(len, ["topic", *topics])) + 3) - (len("total") + 3) - 2
    chunks: list[list[str]] = [[]]
    used = 0
    for site in sites:
        need = max(len(clean(site)), 3) + 3  # padding and the column separator
        if chunks[-1] and used + need > room:
            chunks.append([])
            used = 0
        chunks[-1].append(site)
        used += need
    return chunks


def _heatmaps(console, title: str, counts: dict[str, dict[str, int]], sites: list[str]) -> None:
    most = max((n for row in counts.values() for n in row.values()), default=0)
    chunks = _site_chunks(list(counts), sites, console.width)
    for number, chunk in enumerate(chunks, 1):
        part = f" (sites {number} of {len(chunks)})" if len(chunks) > 1 else ""
        console.print(_heatmap(title + part, counts, chunk, most, number == len(chunks)))


def _plain_matrix(title: str, counts: dict[str, dict[str, int]], sites: list[str]) -> list[str]:
    """A heatmap as tab-separated rows under a '# title' line: ready for a spreadsheet."""
    rows = [f"# {title}", "\t".join(["topic", *sites, "total"])]
    for topic, row in counts.items():
        cells = [str(row.get(site, 0)) for site in sites]
        rows.append("\t".join([topic, *cells, str(sum(row.values()))]))
    return rows


def _plain_gaps(report: GapReport) -> None:
    lines = _plain_matrix(f"Entries by topic and site, {report.today}", report.counts, report.sites)
    for kind, counts in (report.by_type or {}).items():
        lines += ["", *_plain_matrix(TYPE_LABELS.get(kind, kind), counts, report.sites)]
    legend = matrix_legend(report)
    lines += ["", f"# {legend}"] if legend else []
    for heading, items in _action_lists(report):
        lines += ["", f"# {heading} ({len(items)})", *(f"- {item}" for item in items)]
    plain_lines(lines)


def gaps(report: GapReport, as_json: bool) -> None:
    _report_unreadable(report)
    _report_left_out(report.line)
    if as_json:
        print_json(report.as_dict())
        return
    if not terminal(sys.stdout):  # no boxes, colours or Rich in a pipe or a file
        _plain_gaps(report)
        return
    console = out()
    _heatmaps(console, f"Entries by topic and site, {report.today}", report.counts, report.sites)
    for kind, counts in (report.by_type or {}).items():
        _heatmaps(console, TYPE_LABELS.get(kind, kind), counts, report.sites)
    legend = text("colour: ")
    for level, colour in enumerate(PALETTE):
        legend.append_text(text(f" {level} ", f"{INK[level]} on {colour}"))
    legend.append_text(text("  (0 none … 5 the most)", "dim"))
    console.print(legend)
    if matrix_legend(report):
        console.print(text(matrix_legend(report), "dim"))
    for heading, lines in _action_lists(report):
        console.print()
        console.print(text(f"{heading} ({len(lines)})", "bold"))
        console.print(_bullets(lines or ["none"]))


def _bullets(lines: list[str]):
    """A bulleted list whose items wrap under themselves, between words (ids stay whole)."""
    from rich.table import Table

    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for line in lines:
        grid.add_row(text("  • "), text(line))
    return grid


def _action_lists(report: GapReport) -> list[tuple[str, list[str]]]:
    names = report.site_names
    return [
        ("Topics with no strategy", list(report.topics_without_strategy)),
        (
            "Sites with nothing shared in a year",
            [
                f"{names.get(site, site)} ({site}): "
                + (f"last shared {last}" if last else "never shared anything")
                for site, last in report.quiet_sites
            ],
        ),
        (
            "Requests past their needed-by date with no answer",
            [
                f"{rfi.title} — {names.get(str(rfi.meta.get('site')), '?')}, needed by "
                f"{rfi.meta.get('needed_by')}, {days} d overdue [{rfi.id}] "
                f"{tlp_label(rfi.meta.get('tlp'))}"
                for rfi, days in report.overdue_unanswered
            ],
        ),
        (
            "Entries not updated in two years",
            [
                f"{entry.title} — {entry.type}, {entry.meta.get('site')}, last updated "
                f"{last or 'never'} [{entry.id}] {tlp_label(entry.meta.get('tlp'))}"
                for entry, last in report.stale
            ],
        ),
    ]


# ---------------------------------------------------------------- gaps: HTML page

PAGE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px 32px;
       color: #1d1d1d; background: #ffffff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
p.meta { color: #555555; margin: 0 0 16px; }
p.gaps { font-size: 15px; margin: 0 0 12px; }
p.gaps strong { color: #b2182b; }
table.heat { border-collapse: separate; border-spacing: 3px; }
table.heat th { font-size: 12px; font-weight: 600; padding: 2px 4px;
                word-break: keep-all; overflow-wrap: normal; hyphens: none; }
table.heat th.topic { text-align: right; padding-right: 10px; white-space: nowrap; }
table.heat th.site { min-width: 64px; text-align: center; vertical-align: bottom; }
table.heat td.cell { min-width: 64px; height: 38px; text-align: center; font-weight: 700;
                     font-size: 15px; border-radius: 3px; }
table.heat td.h0 { font-size: 17px; }
table.heat td.total { padding-left: 10px; color: #555555; }
.legend { margin: 10px 0 0; font-size: 12px; color: #555555; }
.legend span { display: inline-block; width: 28px; height: 14px; vertical-align: middle;
               margin-right: 2px; border-radius: 2px; }
ul { margin: 0; padding-left: 22px; } li { margin: 2px 0; }
a { color: #0b4f9c; }
.tlp-label { font-size: 11px; font-weight: 700; padding: 0 4px; background: #000000; }
"""


def _h(value: object) -> str:
    return html.escape(clean(value), quote=True)


def _html_heatmap(counts: dict[str, dict[str, int]], sites: list[str], names: dict) -> str:
    most = max((n for row in counts.values() for n in row.values()), default=0)
    head = "".join(
        f'<th class="site" scope="col" title="{_h(site)}">{_h(names.get(site, site))}</th>'
        for site in sites
    )
    rows = []
    for topic, row in counts.items():
        cells = []
        for site in sites:
            count = row.get(site, 0)
            what = "no entries: a gap" if count == 0 else f"{count} entries"
            cells.append(
                f'<td class="cell h{heat_level(count, most)}" '
                f'title="{_h(topic)} × {_h(names.get(site, site))}: {what}">{count}</td>'
            )
        total = sum(row.values())
        rows.append(
            f'<tr><th class="topic" scope="row">{_h(topic)}</th>{"".join(cells)}'
            f'<td class="total">{total}</td></tr>'
        )
    return (
        f'<table class="heat"><thead><tr><th></th>{head}<th>total</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _link(entry: Entry, links_from: Path | None) -> str:
    """Where the entry's file is, relative to the page (or to the KB's root folder)."""
    if links_from is None:
        return entry.rel
    try:
        return Path(os.path.relpath(entry.path, links_from)).as_posix()
    except ValueError:  # another drive (Windows): no relative way there
        return entry.path.as_uri()


def _tlp_html(tlp: object) -> str:
    return f'<span class="tlp-label" style="color:{tlp_colour(tlp)}">{_h(tlp_label(tlp))}</span>'


def _html_lists(report: GapReport, links_from: Path | None) -> list[tuple[str, list[str]]]:
    """The lists that need someone's attention, as HTML items; each entry links to its file."""
    names = report.site_names

    def entry(item: Entry, detail: str) -> str:
        return (
            f'<a href="{_h(_link(item, links_from))}">{_h(item.title)}</a> — {_h(detail)} '
            f"{_tlp_html(item.meta.get('tlp'))}"
        )

    def site_name(item: Entry) -> str:
        slug = str(item.meta.get("site", "?"))
        return names.get(slug, slug)

    return [
        ("Topics with no strategy", [_h(topic) for topic in report.topics_without_strategy]),
        (
            "Sites with nothing shared in a year",
            [
                _h(names.get(site, site))
                + (f" — last shared {last}" if last else " — never shared anything")
                for site, last in report.quiet_sites
            ],
        ),
        (
            "Requests past their needed-by date with no answer",
            [
                entry(rfi, f"asked by {site_name(rfi)}, needed by {rfi.meta.get('needed_by')}, "
                      f"{days} {'day' if days == 1 else 'days'} overdue")
                for rfi, days in report.overdue_unanswered
            ],
        ),
        (
            "Entries not updated in two years",
            [
                entry(item, f"{TYPE_LABELS.get(item.type, item.type).lower().rstrip('s')} "
                      f"from {site_name(item)}, last updated {last or 'never'}")
                for item, last in report.stale
            ],
        ),
    ]  # fmt: skip


def gaps_html(report: GapReport, kb_name: str, links_from: Path | None = None) -> str:
    """One self-contained page: inline CSS, no scripts, nothing fetched from anywhere.

    The empty cells are the loudest thing on it; sites go by their names; every entry it
    lists links to its file, relative to `links_from` (the page's folder), else to the KB's
    root folder. Sections with nothing in them are left out."""
    levels = "".join(
        f".h{level} {{ background: {colour}; color: {INK[level]}; }}\n"
        for level, colour in enumerate(PALETTE)
    )
    legend = "".join(
        f'<span class="h{level}" title="level {level}"></span>' for level in range(1, len(PALETTE))
    )
    restricted = matrix_legend(report)
    empty = sum(n == 0 for row in report.counts.values() for n in row.values())
    cells = len(report.topics) * len(report.sites)
    sections = [
        f"<h2>Entries by topic and site</h2>"
        f'<p class="gaps"><strong>{empty} of {cells} topic and site pairs have nothing '
        f"shared</strong> (the red cells).</p>"
        f"{_html_heatmap(report.counts, report.sites, report.site_names)}"
        f'<p class="legend"><span class="h0" title="no entries"></span> no entries &nbsp; '
        f"fewer {legend} more entries</p>"
        + (f'<p class="legend">{_h(restricted)}</p>' if restricted else "")
    ]
    for kind, counts in (report.by_type or {}).items():
        if any(n for row in counts.values() for n in row.values()):
            sections.append(
                f"<h2>{_h(TYPE_LABELS.get(kind, kind))}</h2>"
                f"{_html_heatmap(counts, report.sites, report.site_names)}"
            )
    for heading, items in _html_lists(report, links_from):
        if items:
            listed = "".join(f"<li>{item}</li>" for item in items)
            sections.append(f"<h2>{_h(heading)} ({len(items)})</h2><ul>{listed}</ul>")
    total = sum(n for row in report.counts.values() for n in row.values())
    marked = banner_html(report.line.highest) if report.line.banner else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{_h(kb_name)}: gaps as of {report.today}</title>"
        f"<style>{PAGE_CSS}{levels}</style></head><body>{marked}"
        f"<h1>{_h(kb_name)}: where our knowledge is missing</h1>"
        f'<p class="meta">As of {report.today} · {len(report.sites)} sites · '
        f"{len(report.topics)} topics · {total} topic tags on entries</p>"
        + "".join(sections)
        + marked
        + "</body></html>\n"
    )


def page_written(path) -> None:
    emit(str(path))
    note("open it in a browser; it needs no network")


# ---------------------------------------------------------------- experts


def contact_line(contact: dict[str, str]) -> str:
    """'T. Okafor, crime analyst, tokafor@example.gov, 901-555-0100'."""
    keys = ("name", "role", "email", "phone")
    return ", ".join(contact[key] for key in keys if contact.get(key))


def _expert_blocks(console, title: str, ranked: list[Expert], sites: bool) -> None:
    """One block an expert: who and the score in words, how to reach them, then the
    entries behind it, each title wrapped and its id whole on a line of its own."""
    from rich.padding import Padding

    from . import packed

    console.print(text(title, "bold underline"))
    width = len(str(len(ranked)))
    indent = width + 2
    for position, expert in enumerate(ranked, 1):
        who = text(f"{position:>{width}}. ", "bold")
        who.append_text(text(expert.label, "bold"))
        if expert.site and not sites:
            who.append_text(text(f" ({expert.site})"))
        who.append(" — ")
        summary = [text(expert.summary, "cyan")]
        console.print(packed(summary, console.width, indent, " — ", lead=who), soft_wrap=True)
        if expert.units:
            console.print(
                Padding(text("units: " + ", ".join(expert.units)), (0, 0, 0, indent), expand=False)
            )
        for contact in expert.contacts:
            console.print(
                Padding(text("reach: " + contact_line(contact)), (0, 0, 0, indent), expand=False)
            )
        for item in expert.contributions:
            when = item.when.isoformat() if item.when else "undated"
            line = tlp_text(item.entry.meta.get("tlp"))
            line.append_text(text(f" {item.entry.title} ({item.entry.type}, {when})"))
            console.print(Padding(line, (0, 0, 0, indent), expand=False))
            console.print(text(" " * (indent + 2) + item.entry.id, "dim"))
        console.print()


def _plain_expert(position: int, expert: Expert) -> str:
    """rank, who, score, the entries behind it, the score in words, how to reach them."""
    entries = ", ".join(
        f"{item.entry.id} {tlp_label(item.entry.meta.get('tlp'))}" for item in expert.contributions
    )
    reach = "; ".join(contact_line(contact) for contact in expert.contacts)
    cells = [str(position), expert.label, f"{expert.score:.2f}", entries, expert.summary, reach]
    return "\t".join(" ".join(cell.split()) for cell in cells)


def experts(report: ExpertReport, as_json: bool) -> None:
    _report_left_out(report.line)
    if as_json:
        print_json(report.as_dict())
        return
    if not report.people and not report.sites:
        note(f"no entry matches {clean(report.query)!r}; try fewer or broader words")
        return
    people = f"People who know about {clean(report.query)!r}"
    sites = "Sites (and their units)"
    if terminal(sys.stdout):
        console = out()
        _expert_blocks(console, people, report.people, sites=False)
        _expert_blocks(console, sites, report.sites, sites=True)
    else:  # one tab-separated line each
        lines = []
        for title, ranked in ((people, report.people), (sites, report.sites)):
            lines += [*([""] if lines else []), f"# {title}"]
            lines += [_plain_expert(position, expert) for position, expert in enumerate(ranked, 1)]
        plain_lines(lines)
    engine = "the search index" if report.engine == "index" else "simple term matching"
    note(
        f"{report.matched} matching entries, ranked by {engine}; an entry's weight halves "
        "every two years of age; authors that are units count for their site"
    )


# ---------------------------------------------------------------- digest

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def md(value: object) -> str:
    """Entry text made safe inside Markdown: one line, no control characters, no markup."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(clean(value).split()))


def _people(entry: Entry) -> str:
    authors = entry.meta.get("authors")
    return ", ".join(map(str, authors)) if isinstance(authors, list) else ""


def digest_markdown(result: Digest) -> str:
    names = result.site_names

    def site(entry: Entry) -> str:
        slug = str(entry.meta.get("site", ""))
        return md(names.get(slug, slug))

    banner = [banner_markdown(result.line.highest), ""] if result.line.banner else []
    lines = [
        *banner,
        f"# {md(result.kb_name)}: what's new, {result.since} to {result.today}",
        "",
        f"{len(result.added)} new, {len(result.answered)} RFI(s) answered, "
        f"{len(result.closed)} closed. `cacop show ID` opens any of them.",
        "",
        f"## New ({len(result.added)})",
        "",
    ]
    if not result.added:
        lines += ["Nothing new this time.", ""]
    for kind in ("strategy", "work-product", "rfi"):
        entries = [entry for entry in result.added if entry.type == kind]
        if not entries:
            continue
        lines += [f"### {TYPE_LABELS[kind]}", ""]
        for entry in entries:
            meta = entry.meta
            if kind == "rfi":
                detail = (
                    f"{site(entry)} asks; needed by {md(meta.get('needed_by', '?'))}"
                    f" ({md(meta.get('priority', 'routine'))})"
                )
            else:
                detail = f"{site(entry)} ({md(_people(entry))}), {md(meta.get('created', ''))}"
            summary = f" {md(meta['summary'])}" if meta.get("summary") else ""
            lines.append(f"- **{md(entry.title)}** — {detail}.{summary} `{entry.id}`")
        lines.append("")
    lines += [f"## Answered ({len(result.answered)})", ""]
    if not result.answered:
        lines += ["No new responses.", ""]
    for item in result.answered:
        title = md(item.rfi.title) if item.rfi else f"`{item.rfi_id}`"
        asker = f" (asked by {site(item.rfi)})" if item.rfi else ""
        count = len(item.responses)
        lines.append(f"- **{title}**{asker}: {count} new response{'s' * (count != 1)}")
        for response in item.responses:
            lines.append(
                f"  - {site(response)} ({md(_people(response))}), "
                f"{md(response.meta.get('created', ''))}: {md(response.title)} `{response.id}`"
            )
    if result.answered:
        lines.append("")
    lines += [f"## Closed ({len(result.closed)})", ""]
    if not result.closed:
        lines += ["No RFI was closed.", ""]
    for entry, when, responses in result.closed:
        lines.append(
            f"- **{md(entry.title)}** — {site(entry)}, closed {when} after {responses} "
            f"response{'s' * (responses != 1)}. `{entry.id}`"
        )
    if result.closed:
        lines.append("")
    lines += banner[:1]
    return "\n".join(lines).rstrip("\n") + "\n"


def digest(result: Digest, as_json: bool) -> None:
    _report_unreadable(result)
    _report_left_out(result.line)
    if as_json:
        print_json(result.as_dict())
        return
    if terminal(sys.stdout):
        out().print(text(digest_markdown(result)), end="")  # wrapped between words
    else:
        plain_lines([digest_markdown(result).rstrip("\n")])
