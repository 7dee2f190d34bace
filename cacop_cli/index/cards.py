"""The catalog kept with the index: each entry file's card, so reading the KB opens no file.

When an entry is indexed, its card is kept too: what `entries.read_entry` gives (fields,
their lines and YAML source, where the body starts) or, for a file that cannot be read,
the error's code, line and message. Cards live in the generation folder in two parts:
CARDS, the lean part every catalog reader decodes (the fields; 4.7 MB at 10,000 entries),
and FULL_CARDS, the rest (lines, YAML source: what only validate's cross-entry checks
cite), decoded on first use of one of its fields. Both are written with the generation and
rewritten by each update, under the swap lock. Bodies are apart (66 MB at 10,000 entries),
in shards by a hash of the path (`shard_of`; about SHARD_BODIES each, a power of two of
them chosen by the rebuild): an update loads and rewrites only the shards its files' bodies
live in, and a command that reads a body decodes only that body's shard. A third part,
LISTING, keeps in columns what `list`, `rfi list` and `status` read of every entry (see
`listing`), so they decode neither card part.

They are marshal data, which is for trusted bytes only: the signed record holds their
SHA-256 (record.hashed_by_reader), and each is checked over the very bytes decoded, so a
file changed on disk, even with its modification time restored, is never decoded. The
record's own check compares only their inode, size and time (a search need not hash them).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..entries import walk_order
from ..models import text_digest
from .columns import (
    LISTING_COLUMNS,
    OTHERS_COLUMNS,
    columns_part,
    listing_columns,
    others_columns,
    same_values,
    updated,
)
from .record import BODIES_PREFIX, LOADED_HASHED, STATE_DIR, Changed, read_record

CARDS, FULL_CARDS, LISTING, OTHERS = LOADED_HASHED
SHARD_BODIES = 200  # about this many bodies a shard (1.3 MB at 10,000 entries)
ENTRY, UNREADABLE = "entry", "unreadable"
# A card: (ENTRY, {field: value}) or (UNREADABLE, code, line, message).
# body_sha256 (hex) lets the outputs for others find the findings kept for an entry's
# text (share/scancache.py) without loading the bodies.
Card = tuple[Any, ...]

# Which part of the card keeps each field of a readable entry (an Entry attribute of that
# name). LEAN is decoded by every command that reads the catalog's cards, FULL only when
# one of its fields is first read. Adding a field is its name in one of these two (and its
# value in entry_card); the lean file names both parts' fields (the full file its own), so
# an index kept with other ones is rebuilt.
LEAN = ("meta", "body_line", "body_sha256")
FULL = ("lines", "raw_values")


def _layout() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the lean file is checked against: both parts' fields, read when called."""
    return (LEAN, FULL)


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


# An entry's own texts: interning shares nothing, and marshal interns again on loading
# what it wrote interned (50,000 ids decoded in 14 ms interned, 5 ms not).
OWN_TEXTS = ("id", "title")


def entry_card(entry: Any) -> Card:
    """The card of a readable entry. A field's YAML source, when it is the value's own text
    (most are), is that same object: kept once."""
    meta = {
        _shared(name): value if name in OWN_TEXTS and isinstance(value, str) else _shared(value)
        for name, value in entry.meta.items()
    }
    raw_values = {
        _shared(name): meta[name] if meta.get(name) == source else _shared(source)
        for name, source in entry.raw_values.items()
    }
    body_sha256 = text_digest(entry.body)
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


def as_kept(held: Cards, path: str, document: dict[str, Any] | str) -> bool:
    """Does `document` (index.document_for's, its card not yet taken out) hold the very card
    `held` keeps for `path`: the same fields, their lines and YAML sources, the same body,
    and no attachments (an attachment's text is indexed with the entry, not kept in cards)?
    Compared value by value and type by type (with ==, 1 would equal True)."""
    found = document.get(CARD_KEY) if isinstance(document, dict) else None
    kept = held.cards.get(path)
    if found is None or kept is None or found[0][0] != ENTRY or kept[0] != ENTRY:
        return False
    new, old = found[0][1], kept[1]
    if new["meta"].get("attachments"):  # their text is indexed too, and no card holds it
        return False
    return new.keys() == old.keys() and all(same_values(new[name], old[name]) for name in new)


class Cards:
    """Cards and bodies by path, gathered while documents are made, then written. A build's
    hold every body; an update's (`previous`) hold the bodies of the shards its changes
    fall in, loaded on first use, and only those shards are written again."""

    def __init__(self, cards: dict[str, Card] | None = None, bodies: dict[str, str] | None = None):
        self.cards = cards if cards is not None else {}
        self.bodies = bodies if bodies is not None else {}
        self.complete = True  # False once a document came without its card
        self.shards = 0  # an update's: how many shards the live generation keeps
        self.loaded: set[int] | None = None  # an update's: the shards loaded (None: all held)
        self.source: tuple[Path, dict[str, list[Any]]] | None = None  # (folder, record's files)
        self.in_order = False  # the cards are in walk order already (an update adding none)
        self.touched: set[str] = set()  # an update's: the files added, changed or removed

    def add(self, path: str, document: dict[str, Any] | str) -> None:
        found = card_of(document)
        if found is None:
            self.complete = False
            return
        self._hold(path)
        self.touched.add(path)
        self.in_order = self.in_order and path in self.cards  # a new path goes last
        self.cards[path], body = found
        if body:
            self.bodies[path] = body
        else:
            self.bodies.pop(path, None)

    def remove(self, path: str) -> None:
        self._hold(path)
        self.touched.add(path)
        self.cards.pop(path, None)
        self.bodies.pop(path, None)

    def _hold(self, path: str) -> None:
        """Load the shard `path`'s body lives in, before it changes (an update's cards);
        Changed if it is not the file the record names (the caller rebuilds)."""
        if self.loaded is None or self.source is None:
            return
        shard = shard_of(path, self.shards)
        if shard not in self.loaded:
            folder, files = self.source
            name = shard_name(shard, self.shards)
            self.bodies.update(_decoded(name, _checked(folder, name, files)))
            self.loaded.add(shard)

    def write(self, folder: Path) -> dict[str, str]:
        """Write the catalog's files in `folder`, or remove them if a card is missing (the
        catalog is then read from the files); the SHA-256 of each file written, by name."""
        if not self.complete:
            for name in os.listdir(folder):
                if name in LOADED_HASHED or name.startswith(BODIES_PREFIX):
                    (folder / name).unlink(missing_ok=True)
            return {}
        lean: dict[str, Card] = {}
        full: dict[str, tuple[Any, ...]] = {}
        held = self.cards.items()
        in_order = held if self.in_order else sorted(held, key=lambda item: walk_order(item[0]))
        entries: list[tuple[str, dict[str, Any], str]] = []  # in the listing's order
        for rel, card in in_order:
            if card[0] == ENTRY:
                lean[rel] = (ENTRY, *(card[1][name] for name in LEAN))
                full[rel] = tuple(card[1][name] for name in FULL)
                entries.append((rel, card[1]["meta"], card[1]["body_sha256"]))
            else:
                lean[rel] = card
        unreadable = [(rel, *card[1:]) for rel, card in lean.items() if card[0] == UNREADABLE]
        made = updated(self.source, entries, self.touched) if self.source else None
        if made is None:  # a build, or the previous parts cannot be read: every row made
            listed, newest = listing_columns((rel, meta) for rel, meta, _ in entries)
            others = others_columns((meta, body_sha256) for _, meta, body_sha256 in entries)
            made = listed, newest, others, {}
        listed, newest, others, kept = made
        written = {}
        parts = ((CARDS, marshal.dumps((_layout(), lean))),
                 (FULL_CARDS, marshal.dumps((FULL, full))),
                 (LISTING, columns_part(LISTING_COLUMNS, listed, (newest, unreadable), kept)),
                 (OTHERS, columns_part(OTHERS_COLUMNS, others, None, kept)))  # fmt: skip
        for name, data in parts:
            (folder / name).write_bytes(data)
            written[name] = hashlib.sha256(data).hexdigest()
        written.update(self._write_bodies(folder))
        return written

    def _write_bodies(self, folder: Path) -> dict[str, str]:
        """Write the bodies' shards: all for a build, those loaded for an update. Each is
        written beside and renamed over the old: a reader never meets half a shard."""
        count = self.shards if self.loaded is not None else shard_count(len(self.cards))
        wanted = set(range(count)) if self.loaded is None else self.loaded
        sharded: dict[int, list[tuple[str, str]]] = {shard: [] for shard in wanted}
        for rel, body in self.bodies.items():
            shard = shard_of(rel, count)
            if shard in sharded:
                sharded[shard].append((rel, body))
        written = {}
        for shard, bodies in sharded.items():
            name = shard_name(shard, count)
            data = marshal.dumps(dict(sorted(bodies)))
            temporary = folder / f".{name}.{os.getpid()}.tmp"
            temporary.write_bytes(data)
            os.replace(temporary, folder / name)
            written[name] = hashlib.sha256(data).hexdigest()
        return written


def shard_count(entries: int) -> int:
    """How many shards a generation of `entries` keeps its bodies in: a power of two, about
    SHARD_BODIES bodies each. Fixed for the generation: updates keep it."""
    count = 1
    while count * SHARD_BODIES < entries:
        count *= 2
    return count


def shard_of(rel: str, count: int) -> int:
    """The shard the body of the entry file at `rel` lives in (CRC-32: the same in every
    process, unlike hash())."""
    return zlib.crc32(rel.encode("utf-8", "surrogatepass")) % count


def shard_name(shard: int, count: int) -> str:
    return f"{BODIES_PREFIX}{count}-{shard}.marshal"


def _shards_kept(files: dict[str, list[Any]]) -> int | None:
    """How many shards the record's files hold the bodies in, if they hold all of them."""
    counts = {
        name[len(BODIES_PREFIX) :].split("-")[0] for name in files if name.startswith(BODIES_PREFIX)
    }
    if len(counts) != 1 or not next(iter(counts)).isdigit():
        return None
    count = int(next(iter(counts)))
    kept = count > 0 and all(shard_name(shard, count) in files for shard in range(count))
    return count if kept else None


def _decoded(name: str, data: bytes) -> dict[str, str]:
    """A shard's bodies by path (checked bytes: the record's SHA-256 matched)."""
    bodies = marshal.loads(data)
    if not isinstance(bodies, dict):
        raise Changed(f"its catalog ({name}) is not a shard of bodies")
    return bodies


class Bodies:
    """The bodies of a generation, each shard decoded when a body in it is first asked for.
    A shard that is not the file the record names is never decoded: its bodies are None
    (read them from the files)."""

    def __init__(self, folder: Path, files: dict[str, list[Any]], count: int) -> None:
        self.folder, self.files, self.count = folder, files, count
        self.shards: dict[int, dict[str, str] | None] = {}

    def get(self, rel: str, default: str = "") -> str | None:
        """The body of the entry file at `rel` (`default` if it has none), or None if its
        shard cannot be trusted."""
        shard = self._shard(shard_of(rel, self.count))
        return None if shard is None else shard.get(rel, default)

    def _shard(self, shard: int) -> dict[str, str] | None:
        if shard not in self.shards:
            name = shard_name(shard, self.count)
            try:
                self.shards[shard] = _decoded(name, _checked(self.folder, name, self.files))
            except (OSError, ValueError, EOFError, TypeError):
                self.shards[shard] = None
        return self.shards[shard]

    def all(self) -> dict[str, str] | None:
        """Every body by path; None if a shard cannot be trusted."""
        held: dict[str, str] = {}
        for shard in range(self.count):
            bodies = self._shard(shard)
            if bodies is None:
                return None
            held.update(bodies)
        return held


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
    """The cards of the live generation, to update (the bodies' shards are loaded as the
    update needs them): an incomplete set when it keeps none; Changed (the caller rebuilds)
    when its files are not those the record names."""
    count = _shards_kept(files)
    if count is None or any(name not in files for name in LOADED_HASHED):
        held = Cards()
        held.complete = False
        return held
    folder = root / STATE_DIR / generation
    lean = _fields(CARDS, _checked(folder, CARDS, files), _layout())
    full = _fields(FULL_CARDS, _checked(folder, FULL_CARDS, files), FULL)
    cards = {
        rel: (ENTRY, dict(zip((*LEAN, *FULL), (*card[1:], *full[rel]), strict=True)))
        if card[0] == ENTRY
        else card
        for rel, card in lean.items()
    }
    held = Cards(cards, {})  # in the order written: walk order
    held.shards, held.loaded, held.source = count, set(), (folder, files)
    held.in_order = True
    return held


Later = Callable[[], Any]


def load(root: Path) -> tuple[dict[str, Card], Later, Later] | None:
    """(lean cards by path, a function giving the full parts by path, a function giving the
    bodies: a Bodies) of the live generation, or None when it keeps none. A lean card is
    (ENTRY, *the LEAN fields' values) or (UNREADABLE, code, line, message); a full part,
    the FULL fields' values. Call with the read lock held; read_record's Untrusted and
    OSError pass through. The full part is opened now and read on first call (a rebuild
    that removes the folder meanwhile does not take it away); that call gives None if the
    file is not the one the record names (it is not decoded; the next update rebuilds).
    A body's shard is opened when a body in it is first asked for (one the record does not
    name, or gone with its folder, gives None: the body is read from the file)."""
    record = read_record(root)
    count = _shards_kept(record.files)
    if count is None or any(name not in record.files for name in LOADED_HASHED):
        return None
    folder = root / STATE_DIR / record.generation
    cards = _fields(CARDS, _checked(folder, CARDS, record.files), _layout())
    full = _later(folder, FULL_CARDS, record.files, lambda data: _fields(FULL_CARDS, data, FULL))
    held: list[Bodies] = []

    def bodies() -> Bodies:
        if not held:
            held.append(Bodies(folder, record.files, count))
        return held[0]

    return cards, full, bodies


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
