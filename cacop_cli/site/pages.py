"""Every page of the site as a string, from the entries the gate let through.

Only published entries are ever named: a related id, a response or an RFI that the site
does not hold is left out of the page, never shown as a dead link (its id alone could say
what it is about).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..community import GapReport, recency_weight
from ..models import TLP_ORDER, TOPICS, TYPES, Entry, tlp_rank
from ..rfi import RfiRow, last_touched, rfi_rows
from .gate import Attachment
from .html import banner, entry_path, h, href, link, markdown, page

TYPE_NAMES = {
    "strategy": "Strategies",
    "work-product": "Work products",
    "rfi": "Requests for information",
    "response": "Responses",
}
TOPIC_NAMES = {topic: topic.replace("-", " ").capitalize() for topic in TOPICS}
DUE_SOON_DAYS = 14
NEWEST = 12
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")  # a site or topic that may name a folder
LEVELS = ("none", "few", "some", "several", "many", "most")  # the map's levels, in words


@dataclass
class Site:
    """What the pages are made from: the published entries and what goes with them."""

    entries: list[Entry]
    attachments: dict[str, list[Attachment]]
    site_names: dict[str, str]
    kb_name: str
    today: dt.date
    gaps: GapReport
    bodies: Any = field(default_factory=dict)  # .get(id): the body as HTML, or None
    by_id: dict[str, Entry] = field(default_factory=dict)
    responses: dict[str, list[Entry]] = field(default_factory=dict)  # rfi id -> its responses

    def __post_init__(self) -> None:
        self.by_id = {entry.id: entry for entry in self.entries}
        for entry in self.entries:
            asked = entry.meta.get("rfi")
            if entry.type == "response" and isinstance(asked, str):
                self.responses.setdefault(asked, []).append(entry)

    def site_name(self, slug: str) -> str:
        return self.site_names.get(slug, slug)

    def render(self, title: str, body: str, root: str, shown: Iterable[Entry], current="") -> str:
        """A page whose banner is the strictest marking of what it shows, and whose last
        update is the newest of those entries' (the build day when it shows none)."""
        shown = list(shown)
        tlp = max((e.tlp for e in shown), key=tlp_rank, default="clear")
        dates = [d for d in (last_touched(e) for e in shown) if d is not None]
        updated = max(dates).isoformat() if dates else self.today.isoformat()
        return page(
            title=title,
            body=body,
            root=root,
            tlp=tlp,
            updated=updated,
            kb_name=self.kb_name,
            built=self.today.isoformat(),
            current=current,
        )


def newest_first(entries: Iterable[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (last_touched(e) or dt.date.min, e.id), reverse=True)


def entry_list(site: Site, entries: Iterable[Entry], root: str) -> str:
    rows = []
    for entry in entries:
        when = last_touched(entry)
        summary = entry.meta.get("summary")
        said = f'<p class="summary">{h(summary)}</p>' if isinstance(summary, str) else ""
        place = entry.meta.get("site")
        rows.append(
            f"<li>{link(root, entry_path(entry.id), entry.title)}"
            f'<span class="meta"> · {h(TYPE_NAMES.get(entry.type, entry.type))}'
            f"{' · ' + h(site.site_name(place)) if isinstance(place, str) else ''}"
            f"{' · ' + h(when.isoformat()) if when else ''}"
            f' · <span class="tlp-tag">{h(entry.tlp.upper())}</span></span>{said}</li>'
        )
    return f'<ul class="entries">{"".join(rows)}</ul>' if rows else "<p>None yet.</p>"


# ---------------------------------------------------------------- one page per entry


FIELDS = (
    ("status", "Status"),
    ("evidence", "Evidence"),
    ("product_type", "Product type"),
    ("priority", "Priority"),
    ("needed_by", "Needed by"),
    ("created", "Created"),
    ("updated", "Updated"),
)


def _values(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [] if value in (None, "") else [str(value)]


def entry_page(site: Site, entry: Entry) -> str:
    root = "../"
    meta = entry.meta
    facts = [f"<dt>Type</dt><dd>{link(root, f'types/{entry.type}/index.html', entry.type)}</dd>"]
    place = meta.get("site")
    if isinstance(place, str):
        shown = (
            link(root, f"sites/{place}/index.html", site.site_name(place))
            if SLUG.match(place)
            else h(place)
        )
        facts.append(f"<dt>Site</dt><dd>{shown}</dd>")
    if _values(meta.get("authors")):
        facts.append(f"<dt>Authors</dt><dd>{h(', '.join(_values(meta.get('authors'))))}</dd>")
    topics = [t for t in _values(meta.get("topics")) if t in TOPIC_NAMES]
    if topics:
        links = ", ".join(link(root, f"topics/{t}/index.html", TOPIC_NAMES[t]) for t in topics)
        facts.append(f"<dt>Topics</dt><dd>{links}</dd>")
    if _values(meta.get("tags")):
        facts.append(f"<dt>Tags</dt><dd>{h(', '.join(_values(meta.get('tags'))))}</dd>")
    for name, label in FIELDS:
        if _values(meta.get(name)):
            facts.append(f"<dt>{label}</dt><dd>{h(', '.join(_values(meta.get(name))))}</dd>")
    if entry.type == "rfi" and _values(meta.get("to")):
        facts.append(f"<dt>Asked of</dt><dd>{h(', '.join(_values(meta.get('to'))))}</dd>")
    facts.append(f"<dt>TLP</dt><dd>{h(entry.tlp.upper())}</dd>")
    parts = [f'<dl class="facts">{"".join(facts)}</dl>']
    summary = meta.get("summary")
    if isinstance(summary, str) and summary.strip():
        parts.append(f'<p class="summary">{h(summary)}</p>')
    body = site.bodies.get(entry.id)
    body = markdown(entry.body) if body is None else body
    parts.append(f'<article class="body">{body}</article>')
    files = site.attachments.get(entry.id, [])
    if files:
        items = "".join(f'<li><a href="{h(href(f.name))}">{h(f.name)}</a></li>' for f in files)
        parts.append(f'<section aria-labelledby="files"><h2 id="files">Attachments</h2>'
                     f"<ul>{items}</ul></section>")  # fmt: skip
    if entry.type == "response":
        asked = site.by_id.get(str(meta.get("rfi", "")))
        if asked is not None:
            parts.append(
                '<section aria-labelledby="thread"><h2 id="thread">Answers the request</h2>'
                f"<p>{link(root, entry_path(asked.id), asked.title)}</p></section>"
            )
    if entry.type == "rfi":
        answers = sorted(
            site.responses.get(entry.id, []), key=lambda e: (str(e.meta.get("created", "")), e.id)
        )
        items = "".join(
            f"<li>{link(root, entry_path(a.id), a.title or 'Response')}"
            f'<span class="meta"> · {h(site.site_name(str(a.meta.get("site", ""))))}'
            f" · {h(a.meta.get('created', ''))}</span></li>"
            for a in answers
        )
        parts.append(
            '<section aria-labelledby="thread"><h2 id="thread">Responses</h2>'
            + (f'<ol class="thread">{items}</ol>' if items else "<p>No response yet.</p>")
            + "</section>"
        )
    related = [site.by_id[r] for r in _values(meta.get("related")) if r in site.by_id]
    if related:
        parts.append(
            '<section aria-labelledby="related"><h2 id="related">Related</h2>'
            + entry_list(site, related, root)
            + "</section>"
        )
    return site.render(entry.title, "\n".join(parts), root, [entry])


# ---------------------------------------------------------------- lists


def home_page(site: Site) -> str:
    newest = newest_first(site.entries)[:NEWEST]
    open_rfis = [row.entry for row in _rows(site) if row.status == "open"]
    body = (
        '<section aria-labelledby="newest"><h2 id="newest">Newest entries</h2>'
        + entry_list(site, newest, "")
        + '</section><section aria-labelledby="open"><h2 id="open">Open requests</h2>'
        + entry_list(site, open_rfis, "")
        + '</section><section aria-labelledby="where"><h2 id="where">Where the knowledge is'
        '</h2><p>The <a href="map/index.html">map</a> shows which sites have shared what, '
        'on which topics, and what is missing; <a href="experts/index.html">who to ask</a> '
        f"names the people and sites behind each topic.</p><p>{len(site.entries)} entries "
        "are published here.</p></section>"
    )
    return site.render("Crime analysis knowledge base", body, "", newest + open_rfis, "index.html")


def _rows(site: Site) -> list[RfiRow]:
    return rfi_rows(site.entries, site.today)


def topic_pages(site: Site) -> dict[str, str]:
    pages = {}
    items = []
    for topic in TOPICS:
        listed = newest_first(e for e in site.entries if topic in _values(e.meta.get("topics")))
        items.append(
            f"<li>{link('../', f'topics/{topic}/index.html', TOPIC_NAMES[topic])} "
            f'<span class="meta">({len(listed)})</span></li>'
        )
        body = "".join(
            f'<section aria-labelledby="{kind}"><h2 id="{kind}">{h(TYPE_NAMES[kind])}</h2>'
            + entry_list(site, [e for e in listed if e.type == kind], "../../")
            + "</section>"
            for kind in TYPES
            if any(e.type == kind for e in listed)
        )
        pages[f"topics/{topic}/index.html"] = site.render(
            TOPIC_NAMES[topic], body or "<p>Nothing published on this topic yet.</p>", "../../",
            listed,
        )  # fmt: skip
    pages["topics/index.html"] = site.render(
        "Topics", f'<ul class="index">{"".join(items)}</ul>', "../", [], "topics/index.html"
    )
    return pages


def site_slugs(site: Site) -> list[str]:
    seen = [str(e.meta.get("site")) for e in site.entries if isinstance(e.meta.get("site"), str)]
    return [s for s in dict.fromkeys([*site.site_names, *sorted(seen)]) if SLUG.match(s)]


def site_pages(site: Site) -> dict[str, str]:
    pages = {}
    items = []
    for slug in site_slugs(site):
        listed = newest_first(e for e in site.entries if e.meta.get("site") == slug)
        items.append(
            f"<li>{link('../', f'sites/{slug}/index.html', site.site_name(slug))} "
            f'<span class="meta">({len(listed)})</span></li>'
        )
        body = "".join(
            f'<section aria-labelledby="topic-{topic}"><h2 id="topic-{topic}">'
            f"{h(TOPIC_NAMES[topic])}</h2>"
            + entry_list(
                site, [e for e in listed if topic in _values(e.meta.get("topics"))], "../../"
            )  # fmt: skip
            + "</section>"
            for topic in TOPICS
            if any(topic in _values(e.meta.get("topics")) for e in listed)
        )
        pages[f"sites/{slug}/index.html"] = site.render(
            site.site_name(slug), body or "<p>This site has published nothing yet.</p>",
            "../../", listed,
        )  # fmt: skip
    pages["sites/index.html"] = site.render(
        "Sites", f'<ul class="index">{"".join(items)}</ul>', "../", [], "sites/index.html"
    )
    return pages


def type_pages(site: Site) -> dict[str, str]:
    pages = {}
    items = []
    for kind in TYPES:
        listed = newest_first(e for e in site.entries if e.type == kind)
        items.append(
            f"<li>{link('../', f'types/{kind}/index.html', TYPE_NAMES[kind])} "
            f'<span class="meta">({len(listed)})</span></li>'
        )
        pages[f"types/{kind}/index.html"] = site.render(
            TYPE_NAMES[kind], entry_list(site, listed, "../../"), "../../", listed
        )
    pages["types/index.html"] = site.render(
        "Types", f'<ul class="index">{"".join(items)}</ul>', "../", [], "types/index.html"
    )
    return pages


def rfi_board(site: Site) -> str:
    rows = _rows(site)
    groups: dict[str, list[RfiRow]] = {"overdue": [], "due-soon": [], "open": [], "answered": []}
    for row in rows:  # answered: a response came, or it was closed; the rest by due date
        if row.responses or row.status != "open":
            groups["answered"].append(row)
        elif row.overdue:
            groups["overdue"].append(row)
        elif row.days_left is not None and row.days_left <= DUE_SOON_DAYS:
            groups["due-soon"].append(row)
        else:
            groups["open"].append(row)
    titles = {
        "overdue": "Overdue",
        "due-soon": f"Due within {DUE_SOON_DAYS} days",
        "open": "Open",
        "answered": "Answered",
    }
    body = []
    for key, listed in groups.items():
        items = "".join(
            f"<li>{link('../', entry_path(row.entry.id), row.entry.title)}"
            f'<span class="meta"> · {_due(row)} · {row.responses} '
            f"{'response' if row.responses == 1 else 'responses'}</span></li>"
            for row in listed
        )
        body.append(
            f'<section aria-labelledby="{key}"><h2 id="{key}">{titles[key]} ({len(listed)})</h2>'
            + (f'<ul class="entries">{items}</ul>' if items else "<p>None.</p>")
            + "</section>"
        )
    shown = [row.entry for row in rows]
    return site.render("RFI board", "".join(body), "../", shown, "rfis/index.html")


def _due(row: RfiRow) -> str:
    if row.needed_by is None:
        return "no due date"
    if row.status == "open" and row.days_left is not None and row.days_left < 0:
        return f"needed by {row.needed_by.isoformat()} ({-row.days_left} days overdue)"
    return f"needed by {row.needed_by.isoformat()}"


# ---------------------------------------------------------------- the map and who to ask


def level(count: int, most: int) -> int:
    """0 for no entries, else 1..5 in proportion to the largest count (as `gaps` colours)."""
    if count <= 0 or most <= 0:
        return 0
    return max(1, min(5, math.ceil(count * 5 / most)))


def map_page(site: Site) -> str:
    report = site.gaps
    root = "../"
    sites = [s for s in report.sites if SLUG.match(s)]
    head = "".join(
        f'<th scope="col">{link(root, f"sites/{s}/index.html", report.site_names.get(s, s))}</th>'
        for s in sites
    )
    rows = []
    for topic in report.topics:
        cells = []
        for slug in sites:
            count = report.counts.get(topic, {}).get(slug, 0)
            step = level(count, report.most)
            words = f"{count} {'entry' if count == 1 else 'entries'} ({LEVELS[step]})"
            shown = (
                f'<a href="{root}sites/{h(href(slug))}/index.html#topic-{topic}" '
                f'aria-label="{h(report.site_names.get(slug, slug))}, {h(TOPIC_NAMES[topic])}: '
                f'{words}">{count}</a>'
                if count
                else f'<span aria-label="{words}">0</span>'
            )
            cells.append(f'<td class="heat-{step}">{shown}</td>')
        rows.append(
            f'<tr><th scope="row">{link(root, f"topics/{topic}/index.html", TOPIC_NAMES[topic])}'
            f"</th>{''.join(cells)}</tr>"
        )
    legend = "".join(
        f'<li><span class="swatch heat-{n}" aria-hidden="true">&nbsp;</span> {LEVELS[n]}</li>'
        for n in range(6)
    )
    lists = [
        (
            "Topics with no strategy",
            [link(root, f"topics/{t}/index.html", TOPIC_NAMES[t]) for t in
             report.topics_without_strategy if t in TOPIC_NAMES],
        ),
        (
            "Quiet sites (nothing shared in a year)",
            [link(root, f"sites/{s}/index.html", report.site_names.get(s, s))
             + (f' <span class="meta">last shared {last.isoformat()}</span>' if last else
                ' <span class="meta">never shared</span>')
             for s, last in report.quiet_sites if SLUG.match(s)],
        ),
        (
            "Overdue requests with no response",
            [link(root, entry_path(rfi.id), rfi.title) + f' <span class="meta">{days} days '
             "overdue</span>" for rfi, days in report.overdue_unanswered],
        ),
        (
            "Stale strategies and work products (not updated in two years)",
            [link(root, entry_path(e.id), e.title)
             + (f' <span class="meta">last updated {last.isoformat()}</span>' if last else "")
             for e, last in report.stale],
        ),
    ]  # fmt: skip
    body = (
        "<p>Each cell counts the published entries of a site on a topic; the number is "
        "always shown, the colour only repeats it. Follow a number to the entries.</p>"
        '<div class="scroll" tabindex="0" role="region" aria-label="Topics by site">'
        f'<table class="heat"><caption>Entries by topic and site</caption><thead><tr>'
        f'<th scope="col">Topic</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        f'</div><ul class="legend" aria-label="Legend">{legend}</ul>'
    )
    for number, (title, items) in enumerate(lists):
        listed = "".join(f"<li>{item}</li>" for item in items)
        body += (
            f'<section aria-labelledby="list-{number}"><h2 id="list-{number}">{h(title)} '
            f"({len(items)})</h2>" + (f"<ul>{listed}</ul>" if listed else "<p>None.</p>")
            + "</section>"
        )  # fmt: skip
    shown = [pair[0] for pair in report.overdue_unanswered] + [p[0] for p in report.stale]
    return site.render("Map", body, root, shown or site.entries, "map/index.html")


def experts_page(site: Site) -> str:
    """Per topic, the authors and sites whose published entries on it weigh most, each
    entry weighted by age as `cacop experts` weighs it (recent work counts more)."""
    root = "../"
    body = []
    for topic in TOPICS:
        people: dict[str, tuple[str, float, list[Entry]]] = {}
        places: dict[str, tuple[str, float, list[Entry]]] = {}
        for entry in site.entries:
            if topic not in _values(entry.meta.get("topics")):
                continue
            weight = recency_weight(last_touched(entry), site.today)
            for author in dict.fromkeys(a.strip() for a in _values(entry.meta.get("authors"))):
                if author:
                    key = " ".join(author.casefold().split())
                    label, score, listed = people.get(key, (author, 0.0, []))
                    people[key] = (label, score + weight, [*listed, entry])
            slug = entry.meta.get("site")
            if isinstance(slug, str):
                label, score, listed = places.get(slug, (site.site_name(slug), 0.0, []))
                places[slug] = (label, score + weight, [*listed, entry])
        if not people and not places:
            continue

        def ranked(found: dict[str, tuple[str, float, list[Entry]]]) -> str:
            best = sorted(found.values(), key=lambda v: (-v[1], v[0].casefold()))[:5]
            return "".join(
                f'<li>{h(label)} <span class="meta">({len(listed)} '
                f"{'entry' if len(listed) == 1 else 'entries'}: "
                + ", ".join(link(root, entry_path(e.id), e.title) for e in newest_first(listed)[:3])
                + ")</span></li>"
                for label, _score, listed in best
            )

        body.append(
            f'<section aria-labelledby="who-{topic}"><h2 id="who-{topic}">'
            f"{link(root, f'topics/{topic}/index.html', TOPIC_NAMES[topic])}</h2>"
            f'<div class="two"><div><h3>People</h3><ol>{ranked(people)}</ol></div>'
            f"<div><h3>Sites</h3><ol>{ranked(places)}</ol></div></div></section>"
        )
    intro = (
        "<p>Ranked by how much each person and site has published on the topic, recent work "
        "counting more (an entry's weight halves every two years).</p>"
    )
    return site.render(
        "Who to ask", intro + ("".join(body) or "<p>Nothing published yet.</p>"), root,
        site.entries, "experts/index.html",
    )  # fmt: skip


def all_pages(site: Site) -> dict[str, str]:
    """Every HTML page, by its path in the site."""
    return {**entry_pages(site), **listing_pages(site)}


def entry_pages(site: Site, keep: Callable[[str, str], bool] | None = None) -> dict[str, str]:
    """Each entry's page, but those `keep` (given the page and `entry_key`) says to keep."""
    made = {}
    for entry in site.entries:
        name = entry_path(entry.id)
        if keep is None or not keep(name, entry_key(site, entry)):
            made[name] = entry_page(site, entry)
    return made


def entry_key(site: Site, entry: Entry) -> str:
    """A digest of what an entry's page is made from: its frontmatter, its body (the code
    and markdown-it that make its HTML are the caller's part of the key),
    its attachments' names, and the frontmatter of the entries it links to."""
    meta = entry.meta
    linked = [site.by_id[r] for r in _values(meta.get("related")) if r in site.by_id]
    if entry.type == "response" and str(meta.get("rfi", "")) in site.by_id:
        linked.append(site.by_id[str(meta.get("rfi", ""))])
    if entry.type == "rfi":
        linked.extend(site.responses.get(entry.id, []))
    places = [meta.get("site"), *(e.meta.get("site") for e in linked)]
    facts = [
        site.kb_name,
        site.today,
        entry.id,
        meta,
        [f.name for f in site.attachments.get(entry.id, [])],
        [(e.id, e.meta) for e in linked],
        [site.site_name(p) for p in places if isinstance(p, str)],
    ]
    try:
        text = json.dumps(facts, default=str, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):  # keys no JSON can sort: the page is made every time
        text = f"unsortable {entry.id} {id(entry)} {id(site)}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass"))  # the body as written:
    digest.update(b"\0" + entry.body.encode("utf-8", "surrogatepass"))  # its HTML is made
    return digest.hexdigest()


def listings_key(site: Site) -> str | None:
    """What the listing pages (all but the entries' own) are made from, as text: the
    entries' frontmatter (never their bodies), the gaps report and the build's day."""

    def plain(value: object) -> object:
        if isinstance(value, Entry):
            return value.id
        if isinstance(value, dt.date):
            return value.isoformat()
        if dataclasses.is_dataclass(value):
            return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        if isinstance(value, set | frozenset):
            return sorted(map(str, value))
        return str(value)

    facts = [
        site.kb_name,
        site.today,
        site.site_names,
        site.gaps,
        [(entry.id, entry.rel, entry.meta) for entry in site.entries],
    ]
    try:
        return json.dumps(facts, default=plain, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):  # keys no JSON can sort: made afresh every time
        return None


def listing_pages(site: Site) -> dict[str, str]:
    """Every page but the entries' own: home, lists, the RFI board, map, who to ask."""
    pages = {"index.html": home_page(site)}
    pages.update(topic_pages(site))
    pages.update(site_pages(site))
    pages.update(type_pages(site))
    pages["rfis/index.html"] = rfi_board(site)
    pages["map/index.html"] = map_page(site)
    pages["experts/index.html"] = experts_page(site)
    return pages


__all__ = ["TLP_ORDER", "Site", "all_pages", "banner"]
