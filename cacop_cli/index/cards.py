"""The catalog kept with the index: each entry file's card, so reading the KB opens no file.

When an entry is indexed, its card is kept too: what `entries.read_entry` gives (fields,
their lines and YAML source, where the body starts) or, for a file that cannot be read,
the error's code, line and message. Cards live in the generation folder (CARDS), bodies
apart (BODIES: 66 MB at 10,000 entries, loaded only by a command that reads one), both
written with the generation and rewritten by each update, under the swap lock.

Both are marshal data, which is for trusted bytes only: the signed record holds their
SHA-256 (record.LOADED_HASHED), and `load` checks it over the very bytes it decodes, so a
file changed on disk, even with its modification time restored, is never decoded. The
record's own check compares only their inode, size and time (a search need not hash them).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..models import ENTRY_FOLDERS
from .record import LOADED_HASHED, STATE_DIR, read_record

CARDS, BODIES = LOADED_HASHED
ENTRY, UNREADABLE = "entry", "unreadable"
# A card: (ENTRY, meta, lines, raw_values, body_line, body_sha256) or
# (UNREADABLE, code, line, message). body_sha256 (hex) lets the outputs for others find the
# findings kept for an entry's text (share/scancache.py) without loading the bodies.
Card = tuple[Any, ...]


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
    return (ENTRY, meta, _shared(entry.lines), raw_values, entry.body_line, body_sha256)


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
        """Write both files in `folder`, or remove them if a card is missing (the catalog is
        then read from the files)."""
        cards = dict(sorted(self.cards.items(), key=lambda item: _in_walk_order(item[0])))
        for name, value in ((CARDS, cards), (BODIES, self.bodies)):
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


def previous(root: Path, generation: str, files: dict[str, list[Any]]) -> Cards:
    """The cards of the live generation, to update: an incomplete set when it keeps none;
    Changed (the caller rebuilds) when its files are not those the record names."""
    if CARDS not in files or BODIES not in files:
        held = Cards()
        held.complete = False
        return held
    folder = root / STATE_DIR / generation
    cards = marshal.loads(_checked(folder, CARDS, files))
    bodies = marshal.loads(_checked(folder, BODIES, files))
    return Cards(cards, bodies)


def load(root: Path) -> tuple[dict[str, Card], Callable[[], dict[str, str] | None]] | None:
    """(cards by path, a function giving the bodies by path) of the live generation, or None
    when it keeps none. Call with the read lock held; read_record's Untrusted and OSError
    pass through. The bodies file is opened now and read on first call (a rebuild that
    removes the folder meanwhile does not take it away); that call gives None if the file
    is not the one the record names (it is not decoded; the next update rebuilds)."""
    record = read_record(root)
    if CARDS not in record.files or BODIES not in record.files:
        return None
    folder = root / STATE_DIR / record.generation
    cards = marshal.loads(_checked(folder, CARDS, record.files))
    handle = open(folder / BODIES, "rb")  # noqa: SIM115 - kept open until the bodies are read
    if os.fstat(handle.fileno()).st_ino != record.files[BODIES][0]:
        handle.close()
        raise Changed(f"its catalog ({BODIES}) was changed after cacop wrote it")
    held: dict[str, dict[str, str] | None] = {}

    def bodies() -> dict[str, str] | None:
        if "bodies" not in held:
            with handle:
                try:
                    held["bodies"] = marshal.loads(_checked_bytes(handle, BODIES, record.files))
                except (OSError, ValueError, EOFError, TypeError):
                    held["bodies"] = None
        return held["bodies"]

    return cards, bodies
