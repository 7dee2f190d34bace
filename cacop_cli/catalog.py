"""The whole KB read once: entries by id, the site registry, and what could not be read.

`load_catalog(kb)` answers from the catalog kept with the search index (index/cards.py),
after the same freshness check a search makes, without opening entry files; when the
index cannot be brought up to date or read, it reads the files instead.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import marshal
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .config import KB, SETTINGS_MAX_BYTES, settings_text
from .entries import iter_entry_files, read_entry, relpath
from .errors import EntryError
from .models import Entry, Issue
from .safefile import read_regular_file


@dataclass
class Catalog:
    kb: KB
    entries: list[Entry] = field(default_factory=list)
    unreadable: list[Issue] = field(default_factory=list)
    sites: dict[str, dict] = field(default_factory=dict)
    sites_issues: list[Issue] = field(default_factory=list)
    sites_lines: dict[str, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # the index was rebuilt, and why
    # The freshness check (search.RefreshStats) this catalog was read from the index after,
    # in this process: a search may stand on it (search.search's `checked`). None when the
    # catalog was read from the files.
    checked: Any = None

    def by_id(self) -> dict[str, Entry]:
        return {entry.id: entry for entry in self.entries}

    def get(self, entry_id: str) -> Entry | None:
        return next((entry for entry in self.entries if entry.id == entry_id), None)

    def responses_to(self, rfi_id: str) -> list[Entry]:
        found = [
            entry
            for entry in self.entries
            if entry.type == "response" and entry.meta.get("rfi") == rfi_id
        ]
        return sorted(found, key=lambda entry: (str(entry.meta.get("created", "")), entry.id))


def entry_issue(path: Path, root: Path, error: EntryError) -> Issue:
    return Issue("error", error.code, relpath(path, root), error.line, error.message)


def read_sites(kb: KB) -> tuple[dict[str, dict], list[Issue], dict[str, int]]:
    """kb/sites.yaml's sites, its problems, and the line of each slug. A file without
    problems is kept, checked, in `.cacop/` (SITES_KEPT): the schema check alone imports
    jsonschema and builds a validator, about 90 ms a command."""
    path = kb.kb_dir / "sites.yaml"
    rel = relpath(path, kb.root)
    try:
        if not os.path.lexists(path):
            raise FileNotFoundError(path)
        data = read_regular_file(path, SETTINGS_MAX_BYTES, "settings file")
        kept = _kept_sites(kb, data)
        if kept is not None:
            return kept
        from . import yamlsafe  # a file not kept checked only: PyYAML costs ~18 ms to load

        try:
            document = yamlsafe.load(settings_text(data))
        except yamlsafe.YamlProblem as exc:
            return {}, [Issue("error", exc.code, rel, exc.line + 1, exc.message)], {}
    except FileNotFoundError:
        return {}, [Issue("error", "sites", rel, 1, "kb/sites.yaml is missing: list the sites")], {}
    except EntryError as exc:
        return {}, [Issue("error", exc.code, rel, exc.line, exc.message)], {}
    except OSError as exc:
        return {}, [Issue("error", "sites", rel, 1, f"cannot be read: {exc}")], {}
    value = document.value if isinstance(document.value, dict) else {}
    lines = {key: line + 1 for key, line in document.key_lines.items()}
    if not isinstance(document.value, dict):
        return {}, [Issue("error", "sites", rel, 1, "must map each site slug to its details")], {}
    from . import schemas

    issues = [
        Issue(
            "error",
            "sites",
            rel,
            lines.get(str(error.absolute_path[0]), 1) if error.absolute_path else 1,
            f"{'.'.join(map(str, error.absolute_path)) or 'sites'}: {error.message}",
        )
        for error in schemas.errors("sites", value, kb.root)
    ]
    if not issues:
        _keep_sites(kb, data, value, lines)
    return value, issues, lines


# kb/sites.yaml as last read without problems: sealed (sealed.py: only this user's writing
# is believed) marshal of (key, sites, lines). The key is the SHA-256 of the file's bytes,
# of the schemas that judged it, of cacop's version and of where jsonschema is installed
# (its size and time), so a changed file, schema or checker is read and checked again; a
# file with problems is never kept, so its messages are always made afresh.
SITES_KEPT = "sites.marshal"
SITES_KEPT_FORMAT = 1


def _sites_key(kb: KB, data: bytes) -> str:
    from importlib.util import find_spec

    from . import __version__, schemas

    digest = hashlib.sha256(f"{SITES_KEPT_FORMAT}\0{__version__}\0".encode())
    digest.update(hashlib.sha256(data).digest())
    folder = schemas.schema_dir_for(kb.root)
    for name in schemas.SCHEMA_NAMES:
        try:
            digest.update(hashlib.sha256((folder / f"{name}.schema.json").read_bytes()).digest())
        except OSError as exc:
            digest.update(f"unreadable {exc.errno}".encode())
    try:
        spec = find_spec("jsonschema")
        origin = spec.origin if spec is not None else None
        info = os.stat(origin) if origin else None
    except (ImportError, ValueError, OSError):
        origin, info = None, None
    digest.update(repr((str(folder), origin, info and (info.st_size, info.st_mtime_ns))).encode())
    return digest.hexdigest()


def _kept_sites(kb: KB, data: bytes) -> tuple[dict[str, dict], list[Issue], dict[str, int]] | None:
    """The kept result for these bytes of kb/sites.yaml, if there is one of ours."""
    from .index.record import STATE_DIR
    from .sealed import opened

    path = kb.root / STATE_DIR / SITES_KEPT
    try:
        sealed = read_regular_file(path, SETTINGS_MAX_BYTES * 4, "cache")
    except (EntryError, OSError):
        return None
    payload = opened(path, sealed)
    if payload is None:
        return None
    try:
        key, value, lines = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    if key != _sites_key(kb, data) or not isinstance(value, dict) or not isinstance(lines, dict):
        return None
    return value, [], lines


def _keep_sites(kb: KB, data: bytes, value: dict, lines: dict[str, int]) -> None:
    """Keep a result without problems; one that cannot be kept costs time only."""
    from .errors import CacopError
    from .index.locks import _prepare_state
    from .index.record import STATE_DIR
    from .sealed import seal

    path = kb.root / STATE_DIR / SITES_KEPT
    try:
        payload = marshal.dumps((_sites_key(kb, data), value, lines))
    except ValueError:  # a value marshal cannot write (none that YAML loading makes)
        return
    sealed = seal(path, payload)
    if sealed is None:
        return
    try:
        _prepare_state(kb.root)
    except CacopError:
        return
    temporary = path.with_name(f".{SITES_KEPT}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(sealed)
        os.replace(temporary, path)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def load_catalog(kb: KB, paths: list[Path] | None = None) -> Catalog:
    """Every entry (or just `paths`); unreadable files become issues, never exceptions.

    Every entry comes from the index's catalog when it can be brought up to date and read;
    else, and for `paths`, from the files."""
    catalog = Catalog(kb)
    catalog.sites, catalog.sites_issues, catalog.sites_lines = read_sites(kb)
    if paths is None and _from_index(catalog):
        return catalog
    for path in paths if paths is not None else iter_entry_files(kb.root):
        try:
            catalog.entries.append(read_entry(path, kb.root, kb.limits))
        except EntryError as error:
            catalog.unreadable.append(entry_issue(path, kb.root, error))
    return catalog


class _CataloguedEntry(Entry):
    """An entry from the catalog, equal to the Entry read_entry makes of the same file. Its
    fields of the cards' lean part are set when it is made; those of the full part (line
    numbers, YAML source) are read from it on first use (`_catalogued`), its body from the
    index's bodies file on first use too (all 10,000 bodies are 66 MB; most commands need
    none), its absolute path made on first use too."""

    _bodies: Callable[[], Any]  # index/cards.py's Bodies: .get(rel, default), None if untrusted
    _full: Callable[[], dict[str, tuple[Any, ...]] | None]
    _full_names: tuple[str, ...]
    _kb: KB

    @classmethod
    def made(cls, kb: KB, rel: str, card: tuple[Any, ...], stored: Any) -> _CataloguedEntry:
        """Without the dataclass's __init__: 10,000 of them are made per command."""
        entry = cls.__new__(cls)
        held = entry.__dict__
        held.update(zip(stored.lean, card[1:], strict=True))
        held.update(
            rel=rel, pending=None, _kb=kb, _bodies=stored.bodies, _full=stored.full,
            _full_names=stored.full_names, _path=None, _body=None,
        )  # fmt: skip
        return entry

    def _fill_full(self) -> None:
        """Set the fields of the cards' full part: from it, or when it cannot be trusted,
        from the entry's file."""
        stored = self._full()
        values = stored.get(self.rel) if stored is not None else None
        if values is None:
            try:
                read = read_entry(self.path, self._kb.root, self._kb.limits)
            except EntryError:
                read = Entry(self.path, self.rel, {}, "")
            values = tuple(getattr(read, name, None) for name in self._full_names)
        for name, value in zip(self._full_names, values, strict=True):
            self.__dict__.setdefault(name, value)

    @property  # type: ignore[override]
    def path(self) -> Path:
        held = self.__dict__.get("_path")
        if held is None:
            held = self.__dict__["_path"] = self._kb.root / self.rel
        return held

    @path.setter
    def path(self, value: Path) -> None:
        self.__dict__["_path"] = value

    @property  # type: ignore[override]
    def body(self) -> str:
        held = self.__dict__.get("_body")
        if held is None:
            stored = self._bodies()
            held = stored.get(self.rel, "") if stored is not None else None
            if held is None:  # its shard cannot be trusted
                held = self._body_from_file()
            self.__dict__["_body"] = held
        return held

    @body.setter
    def body(self, value: str | None) -> None:
        self.__dict__["_body"] = value
        self.__dict__["body_sha256"] = None  # the card's is of the body as indexed

    def _body_from_file(self) -> str:
        """The body read from the entry's file, when the bodies file cannot be trusted."""
        try:
            return read_entry(self.path, self._kb.root, self._kb.limits).body
        except EntryError:
            return ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return (
            all(
                getattr(self, name) == getattr(other, name)
                for name in ("path", "rel", "meta", "body", "lines", "raw_values", "body_line")
            )
            and self.pending == other.pending
        )

    __hash__ = None  # type: ignore[assignment]


def _full_field(name: str) -> property:
    """An entry's field kept in the cards' full part: read from it on first use."""

    def get(entry: _CataloguedEntry) -> Any:
        if name not in entry.__dict__:
            entry._fill_full()
        return entry.__dict__[name]

    def put(entry: _CataloguedEntry, value: Any) -> None:
        entry.__dict__[name] = value

    return property(get, put)


@cache
def _catalogued(full_names: tuple[str, ...]) -> type[_CataloguedEntry]:
    """_CataloguedEntry with the full part's fields read on first use (cards.FULL, which
    this module does not import before it reads the catalog: it is index code)."""
    made = type(
        "_CataloguedEntry", (_CataloguedEntry,), {name: _full_field(name) for name in full_names}
    )
    made.__qualname__ = _CataloguedEntry.__qualname__
    return made


@dataclass
class _Stored:
    """The catalog as index/cards.py gives it: what each entry is made from."""

    lean: tuple[str, ...]
    full_names: tuple[str, ...]
    full: Callable[[], dict[str, tuple[Any, ...]] | None]
    bodies: Callable[[], Any]


@contextlib.contextmanager
def _uncollected() -> Iterator[None]:
    """No garbage collection while the catalog's objects are made: they live as long as the
    catalog, and the collections that making them set off would scan them (and every module)
    again and again, ~45 ms of CPU at 10,000 entries. Nothing made here forms a cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _from_index(catalog: Catalog) -> bool:
    """Fill `catalog` from the index's catalog, after bringing the index up to date; False
    (and nothing filled) if that cannot be done: the files are then read instead."""
    from . import progress, search
    from .index import cards, read_lock
    from .index.record import Changed

    kb = catalog.kb
    advance = progress.current.get()  # a first build takes minutes in a large KB: shown
    try:
        stats = search.refresh(kb, advance)
        try:
            with read_lock(kb.root), _uncollected():
                stored = cards.load(kb.root)
        except Changed as changed:  # never decoded: made again
            stats = search.rebuild(kb, advance, reason=str(changed))
            with read_lock(kb.root):
                stored = cards.load(kb.root)
    except Exception:  # noqa: BLE001 - read-only, busy, untrusted or damaged: read the files
        return False
    if stored is None:
        return False
    found, full, bodies = stored
    parts = _Stored(cards.LEAN, cards.FULL, full, bodies)
    make = _catalogued(cards.FULL).made
    with _uncollected():
        for rel, card in found.items():  # in iter_entry_files' order, as written
            if card[0] == cards.UNREADABLE:
                _, code, line, message = card
                catalog.unreadable.append(Issue("error", code, rel, line, message))
                continue
            catalog.entries.append(make(kb, rel, card, parts))
    catalog.notices, catalog.checked = stats.notices, stats
    return True
