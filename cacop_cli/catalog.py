"""The whole KB read once: entries by id, the site registry, and what could not be read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
    """Read every entry (or just `paths`); unreadable files become issues, never exceptions."""
    catalog = Catalog(kb)
    catalog.sites, catalog.sites_issues, catalog.sites_lines = read_sites(kb)
    for path in paths if paths is not None else iter_entry_files(kb.root):
        try:
            catalog.entries.append(read_entry(path, kb.root, kb.limits))
        except EntryError as error:
            catalog.unreadable.append(entry_issue(path, kb.root, error))
    return catalog
