"""The parts of the catalog kept in columns, beside the cards: LISTING, what `list`, `rfi
list`, `status` and `show`'s names read of every entry, and OTHERS, what `gaps`, `experts`
and `digest` read beyond it. One column (a list) per field, an entry's values at the same
position in each, in the catalog's order; each column is marshal data of its own in the
file, read into bytes of its own, checked by the record's SHA-256 before anything is
decoded, and decoded when first read (`Columns`). An update makes them from the previous
generation's columns and the entries it changed (`updated`), not from every card.
"""

from __future__ import annotations

import hashlib
import marshal
import os
from pathlib import Path, PurePosixPath
from typing import Any

from .record import LOADED_HASHED, STATE_DIR, Changed, read_record

_, _, LISTING, OTHERS = LOADED_HASHED


# ---------------------------------------------------------------- the listing part
#
# What `list`, `rfi list` and `status` read of every entry (LISTING), so that they decode
# no card (meta dicts: 230 ms at 50,000 entries): a column (a list) per field, an entry's
# values at one position in each, in the catalog's order; the positions newest first; the
# unreadable files. A LISTED column holds the field's value as it is, ABSENT where the entry
# has none; "line" is the entry's line in `list`'s plain output, made already.

LISTED = ("site", "created", "updated", "topics", "tlp", "status", "priority", "needed_by",
          "to", "rfi")  # fmt: skip
LISTING_COLUMNS = ("rel", "id", "type", "title", "line", *LISTED)
ABSENT = ...  # a listed field the entry does not have: marshal keeps it, YAML never makes it


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
    return columns, newest_first(values[LISTED.index("created")], ids)


def newest_first(created: list[Any], ids: list[str]) -> list[int]:
    """The positions as `list` sorts: created, then id, descending; entries equal in both
    keep their order."""
    keys = [(str("" if value is ABSENT else value), entry_id)
            for value, entry_id in zip(created, ids, strict=True)]  # fmt: skip
    return sorted(range(len(ids)), key=keys.__getitem__, reverse=True)


def columns_part(
    names: tuple[str, ...], columns: list[list[Any]], extra: Any = None,
    kept: dict[str, bytes] | None = None,
) -> bytes:  # fmt: skip
    """A part of columns as written: how many pieces (4 bytes), each one's length (8 bytes),
    then the pieces: a header (the names, `extra`) and each column as marshal data of its
    own, so that a command decodes only the columns it reads (`list` two of fifteen).
    `kept`: a column's piece as the previous part held it, for a column that did not
    change (written again as it is)."""
    kept = kept or {}
    pieces = [marshal.dumps((names, extra))]
    pieces += [
        kept.get(name) or marshal.dumps(column) for name, column in zip(names, columns, strict=True)
    ]
    table = [len(piece).to_bytes(8, "little") for piece in pieces]
    return b"".join([len(pieces).to_bytes(4, "little"), *table, *pieces])


def read_columns(
    handle: Any, name: str, names: tuple[str, ...], expected: str | None
) -> tuple[dict[str, bytes], Any]:
    """(each column's marshal data by name, in bytes of its own; the header's extra) of a
    part of columns, once the SHA-256 of all its bytes is `expected` (the record's): nothing
    is decoded before (the lengths are plain integers). Changed if it is not that file,
    keeps other columns or is not shaped so."""
    digest = hashlib.sha256()
    head = handle.read(4)
    count = int.from_bytes(head, "little")
    if len(head) != 4 or count != len(names) + 1:
        raise Changed(f"its catalog ({name}) keeps other fields than this cacop's")
    table = handle.read(8 * count)
    digest.update(head + table)
    lengths = [int.from_bytes(table[at : at + 8], "little") for at in range(0, len(table) - 7, 8)]
    end, start = handle.seek(0, os.SEEK_END), handle.seek(4 + len(table))
    if len(table) != 8 * count or sum(lengths) != end - start:  # never a read past the end
        raise Changed(f"its catalog ({name}) was changed after cacop wrote it")
    pieces = [handle.read(length) for length in lengths]
    for piece in pieces:
        digest.update(piece)
    if expected != digest.hexdigest():
        raise Changed(f"its catalog ({name}) was changed after cacop wrote it")
    header = marshal.loads(pieces[0])
    if not (isinstance(header, tuple) and len(header) == 2 and header[0] == names):
        raise Changed(f"its catalog ({name}) keeps other fields than this cacop's")
    return dict(zip(names, pieces[1:], strict=True)), header[1]


def _read_part(
    folder: Path, files: dict[str, list[Any]], name: str, names: tuple[str, ...]
) -> tuple[dict[str, bytes], Any]:
    """The part `name` of a generation's `folder`, checked by the SHA-256 its record's
    `files` hold."""
    with open(folder / name, "rb") as handle:
        kept = files.get(name, ())
        return read_columns(handle, name, names, kept[3] if len(kept) > 3 else None)


class Columns(dict):
    """A part's columns by name, each decoded on first use from its own marshal data (bytes
    checked by the record's SHA-256). Iterating, comparing or sizing it decodes every column
    first: it then acts as the plain dict of all of them."""

    def __init__(self, blobs: dict[str, bytes], length: int) -> None:
        super().__init__()
        self._blobs, self._length = blobs, length

    def __missing__(self, name: str) -> list[Any]:
        column = marshal.loads(self._blobs.pop(name))  # KeyError for a name it lacks
        if not isinstance(column, list) or len(column) != self._length:
            raise Changed(f"its catalog holds a column ({name}) not of its {self._length} entries")
        self[name] = column
        return column

    def _all(self) -> Columns:
        for name in list(self._blobs):
            self[name]  # noqa: B018 - decoded by __missing__
        return self

    def __iter__(self):  # type: ignore[no-untyped-def]
        return super(Columns, self._all()).__iter__()

    def __len__(self) -> int:
        return super().__len__() + len(self._blobs)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self._blobs

    def __eq__(self, other: object) -> bool:
        return dict(self._all().items()) == other

    __hash__ = None  # type: ignore[assignment]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default  # noqa: SIM401 - self.get is this

    def keys(self):  # type: ignore[no-untyped-def]
        return super(Columns, self._all()).keys()

    def values(self):  # type: ignore[no-untyped-def]
        return super(Columns, self._all()).values()

    def items(self):  # type: ignore[no-untyped-def]
        return super(Columns, self._all()).items()


def load_listing(root: Path) -> tuple[Columns, list[int], list[Any]] | None:
    """The listing part of the live generation ((its columns, decoded as they are read),
    positions newest first, unreadable files), or None when it keeps none. Call with the
    read lock held; read_record's Untrusted and OSError pass through, Changed when the file
    is not the one the record names or keeps other columns (never decoded: rebuilt)."""
    record = read_record(root)
    if LISTING not in record.files:
        return None
    folder = root / STATE_DIR / record.generation
    blobs, extra = _read_part(folder, record.files, LISTING, LISTING_COLUMNS)
    if not (isinstance(extra, tuple) and [type(part) for part in extra] == [list, list]):
        raise Changed(f"its catalog ({LISTING}) keeps other fields than this cacop's")
    return Columns(blobs, len(extra[0])), *extra


# ---------------------------------------------------------------- the part for outputs for others
#
# What `gaps`, `experts` and `digest` read of an entry beyond its listed fields, in columns
# at the listing's positions (OTHERS: `list` does not load it): the fields they print or
# judge (authors, summary, a recorded pii_override; ABSENT where the entry has none), and
# the scan_key its text's personal-data findings are kept by (no card or body needed).

OTHERS_COLUMNS = ("authors", "summary", "pii_override", "scan_key")


def others_columns(entries: Any) -> list[list[Any]]:
    """The columns of OTHERS_COLUMNS of `entries` ((meta, body SHA-256) pairs, in the
    listing's order)."""
    from ..models import scan_key

    columns: list[list[Any]] = [[] for _ in OTHERS_COLUMNS]
    authors, summaries, overrides, keys = columns
    for meta, body_sha256 in entries:
        authors.append(meta.get("authors", ABSENT))
        summaries.append(meta.get("summary", ABSENT))
        overrides.append(meta.get("pii_override", ABSENT))
        keys.append(scan_key(meta, body_sha256))
    return columns


def load_others(root: Path, length: int) -> Columns | None:
    """The part for outputs for others of the live generation, its columns decoded as they
    are read (each of `length` entries: the listing's), or None when it keeps none; as
    load_listing (call it under the same read lock, so that both are of one update)."""
    record = read_record(root)
    if OTHERS not in record.files:
        return None
    blobs, _ = _read_part(
        root / STATE_DIR / record.generation, record.files, OTHERS, OTHERS_COLUMNS
    )
    return Columns(blobs, length)


# ---------------------------------------------------------------- an update's columns

Updated = tuple[list[list[Any]], list[int], list[list[Any]], dict[str, bytes]]


def updated(
    source: tuple[Path, dict[str, list[Any]]],
    entries: list[tuple[str, dict[str, Any], str]],
    touched: set[str],
) -> Updated | None:
    """The listing's columns, its positions newest first and the other part's columns of
    `entries` ((rel, meta, body SHA-256) of each readable entry, in the catalog's order),
    made from the previous generation's parts (`source`: its folder and record's files)
    with only the rows of the `touched` files made again; and the pieces of those parts
    whose column is unchanged. None when they cannot be read (everything is made then).
    At 50,000 entries making every row took ~0.5 s of an update of 10 files."""
    folder, files = source
    pieces: dict[str, bytes] = {}
    extras = []
    try:
        for name, names in ((LISTING, LISTING_COLUMNS), (OTHERS, OTHERS_COLUMNS)):
            found, extra = _read_part(folder, files, name, names)
            pieces.update(found)
            extras.append(extra)
        old = {name: marshal.loads(piece) for name, piece in pieces.items()}
    except (OSError, ValueError, EOFError, TypeError):
        return None
    names = (*LISTING_COLUMNS, *OTHERS_COLUMNS)
    if not all(isinstance(old[name], list) and len(old[name]) == len(old["rel"]) for name in names):
        return None
    newest = extras[0][0] if isinstance(extras[0], tuple) and extras[0] else None
    if [rel for rel, _, _ in entries] == old["rel"]:  # no file came or went: touched rows
        made, changed = old, set()  # the previous columns, changed in place
        for number, (rel, meta, body_sha256) in enumerate(entries):
            if rel in touched:
                for name, value in zip(names, _row(rel, meta, body_sha256), strict=True):
                    if _differs(value, made[name][number]):
                        made[name][number] = value
                        changed.add(name)
    else:
        made, changed = {name: [] for name in names}, set(names)
        was = {rel: number for number, rel in enumerate(old["rel"])}
        for rel, meta, body_sha256 in entries:
            number = None if rel in touched else was.get(rel)
            if number is None:
                row = _row(rel, meta, body_sha256)
            else:
                row = [old[name][number] for name in names]
            for name, value in zip(names, row, strict=True):
                made[name].append(value)
    if not isinstance(newest, list) or changed & {"created", "id", "rel"}:
        newest = newest_first(made["created"], made["id"])
    kept = {name: piece for name, piece in pieces.items() if name not in changed}
    listing = [made[name] for name in LISTING_COLUMNS]
    return listing, newest, [made[name] for name in OTHERS_COLUMNS], kept


def _differs(value: Any, held: Any) -> bool:
    """Are two values of a column not the very same? `1 == True` and `[1] == [1.0]`, but a
    rebuild would write the one the file holds (same_values)."""
    return value is not held and not same_values(value, held)


def same_values(one: Any, other: Any) -> bool:
    """Equal, and of the same types throughout, dicts in the same order: what marshal would
    write alike (with ==, 1 would equal True and 1.0), whether or not a text is interned."""
    if type(one) is not type(other):
        return False
    if isinstance(one, dict):
        return list(one) == list(other) and all(same_values(one[k], other[k]) for k in one)
    if isinstance(one, (list, tuple)):
        return len(one) == len(other) and all(map(same_values, one, other))
    return one == other


def _row(rel: str, meta: dict[str, Any], body_sha256: str) -> list[Any]:
    """One entry's values of LISTING_COLUMNS, then of OTHERS_COLUMNS."""
    listed, _ = listing_columns([(rel, meta)])
    return [column[0] for column in (*listed, *others_columns([(meta, body_sha256)]))]
