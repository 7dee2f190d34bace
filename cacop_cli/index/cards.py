"""The catalog kept with the index: each entry file's card, so reading the KB opens no file.

When an entry is indexed, its card is kept too: what `entries.read_entry` gives (fields,
their lines and YAML source, where the body starts) or, for a file that cannot be read,
the error's code, line and message. Cards live in the generation folder in two parts:
CARDS, the lean part every catalog reader decodes (the fields; 4.7 MB at 10,000 entries),
and FULL_CARDS, the rest (lines, YAML source: what only validate's cross-entry checks
cite), decoded on first use of one of its fields. Bodies are apart too (BODIES: 66 MB at
10,000 entries, loaded only by a command that reads one). All three are written with the
generation and rewritten by each update, under the swap lock.

They are marshal data, which is for trusted bytes only: the signed record holds their
SHA-256 (record.LOADED_HASHED), and each is checked over the very bytes decoded, so a
file changed on disk, even with its modification time restored, is never decoded. The
record's own check compares only their inode, size and time (a search need not hash them).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from ..models import ENTRY_FOLDERS
from .record import LOADED_HASHED, STATE_DIR, read_record

CARDS, FULL_CARDS, BODIES, LISTING = LOADED_HASHED
ENTRY, UNREADABLE = "entry", "unreadable"
# A card: (ENTRY, {field: value}) or (UNREADABLE, code, line, message).
# body_sha256 (hex) lets the outputs for others find the findings kept for an entry's
# text (share/scancache.py) without loading the bodies.
Card = tuple[Any, ...]

# Which part of the card keeps each field of a readable entry (an Entry attribute of that
# name, for the catalog's entries). LEAN is decoded by every command that reads the
# catalog (list, rfi list, status, show's related entries, gaps, experts...), FULL only
# when one of its fields is first read. Adding a field is its name in one of these two
# (and its value in entry_card); the lean file names both parts' fields (the full file its
# own), so an index kept with other ones is rebuilt.
LEAN = ("meta", "body_line", "body_sha256")
FULL = ("lines", "raw_values")


def _layout() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the lean file is checked against: both parts' fields, read when called."""
    return (LEAN, FULL)


class Changed(ValueError):
    """A catalog file is not the one the record names: it is never decoded; the index is
    rebuilt."""


class Unreadable(str):
    """Why an entry file cannot be read, as the record keeps it ("line: message"), with the
    EntryError's code, for the catalog's issue."""

    code: str
    line: int
    message: str

    def __new__(cls, code: str, line: int, message: str) -> Unreadable:
        made = super().__new__(cls, f"{line}: {message}")
        made.code, made.line, made.message = code, line, message
        return made


SHARED_UP_TO = 64  # characters: shorter texts (field names, sites, topics) are interned


def _shared(value: Any) -> Any:
    """`value` with its short texts interned: marshal then writes each once and refers to
    it after (a third less to load, and one object in memory for 10,000 'green's)."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= SHARED_UP_TO else value
    if isinstance(value, dict):
        return {_shared(key): _shared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shared(item) for item in value]
    return value


def entry_card(entry: Any) -> Card:
    """The card of a readable entry. A field's YAML source, when it is the value's own text
    (most are), is that same object: kept once."""
    meta = _shared(entry.meta)
    raw_values = {
        _shared(name): meta[name] if meta.get(name) == source else _shared(source)
        for name, source in entry.raw_values.items()
    }
    body_sha256 = hashlib.sha256(entry.body.encode("utf-8", "surrogatepass")).hexdigest()
    fields = {"meta": meta, "lines": _shared(entry.lines), "raw_values": raw_values,
              "body_line": entry.body_line, "body_sha256": body_sha256}  # fmt: skip
    return (ENTRY, fields)


CARD_KEY = "__card__"  # in a document: its card and body, taken out before Whoosh sees it


def card_of(document: dict[str, Any] | str) -> tuple[Card, str] | None:
    """(card, body) of a document `index.document_for` made (taken out of it), else None."""
    if isinstance(document, Unreadable):
        return (UNREADABLE, document.code, document.line, document.message), ""
    if isinstance(document, dict):
        return document.pop(CARD_KEY, None)
    return None


class Cards:
    """Cards and bodies by path, gathered while documents are made; written as a whole."""

    def __init__(self, cards: dict[str, Card] | None = None, bodies: dict[str, str] | None = None):
        self.cards = cards if cards is not None else {}
        self.bodies = bodies if bodies is not None else {}
        self.complete = True  # False once a document came without its card

    def add(self, path: str, document: dict[str, Any] | str) -> None:
        found = card_of(document)
        if found is None:
            self.complete = False
            return
        self.cards[path], body = found
        if body:
            self.bodies[path] = body
        else:
            self.bodies.pop(path, None)

    def remove(self, path: str) -> None:
        self.cards.pop(path, None)
        self.bodies.pop(path, None)

    def write(self, folder: Path) -> None:
        """Write the four files in `folder`, or remove them if a card is missing (the
        catalog is then read from the files)."""
        lean: dict[str, Card] = {}
        full: dict[str, tuple[Any, ...]] = {}
        for rel, card in sorted(self.cards.items(), key=lambda item: _in_walk_order(item[0])):
            if card[0] == ENTRY:
                lean[rel] = (ENTRY, *(card[1][name] for name in LEAN))
                full[rel] = tuple(card[1][name] for name in FULL)
            else:
                lean[rel] = card
        listed = listing(list(lean.items()))
        parts = ((CARDS, (_layout(), lean)), (FULL_CARDS, (FULL, full)), (BODIES, self.bodies),
                 (LISTING, (LISTING_COLUMNS, *listed)))  # fmt: skip
        for name, value in parts:
            if self.complete:
                (folder / name).write_bytes(marshal.dumps(value))
            else:
                (folder / name).unlink(missing_ok=True)


def _in_walk_order(rel: str) -> tuple[Any, ...]:
    """The order entries.iter_entry_files gives: by folder, a folder's files before those
    of its sub-folders, names sorted (the catalog lists entries so, as reading them did)."""
    _, folder, *parts = rel.split("/")
    return (ENTRY_FOLDERS.index(folder), len(parts) > 1, parts)


def _checked(folder: Path, name: str, files: dict[str, list[Any]]) -> bytes:
    """The file's bytes if their SHA-256 is the one the record holds; else ValueError."""
    with open(folder / name, "rb") as handle:
        return _checked_bytes(handle, name, files)


def _checked_bytes(handle: Any, name: str, files: dict[str, list[Any]]) -> bytes:
    data = handle.read()
    expected = files[name][3] if len(files.get(name, ())) > 3 else None
    if expected is None or hashlib.sha256(data).hexdigest() != expected:
        raise Changed(f"its catalog ({name}) was changed after cacop wrote it")
    return data


def _fields(name: str, data: bytes, names: tuple[Any, ...]) -> dict[str, Any]:
    """A cards part decoded: its cards by path, if it keeps the fields `names` (else Changed:
    it was written by a cacop that kept other ones)."""
    decoded = marshal.loads(data)
    if not (isinstance(decoded, tuple) and len(decoded) == 2 and tuple(decoded[0]) == names):
        raise Changed(f"its catalog ({name}) keeps other fields than this cacop's")
    return decoded[1]


def previous(root: Path, generation: str, files: dict[str, list[Any]]) -> Cards:
    """The cards of the live generation, to update: an incomplete set when it keeps none;
    Changed (the caller rebuilds) when its files are not those the record names."""
    if any(name not in files for name in LOADED_HASHED):
        held = Cards()
        held.complete = False
        return held
    folder = root / STATE_DIR / generation
    lean = _fields(CARDS, _checked(folder, CARDS, files), _layout())
    full = _fields(FULL_CARDS, _checked(folder, FULL_CARDS, files), FULL)
    bodies = marshal.loads(_checked(folder, BODIES, files))
    cards = {
        rel: (ENTRY, dict(zip((*LEAN, *FULL), (*card[1:], *full[rel]), strict=True)))
        if card[0] == ENTRY
        else card
        for rel, card in lean.items()
    }
    return Cards(cards, bodies)


Later = Callable[[], Any]


def load(root: Path) -> tuple[dict[str, Card], Later, Later] | None:
    """(lean cards by path, a function giving the full parts by path, a function giving the
    bodies by path) of the live generation, or None when it keeps none. A lean card is
    (ENTRY, *the LEAN fields' values) or (UNREADABLE, code, line, message); a full part,
    the FULL fields' values. Call with the read lock held; read_record's Untrusted and
    OSError pass through. The other two files are opened now and read on first call (a
    rebuild that removes the folder meanwhile does not take them away); that call gives
    None if the file is not the one the record names (it is not decoded; the next update
    rebuilds)."""
    record = read_record(root)
    if any(name not in record.files for name in LOADED_HASHED):
        return None
    folder = root / STATE_DIR / record.generation
    cards = _fields(CARDS, _checked(folder, CARDS, record.files), _layout())
    full = _later(folder, FULL_CARDS, record.files, lambda data: _fields(FULL_CARDS, data, FULL))
    return cards, full, _later(folder, BODIES, record.files, marshal.loads)


def _later(folder: Path, name: str, files: dict[str, list[Any]], decode: Callable) -> Later:
    """A function giving the file's decoded content, read on its first call (None if it is
    not the file the record names); the file is opened now."""
    handle = open(folder / name, "rb")  # noqa: SIM115 - kept open until it is read
    if os.fstat(handle.fileno()).st_ino != files[name][0]:
        handle.close()
        raise Changed(f"its catalog ({name}) was changed after cacop wrote it")
    held: dict[str, Any] = {}

    def content() -> Any:
        if "content" not in held:
            with handle:
                try:
                    held["content"] = decode(_checked_bytes(handle, name, files))
                except (OSError, ValueError, EOFError, TypeError):
                    held["content"] = None
        return held["content"]

    return content


# ---------------------------------------------------------------- the listing part
#
# What `list`, `rfi list` and `status` read of every entry, kept apart (LISTING) so they
# decode neither the cards' meta dicts (230 ms at 50,000 entries) nor make an Entry each:
# one column (a list) per field, an entry's values at the same position in each, in the
# catalog's order; the positions as `list` orders them (newest first); and the unreadable
# files. A column of LISTED holds the meta field's value as it is, ABSENT where the entry
# has none; "line" is the entry's line in `list`'s plain output, made already.

LISTED = ("site", "created", "updated", "topics", "tlp", "status", "priority", "needed_by",
          "to", "rfi")  # fmt: skip
LISTING_COLUMNS = ("rel", "id", "type", "title", "line", *LISTED)
ABSENT = ...  # a listed field the entry does not have: marshal keeps it, YAML never makes it
Listed = tuple[list[list[Any]], list[int], list[tuple[str, str, int, str]]]


def listing(cards: Any) -> Listed:
    """(columns in LISTING_COLUMNS' order, positions newest first, unreadable files as (rel,
    code, line, message)) of lean cards `cards` ((rel, card) pairs, in the catalog's order)."""
    entries = ((rel, card[1]) for rel, card in cards if card[0] == ENTRY)
    columns, newest = listing_columns(entries)
    unreadable = [(rel, *card[1:]) for rel, card in cards if card[0] == UNREADABLE]
    return columns, newest, unreadable


def listing_columns(entries: Any, pending: str | None = None) -> tuple[list[list[Any]], list[int]]:
    """The columns of `entries` ((rel, meta) pairs), and their positions newest first (as
    `list` sorts: created, then id, descending; entries equal in both keep their order).
    Values of LISTED are the meta's own, lists of texts shared when equal (one object in
    memory, written once), `pending` the submit branch they are read from (in the line)."""
    from ..models import list_line

    columns: list[list[Any]] = [[] for _ in LISTING_COLUMNS]
    rels, ids, kinds, titles, lines, *values = columns
    shared: dict[tuple[str, ...], list[str]] = {}
    for rel, meta in entries:
        entry_id = meta.get("id")
        if not isinstance(entry_id, str):
            entry_id = PurePosixPath(rel).stem  # as Entry.id: its file's name
        kind, title = str(meta.get("type", "")), str(meta.get("title", ""))
        shown = f"{title} (pending: {pending})" if pending else title
        rels.append(rel)
        ids.append(entry_id)
        kinds.append(kind)
        titles.append(title)
        lines.append(list_line(meta.get("created", ""), kind, meta.get("site", ""), shown,
                               entry_id, meta.get("tlp")))  # fmt: skip
        for name, column in zip(LISTED, values, strict=True):
            value = meta.get(name, ABSENT)
            if value.__class__ is list and all(item.__class__ is str for item in value):
                value = shared.setdefault(tuple(value), value)
            column.append(value)
    created = values[LISTED.index("created")]
    keys = [(str("" if value is ABSENT else value), entry_id)
            for value, entry_id in zip(created, ids, strict=True)]  # fmt: skip
    newest = sorted(range(len(ids)), key=keys.__getitem__, reverse=True)
    return columns, newest


def load_listing(root: Path) -> Listed | None:
    """The listing part of the live generation, or None when it keeps none. Call with the
    read lock held; read_record's Untrusted and OSError pass through, Changed when the file
    is not the one the record names or keeps other columns (never decoded: rebuilt)."""
    record = read_record(root)
    if LISTING not in record.files:
        return None
    data = _checked(root / STATE_DIR / record.generation, LISTING, record.files)
    decoded = marshal.loads(data)
    if not (isinstance(decoded, tuple) and len(decoded) == 4 and decoded[0] == LISTING_COLUMNS):
        raise Changed(f"its catalog ({LISTING}) keeps other fields than this cacop's")
    return decoded[1], decoded[2], decoded[3]
