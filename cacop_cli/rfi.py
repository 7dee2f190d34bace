"""The RFI lifecycle: open, respond, close and list requests for information.

Answering never edits the RFI file: each response is a new file of its own in
`kb/rfis/<id>/responses/`, named `<site>-<yyyymmdd>-<4 random hex>` and
created exclusively, so two sites answering at the same moment never touch the
same file and a sync never conflicts. Whether an RFI is answered, and by how
many, is derived from those files. Only the requesting site edits the RFI file,
and closing it changes only the bytes of its `status` field.
"""

from __future__ import annotations

import datetime as dt
import errno
import itertools
import os
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .catalog import read_sites
from .config import KB
from .entries import (
    DEFAULT_ENTRY_BYTES,
    check_id,
    entry_path,
    render_entry,
    set_field,
    unwritable,
    write_atomic,
)
from .errors import CacopError, Refused, UsageError
from .listing import Listing, while_checking
from .models import MAX_TITLE, PRIORITIES, TOPICS, Entry, EntryDraft, Issue, iso_date, tlp_rank
from .ops import NewEntry, check_entry, entry_meta, locate, new_entry, read_by_id, resolve_id

DEFAULT_TOPIC = "crime-analysis"
_ID_ATTEMPTS = 20


# ---------------------------------------------------------------- dates


def parse_date(value: str, what: str) -> dt.date:
    """A YYYY-MM-DD date from the command line; UsageError (exit 2) otherwise."""
    date = iso_date(value)
    if date is None:
        raise UsageError(f"{what} {value!r} is not a date", hint="write dates as YYYY-MM-DD")
    return date


def entry_date(value: Any) -> dt.date | None:
    """A date field of an entry, or None when it is missing or not a real date."""
    return iso_date(value) if isinstance(value, str) and value == value.strip() else None


def last_touched(entry: Entry) -> dt.date | None:
    """When an entry was last written: `updated`, else `created`."""
    dates = [entry_date(entry.meta.get(name)) for name in ("created", "updated")]
    known = [date for date in dates if date is not None]
    return max(known) if known else None


# ---------------------------------------------------------------- bodies


def read_message_file(path: str, limits: dict[str, int] | None = None) -> str:
    """The text of --file PATH ('-' reads standard input), as UTF-8, within the entry limit."""
    max_bytes = (limits or {}).get("entry_bytes", DEFAULT_ENTRY_BYTES)
    try:
        if path == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"--file {path}: cannot be read: {exc.strerror}") from exc
    if len(data) > max_bytes:
        raise UsageError(
            f"--file {path} is larger than {max_bytes:,} bytes",
            hint="put large material in a work product's attachment and link it",
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--file {path} is not UTF-8 text; save it as UTF-8") from exc


def message_body(message: str, heading: str) -> str:
    """A one-line --message placed under the template's first heading."""
    return f"## {heading}\n\n{message.strip()}\n"


# ---------------------------------------------------------------- open


def check_recipients(kb: KB, to: list[str]) -> list[str]:
    """The sites an RFI goes to: registered slugs, or ['all'] (the default)."""
    chosen = list(dict.fromkeys(slug.strip() for slug in to if slug.strip()))
    if not chosen or "all" in chosen:
        return ["all"]
    known, _, _ = read_sites(kb)
    unknown = [slug for slug in chosen if known and slug not in known]
    if unknown:
        raise UsageError(
            f"{unknown[0]!r} is not a site in kb/sites.yaml",
            hint="sites: all, " + ", ".join(sorted(known)),
            field="to",
        )
    return chosen


def open_rfi(kb: KB, draft: EntryDraft, *, today: dt.date | None = None) -> NewEntry:
    """Write a new RFI from the template (or the draft's body) and check it against the KB."""
    today = today or dt.date.today()
    if draft.needed_by is None:
        raise UsageError("an RFI needs the date answers are needed by", field="needed_by")
    draft = replace(
        draft,
        topics=draft.topics or [DEFAULT_TOPIC],
        priority=draft.priority or "routine",
        tlp=draft.tlp or "green",
    )
    draft.check(today)
    draft.to = check_recipients(kb, draft.to)
    created = new_entry(kb, draft, today=today)
    created.issues = check_entry(kb, created.path)
    return created


# ---------------------------------------------------------------- respond


def read_rfi(kb: KB, rfi_id: str) -> Entry:
    """The RFI with that id (or a unique start of it, or its title); NotFound, or UsageError
    when the id names another type."""
    rfi_id = resolve_id(kb, rfi_id, kinds=("rfi",))
    entry = read_by_id(kb, rfi_id)
    if entry.type != "rfi":
        raise UsageError(
            f"{rfi_id} is a {entry.type or 'untyped'} entry, not an RFI",
            hint="`cacop rfi list` shows the RFIs and their ids",
        )
    return entry


def create_exclusive(path: Path, text: str) -> None:
    """Write a file that must not exist yet; FileExistsError if it does.

    The text goes to a private temporary file first, which is then hard-linked
    to its name: the link is atomic and fails if the name is taken, so nobody
    ever sees half a response and two writers never share a file. Where links
    are not supported the name is created with O_EXCL and written in place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        _write_new(temporary, text, flags)
        try:
            os.link(temporary, path)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            _write_new(path, text, flags)
    finally:
        temporary.unlink(missing_ok=True)


def _write_new(path: Path, text: str, flags: int) -> None:
    descriptor = os.open(path, flags, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def response_id(site: str, today: dt.date) -> str:
    """`<site>-<yyyymmdd>-<4 random hex>`: unique across sites answering on the same day."""
    return f"{site}-{today:%Y%m%d}-{secrets.token_hex(2)}"


@dataclass
class NewResponse(NewEntry):
    rfi: Entry | None = None


def respond(kb: KB, draft: EntryDraft, *, today: dt.date | None = None) -> NewResponse:
    """Answer the RFI `draft.rfi` with a new response file; the RFI file is never touched.

    What the draft leaves out comes from the RFI: its title ("Re: …"), TLP and topics."""
    today = today or dt.date.today()
    rfi = read_rfi(kb, draft.rfi or "")
    rfi_tlp = str(rfi.meta.get("tlp", "green"))
    rfi_topics = [topic for topic in rfi.meta.get("topics") or () if topic in TOPICS]
    draft = replace(
        draft,
        entry_type="response",
        title=(draft.title or f"Re: {rfi.title}").strip()[:MAX_TITLE],
        tlp=draft.tlp or rfi_tlp,
        topics=draft.topics or rfi_topics or [DEFAULT_TOPIC],
        rfi=rfi.id,
    )
    draft.check(today)
    if tlp_rank(draft.tlp or rfi_tlp) < tlp_rank(rfi_tlp):
        raise Refused(
            f"{draft.tlp} is less strict than the RFI's {rfi_tlp}; a response must be at least "
            "as strict as the question it answers",
            hint=f"leave the TLP out (the response takes {rfi_tlp}) or choose a stricter one",
            field="tlp",
        )
    body = draft.body or ""
    for _ in range(_ID_ATTEMPTS):
        candidate = check_id(response_id(kb.site, today))
        path = entry_path(kb.root, "response", candidate, rfi=rfi.id)
        if path.exists() or locate(kb, candidate) is not None:
            continue
        try:
            create_exclusive(
                path, render_entry(entry_meta(kb, draft, entry_id=candidate, today=today), body)
            )
        except FileExistsError:
            continue
        except OSError as exc:
            raise unwritable(path, exc) from exc
        return NewResponse(path, candidate, check_entry(kb, path), rfi=rfi)
    raise CacopError(  # pragma: no cover - 65,536 names a day per site
        f"could not find a free response id for {kb.site} today after {_ID_ATTEMPTS} tries"
    )


# ---------------------------------------------------------------- close


@dataclass
class Closed:
    path: Path
    rfi: Entry
    changed: bool  # False when it was already closed
    responses: int = 0


def close(kb: KB, rfi_id: str) -> Closed:
    """Mark an RFI closed. Only its own site may; only the `status` field's bytes change."""
    rfi = read_rfi(kb, rfi_id)
    owner = rfi.meta.get("site")
    if owner != kb.site:
        raise Refused(
            f"only the site that asked ({owner}) can close {rfi.id}; this clone is {kb.site}",
            hint=f"answer it with `cacop rfi respond {rfi.id} --message ...` instead",
        )
    responses = count_responses(kb, rfi.id)
    if rfi.meta.get("status") == "closed":
        return Closed(rfi.path, rfi, changed=False, responses=responses)
    original = rfi.path.read_bytes().decode("utf-8")
    write_atomic(rfi.path, set_field(original, "status", "closed"))
    return Closed(rfi.path, rfi, changed=True, responses=responses)


# ---------------------------------------------------------------- list


def count_responses(kb: KB, rfi_id: str) -> int:
    folder = kb.kb_dir / "rfis" / check_id(rfi_id) / "responses"
    if not folder.is_dir():
        return 0
    return sum(1 for path in folder.glob("*.md") if not path.name.startswith("."))


def derived_status(entry: Entry, responses: int) -> str:
    """open, answered or closed: an open RFI with responses is answered."""
    status = entry.meta.get("status")
    if status == "closed":
        return "closed"
    if responses or status == "answered":
        return "answered"
    return "open"


@dataclass
class RfiRow:
    """One RFI with what is derived from its response files and today's date."""

    entry: Entry
    status: str
    responses: int
    needed_by: dt.date | None
    days_left: int | None  # negative once past needed_by
    responders: list[str] = field(default_factory=list)  # sites, in time order

    @property
    def overdue(self) -> bool:
        """Past its date with no answer yet: an answered or closed RFI is never overdue."""
        return self.status == "open" and self.days_left is not None and self.days_left < 0

    def as_dict(self) -> dict[str, Any]:
        meta = self.entry.meta
        return {
            "id": self.entry.id,
            "title": self.entry.title,
            "site": meta.get("site"),
            "priority": meta.get("priority"),
            "status": self.status,
            "needed_by": meta.get("needed_by"),
            "days_left": self.days_left,
            "overdue": self.overdue,
            "responses": self.responses,
            "responders": self.responders,
            "to": meta.get("to"),
            "created": meta.get("created"),
            "tlp": meta.get("tlp"),
            "path": self.entry.rel,
        }


@dataclass
class RfiListing:
    today: dt.date
    site: str
    rows: list[RfiRow]
    unreadable: list[Issue] = field(default_factory=list)


def rfi_rows(
    entries: list[Entry], today: dt.date, answers: Iterable[tuple[Any, str, str]] = ()
) -> list[RfiRow]:
    """Every RFI among `entries`, with its responses counted from the response entries
    among them and from `answers`, responses given as (rfi, created, site)."""
    responders: dict[str, list[tuple[str, str]]] = {}
    given = (
        (entry.meta.get("rfi"), str(entry.meta.get("created", "")), str(entry.meta.get("site", "")))
        for entry in entries
        if entry.type == "response"
    )
    for rfi_id, created, site in itertools.chain(answers, given):
        if isinstance(rfi_id, str):
            responders.setdefault(rfi_id, []).append((created, site))
    rows = []
    dates: dict[str, dt.date | None] = {}  # needed_by texts repeat: each is parsed once
    for entry in entries:
        if entry.type != "rfi":
            continue
        answered = responders.get(entry.id, ())
        if answered:
            answered.sort()
        needed = entry.meta.get("needed_by")
        if isinstance(needed, str):
            due = dates[needed] if needed in dates else dates.setdefault(needed, entry_date(needed))
        else:
            due = None
        rows.append(
            RfiRow(
                entry=entry,
                status=derived_status(entry, len(answered)),
                responses=len(answered),
                needed_by=due,
                days_left=(due - today).days if due else None,
                responders=list(dict.fromkeys(site for _, site in answered)) if answered else [],
            )
        )
    return rows


def listed_rfis(
    listing: Listing, inside: str = ""
) -> tuple[list[Entry], list[tuple[Any, str, str]]]:
    """The RFIs of `listing` whose file is under `inside`, in its order, and its responses
    there as (rfi, created, site): what rfi_rows reads, with an entry made for RFIs only."""
    from .listing import ABSENT

    columns = listing.columns
    kinds, rels = columns["type"], columns["rel"]
    inquiries = [
        listing.entry(at)
        for at, kind in enumerate(kinds)
        if kind == "rfi" and rels[at].startswith(inside)
    ]
    created, sites, asked = columns["created"], columns["site"], columns["rfi"]
    answers = [
        (
            asked[at],
            "" if created[at] is ABSENT else str(created[at]),
            "" if sites[at] is ABSENT else str(sites[at]),
        )
        for at, kind in enumerate(kinds)
        if kind == "response" and rels[at].startswith(inside)
    ]
    return inquiries, answers


def _sort_key(row: RfiRow) -> tuple:
    return (
        row.status == "closed",
        row.needed_by or dt.date.max,
        -PRIORITIES.index(row.entry.meta["priority"])
        if row.entry.meta.get("priority") in PRIORITIES
        else 0,
        row.entry.id,
    )


def list_rfis(
    kb: KB,
    *,
    open_only: bool = False,
    overdue: bool = False,
    to_me: bool = False,
    mine: bool = False,
    today: dt.date | None = None,
) -> RfiListing:
    """The RFIs, soonest due first (closed ones last), filtered as asked."""
    today = today or dt.date.today()

    def rows_of(listing: Listing) -> tuple[list[Issue], list[RfiRow]]:
        unreadable = [issue for issue in listing.unreadable if issue.path.startswith("kb/rfis/")]
        inquiries, answers = listed_rfis(listing, inside="kb/rfis/")
        return unreadable, rfi_rows(inquiries, today, answers)

    # the index's listing part: no entry file is opened
    unreadable, rows = while_checking(kb, rows_of)
    if open_only:
        rows = [row for row in rows if row.status != "closed"]
    if overdue:
        rows = [row for row in rows if row.overdue]
    if to_me:
        rows = [
            row
            for row in rows
            if row.entry.meta.get("site") != kb.site
            and any(slug in ("all", kb.site) for slug in row.entry.meta.get("to") or ())
        ]
    if mine:
        rows = [row for row in rows if row.entry.meta.get("site") == kb.site]
    rows.sort(key=_sort_key)
    return RfiListing(today, kb.site, rows, unreadable)
