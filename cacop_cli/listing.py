"""The listing: every entry as `list`, `rfi list`, `status`, `gaps`, `experts` and
`digest` read it, in columns kept with the index (index/columns.py), without an Entry each.

`load_listing(kb)` reads it after the same freshness check a search makes; when the index
cannot be brought up to date or read, it is made from the entries catalog.load_catalog
reads from the files. `while_checking` runs a command's work on it while the early
freshness scan still runs, as a search does (docs/architecture.md, "The catalog").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from .catalog import _uncollected, load_catalog, read_sites
from .config import KB
from .entries import iter_entry_files, read_entry
from .errors import EntryError
from .models import Entry, Issue, text_digest

T = TypeVar("T")

# columns.ABSENT (Ellipsis: marshal keeps it, YAML never makes it), named here so reading a
# value does not import the index package.
ABSENT = ...


@dataclass
class Listing:
    """Every entry as `list`, `rfi list` and `status` read it, without an Entry each (50,000
    of them cost ~0.5 s): `columns` maps each of columns.LISTING_COLUMNS to a list, an entry's
    values at the same position in each, in the catalog's order, then entries pending on a
    submit branch (`add_pending`); `newest` holds the positions as `list` orders them. A
    listed meta field an entry lacks is columns.ABSENT in its column."""

    kb: KB
    columns: dict[str, list[Any]]
    newest: list[int]
    unreadable: list[Issue] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    pending: list[str | None] = field(default_factory=list)  # each entry's submit branch
    # columns.OTHERS_COLUMNS, each a list at the catalog's positions (not those of entries
    # added by add_pending), when asked of load_listing: what outputs for others read
    others: dict[str, list[Any]] | None = None
    checked: Any = None  # as Catalog.checked: the freshness check it was read after

    def __len__(self) -> int:
        return len(self.pending)

    @cached_property
    def sites(self) -> dict[str, dict]:
        """kb/sites.yaml's sites (as Catalog.sites): read, or kept checked, on first use."""
        return read_sites(self.kb)[0]

    @cached_property
    def listed(self) -> list[tuple[str, list[Any]]]:
        """(name, column) of each meta field kept as it is (columns.LISTED)."""
        from .index.columns import LISTED

        return [(name, self.columns[name]) for name in LISTED]

    def value(self, name: str, at: int) -> Any:
        """The meta field `name` of the entry at `at`, as `entry.meta.get(name)` gives it."""
        value = self.columns[name][at]
        return None if value is ABSENT else value

    def entry(self, at: int) -> ListedEntry:
        """The entry at `at` as an Entry of its listed fields (meta holds those only)."""
        columns = self.columns
        made = ListedEntry.__new__(ListedEntry)
        made.__dict__.update(
            rel=columns["rel"][at], pending=self.pending[at], _kb=self.kb, _path=None,
            _id=columns["id"][at], _type=columns["type"][at], _title=columns["title"][at],
            meta={
                name: value
                for name, column in self.listed
                if (value := column[at]) is not ABSENT
            },
        )  # fmt: skip
        return made

    def entry_for_others(self, at: int, shown: tuple[str, ...] = ()) -> ListedEntry:
        """The entry at `at` with what outputs for others read too: its meta holds the
        listed fields, its pii_override and the `shown` ones of authors and summary (only
        those are decoded: at 50,000 entries the summaries are ~8 MB); its scan_key finds
        its text's kept findings (publish._to_scan). A text whose findings are not kept is
        the file's own (ListedEntry.from_file). Needs `others` (load_listing(kb,
        others=True))."""
        if self.others is None:
            raise ValueError("this listing was read without the part for outputs for others")
        made = self.entry(at)
        made.__dict__["scan_key"] = self.others["scan_key"][at]
        for name in ("pii_override", *shown):
            value = self.others[name][at]
            if value is not ABSENT:
                made.meta[name] = value
        return made

    def add_pending(self, entries: list[Entry]) -> None:
        """Add entries read from submit branches (each with its branch in `pending`), in
        their places in `newest`. Their ids are none of the catalog's, so no two keys tie."""
        from .index.columns import LISTING_COLUMNS, listing_columns

        for entry in entries:
            (*added,), _ = listing_columns([(entry.rel, entry.meta)], entry.pending)
            for name, column in zip(LISTING_COLUMNS, added, strict=True):
                self.columns[name].append(column[0])
            self.pending.append(entry.pending)
            at = len(self.pending) - 1
            key = self._key(at)
            low, high = 0, len(self.newest)
            while low < high:  # newest is in descending order of _key
                middle = (low + high) // 2
                if self._key(self.newest[middle]) > key:
                    low = middle + 1
                else:
                    high = middle
            self.newest.insert(low, at)

    def _key(self, at: int) -> tuple[str, str]:
        """What `list` sorts by: created (as text), then the id."""
        raw = self.columns["created"][at]
        return (str("" if raw is ABSENT else raw), self.columns["id"][at])


class ListedEntry(Entry):
    """An entry of a Listing: its meta holds the listed fields only (columns.LISTED), and it
    has no body or lines; for the listing commands and their views."""

    _kb: KB

    @property  # type: ignore[override]
    def id(self) -> str:
        return self.__dict__["_id"]

    @property  # type: ignore[override]
    def type(self) -> str:
        return self.__dict__["_type"]

    @property  # type: ignore[override]
    def title(self) -> str:
        return self.__dict__["_title"]

    @property  # type: ignore[override]
    def path(self) -> Path:
        held = self.__dict__.get("_path")
        if held is None:
            held = self.__dict__["_path"] = self._kb.root / self.rel
        return held

    @property  # type: ignore[override]
    def body(self) -> str:
        """Read from the entry's file on first use (a Listing keeps no bodies)."""
        return self.from_file().body

    def from_file(self) -> Entry:
        """The entry as its file holds it (read once): all its fields and its body. The
        gate scans this when no findings are kept for the entry's text, never the few
        fields a Listing keeps."""
        held = self.__dict__.get("_read")
        if held is None:
            try:
                held = read_entry(self.path, self._kb.root, self._kb.limits)
            except EntryError:
                held = Entry(self.path, self.rel, {"title": self.title}, "")
            self.__dict__["_read"] = held
        return held


def load_listing(kb: KB, others: bool = False, checked: Any = None) -> Listing:
    """Every entry's listed fields (and with `others`, the part for outputs for others):
    from the index after the same freshness check load_catalog makes (or `checked`, the
    one this process just made); when the index cannot be brought up to date or read, made
    from the entries load_catalog reads from the files."""
    listing = _listing_from_index(kb, others, checked)
    return listing if listing is not None else _from_files(kb)


def _from_files(kb: KB) -> Listing:
    """The listing made from the entries read from the files (the index just failed)."""
    catalog = load_catalog(kb, list(iter_entry_files(kb.root)))  # not the index: it failed
    return listing_of(kb, catalog.entries, catalog.unreadable, catalog.notices)


def listing_of(
    kb: KB, entries: list[Entry], unreadable: list[Issue] | None = None,
    notices: list[str] | None = None,
) -> Listing:  # fmt: skip
    """The Listing of `entries` (the part for outputs for others included)."""
    from .index.columns import LISTING_COLUMNS, OTHERS_COLUMNS, listing_columns, others_columns

    columns, newest = listing_columns((entry.rel, entry.meta) for entry in entries)
    others = others_columns(
        (entry.meta, getattr(entry, "body_sha256", None) or text_digest(entry.body))
        for entry in entries
    )
    return Listing(
        kb, dict(zip(LISTING_COLUMNS, columns, strict=True)), newest, list(unreadable or []),
        list(notices or []), [None] * len(newest), dict(zip(OTHERS_COLUMNS, others, strict=True)),
    )  # fmt: skip


def while_checking(kb: KB, compute: Callable[[Listing], T], others: bool = False) -> T:
    """compute(load_listing(kb, others)), started on the live index's listing while the
    early freshness scan still runs in its own process (a large KB) instead of after it, as
    a search is (search._while_scanning): the result stands only if the check then finds
    that same index version up to date (no file changed, no other writer), else `compute`
    runs again on the listing the check gives. `compute` only reads (the KB, the index, git):
    it may run twice, and its result is dropped."""
    guess = _while_scanning(kb, compute, others)
    if guess is None:
        return compute(load_listing(kb, others))
    checked = _refreshed(kb)
    if checked is None:  # the check failed: the files are read, as load_listing does then
        return compute(_from_files(kb))
    if checked.unchanged == guess[0]:
        return guess[1]  # the listing it was made of is the one the check keeps
    return compute(load_listing(kb, others, checked))


def _while_scanning(
    kb: KB, compute: Callable[[Listing], T], others: bool
) -> tuple[tuple[str, int], T] | None:
    """(index version, compute(its listing)) if the early scan of this KB still runs; None
    if it does not or anything goes wrong (the check and `compute` then run as usual, and
    meet it again)."""
    from . import scan, search

    if not scan.running(kb.root):
        return None
    try:
        read = _read_listing(kb, others)
        if read is None:
            return None
        version, listing = read
        # As if checked fresh, so that a search in `compute` stands on this version too
        # (search._on_checked) and leaves the early scan to the check below: a guess, kept
        # only if that check finds this version fresh.
        listing.checked = search.RefreshStats(unchanged=version)
        return version, compute(listing)
    except Exception:  # noqa: BLE001 - a guess: the usual path reports what is wrong
        return None


def _read_listing(kb: KB, others: bool) -> tuple[tuple[str, int], Listing] | None:
    """(the index version, its Listing, with the part for outputs for others if `others`)
    of the live index as it is, or None when it keeps no listing. read_record's Untrusted,
    Changed and OSError pass through."""
    from .index import columns as parts
    from .index import read_lock
    from .index.record import read_record

    with read_lock(kb.root), _uncollected():  # the record and both parts of one update
        version = read_record(kb.root).version
        listed = parts.load_listing(kb.root)
        kept = parts.load_others(kb.root, len(listed[1])) if others and listed else None
    if listed is None or (others and kept is None):
        return None
    columns, newest, unreadable = listed
    listing = Listing(
        kb, columns, newest,
        [Issue("error", code, rel, line, message) for rel, code, line, message in unreadable],
        [], [None] * len(newest), kept,
    )  # fmt: skip
    return version, listing


def _refreshed(kb: KB) -> Any:
    """The freshness check (search.refresh), or None if it failed (load_listing then meets
    the failure again)."""
    from . import progress, search

    try:
        return search.refresh(kb, progress.current.get())
    except Exception:  # noqa: BLE001 - read-only, busy, untrusted or damaged
        return None


def _listing_from_index(kb: KB, others: bool = False, checked: Any = None) -> Listing | None:
    from . import progress, search
    from .index.record import Changed

    advance = progress.current.get()
    try:
        stats = checked if checked is not None else search.refresh(kb, advance)
        try:
            read = _read_listing(kb, others)
        except Changed as changed:  # never decoded: made again
            stats = search.rebuild(kb, advance, reason=str(changed))
            read = _read_listing(kb, others)
    except Exception:  # noqa: BLE001 - read-only, busy, untrusted or damaged: read the files
        return None
    if read is None:
        return None
    listing = read[1]
    listing.notices, listing.checked = stats.notices, stats
    return listing
