"""`cacop digest`: what was added, answered and closed in a window, as plain data for the
newsletter (render/community.py writes it as Markdown). Read from the index's listing and
its part for outputs for others, in one pass; git's history tells when an RFI was closed."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from . import gitrepo
from .community import site_name
from .config import KB
from .errors import UsageError
from .listing import ABSENT, Listing, while_checking
from .models import Entry, Issue
from .publish import Line, choose_line, for_others
from .rfi import entry_date

DIGEST_DAYS = 7


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
    return while_checking(  # one pass over its columns, no card decoded
        kb, lambda listing: _digest(kb, listing, since, today, replace(line)), others=True
    )


def _digest(kb: KB, listing: Listing, since: dt.date, today: dt.date, line: Line) -> Digest:
    """digest() from `listing`."""
    windowed: dict[str, bool] = {}  # `created` -> in the window (few dates are distinct)

    def in_window(created: Any) -> bool:
        if not isinstance(created, str):
            return False
        if created not in windowed:
            when = entry_date(created)
            windowed[created] = when is not None and since <= when <= today
        return windowed[created]

    order = {"strategy": 0, "work-product": 1, "rfi": 2}

    def made(at: int) -> Entry:  # what the digest prints of each: authors and summary too
        return listing.entry_for_others(at, ("authors", "summary"))

    added: list[Entry] = []
    answers: dict[str, list[Entry]] = {}
    closed_rfis: list[Entry] = []
    responses: Counter[Any] = Counter()  # per RFI
    sites = set(listing.sites)
    named = ("type", "site", "created", "rfi", "status")
    for at, (kind, site, created, asked, status) in enumerate(
        zip(*(listing.columns[name] for name in named), strict=True)
    ):
        sites.add(str(None if site is ABSENT else site))
        if kind == "response":
            asked = None if asked is ABSENT else asked
            responses[asked] += 1
            if in_window(created):
                answers.setdefault(str(asked), []).append(made(at))
        elif kind in order:
            if in_window(created):
                added.append(made(at))
            if kind == "rfi" and status == "closed":
                closed_rfis.append(made(at))
    added.sort(key=lambda e: (order[e.type], str(e.meta.get("created")), e.id))
    ids = listing.columns["id"]
    known = {ids[at]: at for at in range(len(ids))} if answers else {}
    answered = [
        Answered(
            _rfi_or_none(made(known[rfi_id]) if rfi_id in known else None),
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
        site_names={slug: site_name(listing, slug) for slug in sites},
        added=[entry for entry in added if entry.rel in shown],
        answered=[item for item in answered if item.responses],
        closed=[item for item in closed if item[0].rel in shown],
        line=line,
        unreadable=listing.unreadable,
    )
