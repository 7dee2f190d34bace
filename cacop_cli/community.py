"""The community's map: where knowledge is and is missing (gaps), who to ask (experts), and
what is new (digest). Plain data out; every "today" can be injected for reproducible reports."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import gitrepo
from .catalog import Catalog, load_catalog
from .config import KB
from .entries import write_atomic
from .errors import UsageError
from .models import TLP_ORDER, TOPICS, TYPES, Entry, Issue, at_or_below
from .people import is_unit, same_person, site_contacts
from .publish import Line, choose_line, for_others
from .rfi import derived_status, entry_date, last_touched

QUIET_AFTER_YEARS = 1  # a site that shared nothing for this long is listed as quiet
STALE_AFTER_YEARS = 2  # a strategy or work product not updated for this long is listed as stale
HALF_LIFE_DAYS = 730  # in `experts`, an entry's weight halves every two years of age
DIGEST_DAYS = 7


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _site_name(catalog: Catalog, slug: str) -> str:
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


def _count(counts: dict[str, dict[str, int]], meta: dict[str, Any]) -> None:
    """Count an entry once under each of its topics in its site's column, if in the matrix."""
    site = meta.get("site")
    for topic in dict.fromkeys(meta.get("topics") or ()):
        row = counts.get(topic)
        if row is not None and site in row:
            row[site] += 1


def _touched(meta: dict[str, Any], read: dict[str, dt.date | None]) -> dt.date | None:
    """rfi.last_touched of an entry's fields; `read`: the dates of the texts read so far."""
    when = None
    for text in (meta.get("created"), meta.get("updated")):
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
    catalog: Catalog | None = None,
    gated: bool = False,
) -> GapReport:
    """Where the KB is thin: the topic × site matrix, then what needs action as of `today`:
    topics no strategy (not retired) lists; registered sites whose newest entry (any type,
    by `updated` or `created`) is over a year old, or that never shared anything; overdue
    RFIs (not closed, past `needed_by`, no response at all); stale entries: strategies (not
    retired) and work products whose `updated` (else `created`) is over two years old.

    The matrix counts every entry; the lists name only entries that may be written for
    others (at or below the line, no personal data). `catalog` (the KB's, else read now)
    lets `site build` map only the entries it publishes; `gated` says they all passed the
    gate already, so the lists need not scan them again. Each entry is looked at once.
    """
    today = today or dt.date.today()
    line = choose_line(kb, max_tlp)
    catalog = catalog if catalog is not None else load_catalog(kb)
    entries = catalog.entries
    seen_sites = {str(e.meta["site"]) for e in entries if isinstance(e.meta.get("site"), str)}
    sites = list(catalog.sites) + sorted(seen_sites - set(catalog.sites))
    topics = list(TOPICS)
    counts = {topic: dict.fromkeys(sites, 0) for topic in topics}
    typed = {kind: {topic: dict.fromkeys(sites, 0) for topic in topics} for kind in TYPES}
    covered: set[Any] = set()  # topics of the strategies that are not retired
    read: dict[str, dt.date | None] = {}
    last_shared: dict[str, dt.date] = {}
    answered: set[str] = set()  # ids of the RFIs some response answers
    rfis: list[Entry] = []
    stale: list[tuple[Entry, dt.date | None]] = []
    stale_before = years_before(today, STALE_AFTER_YEARS)
    below = {tlp for tlp in TLP_ORDER if at_or_below(tlp, line.line)}
    counted_above = 0
    for entry in entries:
        meta = entry.meta
        kind = entry.type
        _count(counts, meta)
        if by_type and kind in typed:
            _count(typed[kind], meta)
        when = _touched(meta, read)
        site = meta.get("site")
        if isinstance(site, str) and when and (site not in last_shared or when > last_shared[site]):
            last_shared[site] = when
        tlp = meta.get("tlp")
        counted_above += not (isinstance(tlp, str) and tlp in below)
        if kind == "rfi":
            rfis.append(entry)
        elif kind == "response" and isinstance(meta.get("rfi"), str):
            answered.add(meta["rfi"])
        elif kind in ("strategy", "work-product") and meta.get("status") != "retired":
            if kind == "strategy":
                covered.update(meta.get("topics") or ())
            if (when or dt.date.min) < stale_before:
                stale.append((entry, when))
    quiet_since = years_before(today, QUIET_AFTER_YEARS)
    quiet = [
        (site, last_shared.get(site))
        for site in catalog.sites
        if site not in last_shared or last_shared[site] < quiet_since
    ]
    dues = [(rfi, entry_date(rfi.meta.get("needed_by"))) for rfi in rfis if rfi.id not in answered]
    overdue = [(rfi, (today - due).days) for rfi, due in dues if due and due < today]
    overdue = [pair for pair in overdue if derived_status(pair[0], 0) == "open"]  # as rfi_rows
    overdue.sort(key=lambda pair: (-pair[1], pair[0].id))
    stale.sort(key=lambda pair: (pair[1] or dt.date.min, pair[0].id))
    listed = [pair[0] for pair in overdue + stale]
    shown = {e.rel for e in listed} if gated else for_others(listed, line, today)
    return GapReport(
        today=today,
        topics=topics,
        sites=sites,
        site_names={site: _site_name(catalog, site) for site in sites},
        counts=counts,
        by_type=typed if by_type else None,
        topics_without_strategy=[topic for topic in topics if topic not in covered],
        quiet_sites=quiet,
        overdue_unanswered=[pair for pair in overdue if pair[0].rel in shown],
        stale=[pair for pair in stale if pair[0].rel in shown],
        line=line,
        counted_above=counted_above,
        unreadable=catalog.unreadable,
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
    line = choose_line(kb, max_tlp)
    catalog = load_catalog(kb)
    known = catalog.by_id()
    scores = search_scores(kb, query, limit, catalog.checked)
    matching = [known[entry_id] for entry_id, score in scores.items() if entry_id in known]
    shown = for_others([entry for entry in matching if scores[entry.id] > 0], line, today)
    scores = {entry.id: scores[entry.id] for entry in matching if entry.rel in shown}
    people: dict[str, list[Contribution]] = {}
    people_labels: dict[str, str] = {}
    sites: dict[str, list[Contribution]] = {}
    units: dict[str, dict[str, None]] = {}  # site -> its authors that are units
    not_people = {" ".join(str(v).casefold().split()) for v in catalog.sites}
    for slug in catalog.sites:
        not_people |= {" ".join(_site_name(catalog, slug).casefold().split())}
        details = catalog.sites.get(slug)
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
    site_labels = {slug: _site_name(catalog, slug) for slug in sites}
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
            for contact in site_contacts(catalog, person.site or "")
            if same_person(contact["name"], person.label)
        ]
    ranked_sites = _rank(sites, site_labels, top)
    for site_expert in ranked_sites:
        site_expert.site = site_expert.name
        site_expert.contacts = site_contacts(catalog, site_expert.name)
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


# ---------------------------------------------------------------- digest


@dataclass
class Answered:
    rfi: Entry | None  # None when the RFI is not in this clone
    rfi_id: str
    responses: list[Entry]


@dataclass
class Digest:
    since: dt.date
    today: dt.date
    kb_name: str
    site_names: dict[str, str]
    added: list[Entry]  # strategies, work products and RFIs created in the window
    answered: list[Answered]  # RFIs with responses created in the window
    closed: list[tuple[Entry, dt.date, int]]  # RFIs closed in the window, when, responses
    line: Line
    unreadable: list[Issue] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def brief(entry: Entry) -> dict[str, Any]:
            return {
                "id": entry.id,
                "type": entry.type,
                "title": entry.title,
                "site": entry.meta.get("site"),
                "authors": entry.meta.get("authors"),
                "created": entry.meta.get("created"),
                "tlp": entry.meta.get("tlp"),
                "path": entry.rel,
            }

        return {
            "since": self.since.isoformat(),
            "until": self.today.isoformat(),
            **self.line.as_dict(),
            "added": [brief(entry) for entry in self.added],
            "answered": [
                {
                    "rfi": item.rfi_id,
                    "title": item.rfi.title if item.rfi else None,
                    "responses": [brief(response) for response in item.responses],
                }
                for item in self.answered
            ],
            "closed": [
                {**brief(entry), "closed": when.isoformat(), "responses": count}
                for entry, when, count in self.closed
            ],
        }


# A line that says closed, as `git log -G` matched it when that found closing commits: a
# commit closes (or reopens) an RFI when it adds or removes such a line in the RFI's file.
_CLOSED_LINE = re.compile(rb"status:[ \t\v\f\r]*['\"]?closed[^\n]*")


def closing_dates(kb: KB, rfis: list[Entry], since: dt.date, today: dt.date) -> dict[str, dt.date]:
    """When each closed RFI was closed, as far as it is within [since, today].

    Closing changes only the `status` line, so git's history of that line tells when:
    the newest commit since `since` that changed a `status: closed` line in the RFI's file.
    A change not yet committed (or a file git does not track yet) counts as today. Outside
    git, the file's modification time.
    """
    paths = {entry.rel: entry for entry in rfis}
    if not paths:
        return {}
    found: dict[str, dt.date] = {}
    if gitrepo.is_repository(kb.root):
        changed = gitrepo.uncommitted(kb.root, set(paths))
        days = gitrepo.newest_line_changes(
            kb.root, f"{since.isoformat()} 00:00:00", set(paths) - changed, b"status:", _CLOSED_LINE
        )
        found = {rel: when for rel, day in days.items() if (when := entry_date(day))}
        found.update(dict.fromkeys(changed, today))  # closed, not yet committed
    else:
        for rel, entry in paths.items():
            try:
                found[rel] = dt.date.fromtimestamp(entry.path.stat().st_mtime)
            except OSError:
                continue
    return {paths[rel].id: when for rel, when in found.items() if since <= when <= today}


def _rfi_or_none(entry: Entry | None) -> Entry | None:
    return entry if entry is not None and entry.type == "rfi" else None


def digest(
    kb: KB,
    since: dt.date | None = None,
    today: dt.date | None = None,
    max_tlp: str | None = None,
) -> Digest:
    """What was added, answered and closed from `since` (default: a week ago) to today:
    only entries that may be written for others (at or below the line, no personal data)."""
    today = today or dt.date.today()
    line = choose_line(kb, max_tlp)
    since = since or today - dt.timedelta(days=DIGEST_DAYS)
    if since > today:
        raise UsageError(f"--since {since.isoformat()} is after today ({today.isoformat()})")
    catalog = load_catalog(kb)
    windowed: dict[str, bool] = {}  # `created` -> in the window (few dates are distinct)

    def in_window(entry: Entry) -> bool:
        created = entry.meta.get("created")
        if not isinstance(created, str):
            return False
        if created not in windowed:
            when = entry_date(created)
            windowed[created] = when is not None and since <= when <= today
        return windowed[created]

    order = {"strategy": 0, "work-product": 1, "rfi": 2}
    added: list[Entry] = []
    answers: dict[str, list[Entry]] = {}
    closed_rfis: list[Entry] = []
    responses: Counter[Any] = Counter()  # per RFI; catalog.responses_to would read them all
    sites = set(catalog.sites)
    for entry in catalog.entries:  # one pass: 10,000s of entries
        kind, meta = entry.type, entry.meta
        sites.add(str(meta.get("site")))
        if kind == "response":
            responses[meta.get("rfi")] += 1
            if in_window(entry):
                answers.setdefault(str(meta.get("rfi")), []).append(entry)
        elif kind in order:
            if in_window(entry):
                added.append(entry)
            if kind == "rfi" and meta.get("status") == "closed":
                closed_rfis.append(entry)
    added.sort(key=lambda e: (order[e.type], str(e.meta.get("created")), e.id))
    known = catalog.by_id() if answers else {}
    answered = [
        Answered(
            _rfi_or_none(known.get(rfi_id)),
            rfi_id,
            sorted(items, key=lambda e: (str(e.meta.get("created")), e.id)),
        )
        for rfi_id, items in answers.items()
    ]
    answered.sort(key=lambda item: (str(item.responses[0].meta.get("created")), item.rfi_id))
    dates = closing_dates(kb, closed_rfis, since, today)
    closed = sorted(
        (
            (entry, dates[entry.id], responses[entry.id])
            for entry in closed_rfis
            if entry.id in dates
        ),
        key=lambda pair: (pair[1], pair[0].id),
    )
    candidates = [*added, *(e for item in answered for e in item.responses)]
    candidates += [item.rfi for item in answered if item.rfi] + [item[0] for item in closed]
    shown = for_others(candidates, line, today)
    answered = [
        Answered(item.rfi, item.rfi_id, [e for e in item.responses if e.rel in shown])
        for item in answered
        if item.rfi is None or item.rfi.rel in shown
    ]
    return Digest(
        since=since,
        today=today,
        kb_name=kb.name,
        site_names={slug: _site_name(catalog, slug) for slug in sites},
        added=[entry for entry in added if entry.rel in shown],
        answered=[item for item in answered if item.responses],
        closed=[item for item in closed if item[0].rel in shown],
        line=line,
        unreadable=catalog.unreadable,
    )
