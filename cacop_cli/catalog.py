"""The whole KB read once: entries by id, the site registry, and what could not be read.

`load_catalog(kb)` answers from the catalog kept with the search index (index/cards.py),
after the same freshness check a search makes, without opening entry files; when the
index cannot be brought up to date or read, it reads the files instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import yamlsafe
from .config import KB, read_settings
from .entries import iter_entry_files, read_entry, relpath
from .errors import EntryError
from .models import Entry, Issue


@dataclass
class Catalog:
    kb: KB
    entries: list[Entry] = field(default_factory=list)
    unreadable: list[Issue] = field(default_factory=list)
    sites: dict[str, dict] = field(default_factory=dict)
    sites_issues: list[Issue] = field(default_factory=list)
    sites_lines: dict[str, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # the index was rebuilt, and why

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
    path = kb.kb_dir / "sites.yaml"
    rel = relpath(path, kb.root)
    try:
        document = yamlsafe.load(read_settings(path))
    except FileNotFoundError:
        return {}, [Issue("error", "sites", rel, 1, "kb/sites.yaml is missing: list the sites")], {}
    except EntryError as exc:
        return {}, [Issue("error", exc.code, rel, exc.line, exc.message)], {}
    except OSError as exc:
        return {}, [Issue("error", "sites", rel, 1, f"cannot be read: {exc}")], {}
    except yamlsafe.YamlProblem as exc:
        return {}, [Issue("error", exc.code, rel, exc.line + 1, exc.message)], {}
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
    return value, issues, lines


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
    body is read from the index's bodies file on first use (all 10,000 bodies are 66 MB;
    most commands need none), its absolute path made on first use too."""

    _bodies: Callable[[], dict[str, str] | None]
    _kb: KB

    @classmethod
    def made(cls, kb: KB, rel: str, card: tuple[Any, ...], bodies: Any) -> _CataloguedEntry:
        """Without the dataclass's __init__: 10,000 of them are made per command."""
        entry = cls.__new__(cls)
        _, meta, lines, raw_values, body_line, body_sha256 = card
        entry.__dict__.update(
            rel=rel, meta=meta, lines=lines, raw_values=raw_values, body_line=body_line,
            pending=None, _kb=kb, _bodies=bodies, _path=None, _body=None,
            body_sha256=body_sha256,
        )  # fmt: skip
        return entry

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
            held = stored.get(self.rel, "") if stored is not None else self._body_from_file()
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


def _from_index(catalog: Catalog) -> bool:
    """Fill `catalog` from the index's catalog, after bringing the index up to date; False
    (and nothing filled) if that cannot be done: the files are then read instead."""
    from . import progress, search
    from .index import cards, read_lock

    kb = catalog.kb
    advance = progress.current.get()  # a first build takes minutes in a large KB: shown
    try:
        stats = search.refresh(kb, advance)
        try:
            with read_lock(kb.root):
                stored = cards.load(kb.root)
        except cards.Changed as changed:  # never decoded: made again
            stats = search.rebuild(kb, advance, reason=str(changed))
            with read_lock(kb.root):
                stored = cards.load(kb.root)
    except Exception:  # noqa: BLE001 - read-only, busy, untrusted or damaged: read the files
        return False
    if stored is None:
        return False
    found, bodies = stored
    for rel, card in found.items():  # in iter_entry_files' order, as written
        if card[0] == cards.UNREADABLE:
            _, code, line, message = card
            catalog.unreadable.append(Issue("error", code, rel, line, message))
            continue
        entry = _CataloguedEntry.made(kb, rel, card, bodies)
        catalog.entries.append(entry)
    catalog.notices = stats.notices
    return True
