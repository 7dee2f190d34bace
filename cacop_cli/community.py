"""The community's map: where knowledge is and is missing (gaps), who to ask (experts), and
what is new (digest). Plain data out; every "today" can be injected for reproducible reports."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .config import KB
from .entries import write_atomic
from .errors import UsageError
from .listing import ABSENT, Listing, while_checking
from .models import TLP_ORDER, TOPICS, TYPES, Entry, Issue, at_or_below
from .people import is_unit, same_person, site_contacts
from .publish import Line, choose_line, for_others
from .rfi import derived_status, entry_date, last_touched

QUIET_AFTER_YEARS = 1  # a site that shared nothing for this long is listed as quiet
STALE_AFTER_YEARS = 2  # a strategy or work product not updated for this long is listed as stale
HALF_LIFE_DAYS = 730  # in `experts`, an entry's weight halves every two years of age


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def site_name(catalog: Catalog | Listing, slug: str) -> str:
    details = catalog.sites.get(slug)
    name = details.get("name") if isinstance(details, dict) else None
    return name if isinstance(name, str) else slug


# ---------------------------------------------------------------- gaps


@dataclass
class GapReport:
    """A topic × site matrix of entry counts and the lists that need someone's attention."""

    today: dt.date
    topics: list[str]
    sites: list[str]
    site_names: dict[str, str]
    counts: dict[str, dict[str, int]]  # topic -> site -> entries
    by_type: dict[str, dict[str, dict[str, int]]] | None  # type -> topic -> site -> entries
    topics_without_strategy: list[str]
    quiet_sites: list[tuple[str, dt.date | None]]  # (site, last shared) — None: never
    overdue_unanswered: list[tuple[Entry, int]]  # (RFI, days past needed_by)
    stale: list[tuple[Entry, dt.date | None]]  # (entry, last touched)
    line: Line
    counted_above: int = 0  # entries above the line in the matrix's counts (never listed)
    unreadable: list[Issue] = field(default_factory=list)

    @property
    def most(self) -> int:
        """The largest count in the matrix (0 for an empty KB)."""
        return max((n for row in self.counts.values() for n in row.values()), default=0)

    def as_dict(self) -> dict[str, Any]:
        def entry_row(entry: Entry, **extra: Any) -> dict[str, Any]:
            return {
                "id": entry.id,
                "type": entry.type,
                "title": entry.title,
                "site": entry.meta.get("site"),
                "tlp": entry.meta.get("tlp"),
                "path": entry.rel,
                **extra,
            }

        document: dict[str, Any] = {
            "today": self.today.isoformat(),
            "topics": self.topics,
            "sites": self.sites,
            "matrix": self.counts,
            "topics_without_strategy": self.topics_without_strategy,
            "quiet_sites": [
                {"site": site, "last_shared": last.isoformat() if last else None}
                for site, last in self.quiet_sites
            ],
            "overdue_unanswered": [
                entry_row(rfi, needed_by=rfi.meta.get("needed_by"), days_overdue=days)
                for rfi, days in self.overdue_unanswered
            ],
            "stale": [
                entry_row(entry, last_updated=last.isoformat() if last else None)
                for entry, last in self.stale
            ],
        }
        if self.by_type is not None:
            document["by_type"] = self.by_type
        document.update(self.line.as_dict(), matrix_counts_above_tlp=self.counted_above)
        return document


def _count(counts: dict[str, dict[str, int]], site: Any, topics: Any) -> None:
    """Count an entry once under each of its topics in its site's column, if in the matrix."""
    for topic in dict.fromkeys(topics or ()):
        row = counts.get(topic)
        if row is not None and site in row:
            row[site] += 1


def _touched(created: Any, updated: Any, read: dict[str, dt.date | None]) -> dt.date | None:
    """rfi.last_touched of an entry's dates; `read`: the dates of the texts read so far."""
    when = None
    for text in (created, updated):
        if isinstance(text, str):
            day = read[text] if text in read else read.setdefault(text, entry_date(text))
            if day is not None and (when is None or day > when):
                when = day
    return when


def gaps(
    kb: KB,
    by_type: bool = False,
    today: dt.date | None = None,
    max_tlp: str | None = None,
    listing: Listing | None = None,
    gated: bool = False,
) -> GapReport:
    """Where the KB is thin: the topic × site matrix, then what needs action as of `today`:
    topics no strategy (not retired) lists; registered sites whose newest entry (any type,
    by `updated` or `created`) is over a year old, or that never shared anything; overdue
    RFIs (not closed, past `needed_by`, no response at all); stale entries: strategies (not
    retired) and work products whose `updated` (else `created`) is over two years old.

    The matrix counts every entry; the lists name only entries that may be written for
    others (at or below the line, no personal data). Read from the index's listing, one
    pass over its columns, an entry made only for those listed; `listing` (listing_of some
    entries) lets `site build` map only the entries it publishes, and `gated` says they all
    passed the gate already, so the lists need not scan them again.
    """
    today = today or dt.date.today()
    line = choose_line(kb, max_tlp)  # a wrong --max-tlp is said before any work

    def report(listing: Listing) -> GapReport:
        return _gaps(listing, by_type, today, replace(line), gated)

    return report(listing) if listing is not None else while_checking(kb, report, others=True)


def _gaps(listing: Listing, by_type: bool, today: dt.date, line: Line, gated: bool) -> GapReport:
    """gaps() of `listing`, the lists gated by `line` (which counts what they leave out)."""
    columns = listing.columns
    registry = listing.sites
    seen_sites = {site for site in columns["site"] if isinstance(site, str)}
    sites = list(registry) + sorted(seen_sites - set(registry))
    topics = list(TOPICS)
    counts = {topic: dict.fromkeys(sites, 0) for topic in topics}
    typed = {kind: {topic: dict.fromkeys(sites, 0) for topic in topics} for kind in TYPES}
    covered: set[Any] = set()  # topics of the strategies that are not retired
    read: dict[str, dt.date | None] = {}
    last_shared: dict[str, dt.date] = {}
    answered: set[str] = set()  # ids of the RFIs some response answers
    rfis: list[int] = []  # positions in the listing
    stale: list[tuple[int, dt.date | None]] = []
    stale_before = years_before(today, STALE_AFTER_YEARS)
    below = {tlp for tlp in TLP_ORDER if at_or_below(tlp, line.line)}
    counted_above = 0
    named = ("type", "site", "topics", "tlp", "created", "updated", "status", "rfi")
    for at, (kind, site, listed_topics, tlp, created, updated, status, asked) in enumerate(
        zip(*(columns[name] for name in named), strict=True)
    ):
        listed_topics = None if listed_topics is ABSENT else listed_topics
        _count(counts, site, listed_topics)
        if by_type and kind in typed:
            _count(typed[kind], site, listed_topics)
        when = _touched(created, updated, read)
        if isinstance(site, str) and when and (site not in last_shared or when > last_shared[site]):
            last_shared[site] = when
        counted_above += not (isinstance(tlp, str) and tlp in below)
        if kind == "rfi":
            rfis.append(at)
        elif kind == "response" and isinstance(asked, str):
            answered.add(asked)
        elif kind in ("strategy", "work-product") and status != "retired":
            if kind == "strategy":
                covered.update(listed_topics or ())
            if (when or dt.date.min) < stale_before:
                stale.append((at, when))
    quiet_since = years_before(today, QUIET_AFTER_YEARS)
    quiet = [
        (site, last_shared.get(site))
        for site in registry
        if site not in last_shared or last_shared[site] < quiet_since
    ]
    ids = columns["id"]
    dues = [
        (at, entry_date(listing.value("needed_by", at))) for at in rfis if ids[at] not in answered
    ]
    overdue = [
        (listing.entry_for_others(at), (today - due).days)
        for at, due in dues
        if due and due < today
    ]
    overdue = [pair for pair in overdue if derived_status(pair[0], 0) == "open"]  # as rfi_rows
    overdue.sort(key=lambda pair: (-pair[1], pair[0].id))
    stale.sort(key=lambda pair: (pair[1] or dt.date.min, ids[pair[0]]))
    stale_entries = [(listing.entry_for_others(at), when) for at, when in stale]
    listed = [pair[0] for pair in overdue + stale_entries]
    shown = {e.rel for e in listed} if gated else for_others(listed, line, today)
    return GapReport(
        today=today,
        topics=topics,
        sites=sites,
        site_names={site: site_name(listing, site) for site in sites},
        counts=counts,
        by_type=typed if by_type else None,
        topics_without_strategy=[topic for topic in topics if topic not in covered],
        quiet_sites=quiet,
        overdue_unanswered=[pair for pair in overdue if pair[0].rel in shown],
        stale=[pair for pair in stale_entries if pair[0].rel in shown],
        line=line,
        counted_above=counted_above,
        unreadable=listing.unreadable,
    )


def save_page(path: Path, page: str) -> Path:
    """Write a generated page (e.g. `gaps --html`) atomically; a clear error if it cannot be."""
    target = path.expanduser()
    if target.is_dir():
        raise UsageError(f"{path} is a folder; give a file name such as gaps.html")
    write_atomic(target, page)
    return target


# ---------------------------------------------------------------- experts


@dataclass
class Contribution:
    """One entry behind an expert: its search relevance and that relevance after ageing."""

    entry: Entry
    score: float
    weight: float
    when: dt.date | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.entry.id,
            "type": self.entry.type,
            "title": self.entry.title,
            "site": self.entry.meta.get("site"),
            "tlp": self.entry.meta.get("tlp"),
            "date": self.when.isoformat() if self.when else None,
            "score": round(self.score, 4),
            "weight": round(self.weight, 4),
        }


@dataclass
class Expert:
    """A person (an author) or a site, and the matching entries that make them one."""

    name: str  # the author as written, or the site slug
    label: str  # what to print: the author, or the site's name
    score: float
    contributions: list[Contribution]
    site: str | None = None  # a person's site (where most of their entries are from)
    contacts: list[dict[str, str]] = field(default_factory=list)  # from kb/sites.yaml
    units: list[str] = field(default_factory=list)  # a site's authors that are units

    @property
    def newest(self) -> dt.date | None:
        dates = [item.when for item in self.contributions if item.when]
        return max(dates) if dates else None

    @property
    def summary(self) -> str:
        """The score in one phrase: '3 entries on this, newest 2025-06'."""
        count = len(self.contributions)
        newest = self.newest
        when = f", newest {newest.strftime('%Y-%m')}" if newest else ", all undated"
        return f"{count} {'entry' if count == 1 else 'entries'} on this{when}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "score": round(self.score, 4),
            "entries": [item.as_dict() for item in self.contributions],
            "summary": self.summary,
            "entry_count": len(self.contributions),
            "newest": self.newest.isoformat() if self.newest else None,
            "site": self.site,
            "contacts": self.contacts,
            "units": self.units,
        }


@dataclass
class ExpertReport:
    query: str
    today: dt.date
    engine: str  # always "index" (cacop search); kept in --json, whose shape is a contract
    people: list[Expert]
    sites: list[Expert]
    matched: int
    line: Line

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "today": self.today.isoformat(),
            "engine": self.engine,
            "half_life_days": HALF_LIFE_DAYS,
            "matched_entries": self.matched,
            **self.line.as_dict(),
            "people": [person.as_dict() for person in self.people],
            "sites": [site.as_dict() for site in self.sites],
        }


def recency_weight(when: dt.date | None, today: dt.date) -> float:
    """1.0 for work done today, halving every HALF_LIFE_DAYS; undated work counts as old."""
    if when is None:
        return 0.5 ** (5 * 365 / HALF_LIFE_DAYS)
    age = max((today - when).days, 0)
    return 0.5 ** (age / HALF_LIFE_DAYS)


def search_scores(kb: KB, query: str, limit: int, checked: Any = None) -> dict[str, float]:
    """Relevance of each matching entry, from `cacop search` (its query checks included);
    `checked`: the catalog's freshness check (Catalog.checked), for the search to stand on."""
    from .search import search  # here, so that gaps and digest never load the search engine

    result = search(kb, query, limit=limit, facets=False, snippets=False, checked=checked)
    return {hit.id: float(hit.score) for hit in result.hits}


def _rank(groups: dict[str, list[Contribution]], labels: dict[str, str], top: int) -> list[Expert]:
    ranked = [
        Expert(
            name=name,
            label=labels.get(name, name),
            score=sum(item.weight for item in items),
            contributions=sorted(items, key=lambda item: (-item.weight, item.entry.id)),
        )
        for name, items in groups.items()
    ]
    ranked.sort(key=lambda expert: (-expert.score, expert.label.casefold()))
    return ranked[:top]


def experts(
    kb: KB,
    query: str,
    top: int = 10,
    limit: int = 500,
    today: dt.date | None = None,
    max_tlp: str | None = None,
) -> ExpertReport:
    """Who to ask about `query`: authors and sites ranked by the summed relevance of their
    matching entries, each weighted by its age (recent work counts more). Only entries that
    may be written for others count: the rest would show through the lists of entries."""
    if not query.strip():
        raise UsageError("give a query: what do you want to ask about?")
    if top < 1:
        raise UsageError("--top must be at least 1")
    today = today or dt.date.today()
    line = choose_line(kb, max_tlp)  # a wrong --max-tlp is said before any work

    def report(listing: Listing) -> ExpertReport:
        return _experts(kb, listing, query, top, limit, today, replace(line))

    return while_checking(kb, report, others=True)  # what it reads of each entry: no card


def _experts(
    kb: KB, listing: Listing, query: str, top: int, limit: int, today: dt.date, line: Line
) -> ExpertReport:
    """experts() from `listing`, whose freshness check the search stands on."""
    position = {entry_id: at for at, entry_id in enumerate(listing.columns["id"])}
    scores = search_scores(kb, query, limit, listing.checked)
    matching = [
        listing.entry_for_others(position[entry_id], ("authors",))
        for entry_id in scores
        if entry_id in position
    ]
    known = {entry.id: entry for entry in matching}
    shown = for_others([entry for entry in matching if scores[entry.id] > 0], line, today)
    scores = {entry.id: scores[entry.id] for entry in matching if entry.rel in shown}
    people: dict[str, list[Contribution]] = {}
    people_labels: dict[str, str] = {}
    sites: dict[str, list[Contribution]] = {}
    units: dict[str, dict[str, None]] = {}  # site -> its authors that are units
    not_people = {" ".join(str(v).casefold().split()) for v in listing.sites}
    for slug in listing.sites:
        not_people |= {" ".join(site_name(listing, slug).casefold().split())}
        details = listing.sites.get(slug)
        agency = details.get("agency") if isinstance(details, dict) else None
        if isinstance(agency, str):
            not_people.add(" ".join(agency.casefold().split()))
    for entry_id, score in scores.items():
        entry = known.get(entry_id)
        if entry is None or score <= 0:
            continue
        when = last_touched(entry)
        item = Contribution(entry, score, score * recency_weight(when, today), when)
        site = entry.meta.get("site")
        for author in dict.fromkeys(str(a).strip() for a in entry.meta.get("authors") or ()):
            if not author:
                continue
            if is_unit(author, not_people):
                if isinstance(site, str):
                    units.setdefault(site, {})[author] = None
                continue
            key = " ".join(author.casefold().split())
            people.setdefault(key, []).append(item)
            people_labels.setdefault(key, author)
        if isinstance(site, str):
            sites.setdefault(site, []).append(item)
    site_labels = {slug: site_name(listing, slug) for slug in sites}
    ranked_people = _rank(people, people_labels, top)
    for person in ranked_people:
        home = Counter(
            str(item.entry.meta.get("site"))
            for item in person.contributions
            if isinstance(item.entry.meta.get("site"), str)
        )
        person.site = home.most_common(1)[0][0] if home else None
        person.contacts = [
            contact
            for contact in site_contacts(listing, person.site or "")
            if same_person(contact["name"], person.label)
        ]
    ranked_sites = _rank(sites, site_labels, top)
    for site_expert in ranked_sites:
        site_expert.site = site_expert.name
        site_expert.contacts = site_contacts(listing, site_expert.name)
        site_expert.units = list(units.get(site_expert.name, {}))
    return ExpertReport(
        query=query,
        today=today,
        engine="index",
        people=ranked_people,
        sites=ranked_sites,
        matched=len(scores),
        line=line,
    )
