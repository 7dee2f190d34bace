"""What the site may hold: entries at or below its line, each passing the sharing gate.

The same checks as `submit` and `check-share` (share/gates.py): personal data and secrets
in the entry's file and in every attachment it lists, with the entry's `pii_override`
applied the same way, and an attachment that cannot be read in full (an image, a ZIP, a
damaged file) refused because nobody can say what it holds. An entry that fails is left
out and named with its reason; the rest of the site is still built. Never prints.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import Catalog
from ..entries import relpath
from ..models import Entry, at_or_below
from ..publish import Line

_SEPARATOR = "\n\n§§§\n\n"  # no check's pattern reaches across it
MAX_SITE_TLP = "green"  # a published site is read by the community at most


@dataclass(frozen=True)
class Attachment:
    """A file that goes with an entry's page: where it is, and the text search may hold."""

    name: str
    path: Path
    text: str


@dataclass(frozen=True)
class Refusal:
    """An entry the gate kept out of the site, and why (file:line: kind: message)."""

    path: str  # the entry's file, relative to the KB root
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "reasons": list(self.reasons)}


@dataclass
class Selection:
    """The entries the site holds, their attachments, and what was left out."""

    entries: list[Entry] = field(default_factory=list)
    attachments: dict[str, list[Attachment]] = field(default_factory=dict)  # id -> files
    refused: list[Refusal] = field(default_factory=list)
    above: int = 0  # entries above the line: left out, as they must be, not refused


def attachment_files(entry: Entry) -> list[tuple[str, Path | None]]:
    """(name, path) of each attachment a work product lists; path None when it is not a
    plain file inside the entry's folder (a link, a path that climbs out, a missing file)."""
    names = entry.meta.get("attachments") if entry.type == "work-product" else None
    found: list[tuple[str, Path | None]] = []
    for name in names if isinstance(names, list) else ():
        name = str(name)
        path = entry.path.parent / entry.path.stem / name
        plain = (
            name not in ("", ".", "..", "index.html")  # the entry's page has that name
            and "/" not in name
            and "\\" not in name
            and path.is_file()
            and not path.is_symlink()
        )
        found.append((name, path if plain else None))
    return found


def select(catalog: Catalog, line: Line, today: dt.date) -> Selection:
    """Which entries the site may hold: at or below `line`, nothing unreadable, no personal
    data or secrets (unless the entry's override accepts that kind), every attachment read."""
    from ..share import gates
    from ..textextract import extract

    kb = catalog.kb
    selection = Selection()
    for problem in catalog.unreadable:
        selection.refused.append(
            Refusal(problem.path, (f"{problem.path}:{problem.line}: {problem.message}",))
        )
    marked = [entry for entry in catalog.entries if at_or_below(entry.meta.get("tlp"), line.line)]
    selection.above = len(catalog.entries) - len(marked)
    cache = kb.root / ".cacop" / "extract"
    reasons: dict[str, list[str]] = {}
    texts: list[tuple[str, str, str]] = []  # (owner's rel, file's rel, text): entry files
    files: dict[str, list[Attachment]] = {}
    attached: dict[str, list] = {}  # owner's rel -> findings in its attachments
    for entry in marked:
        texts.append((entry.rel, entry.rel, entry.path.read_text("utf-8", errors="replace")))
        for name, path in attachment_files(entry):
            if path is None:
                reasons.setdefault(entry.rel, []).append(
                    f"{entry.rel}:{entry.line_of('attachments')}: attachment {name!r} is "
                    "missing, a link or outside the entry's folder"
                )
                continue
            rel = relpath(path, kb.root)
            extracted = extract(path, cache_dir=cache)
            if not extracted.scannable:
                reasons.setdefault(entry.rel, []).append(
                    f"{rel}: cannot be read in full ({extracted.reason}), so it cannot be "
                    "checked for personal data"
                )
                continue
            raw = gates.as_text(path.read_bytes())  # as the gate reads it: a CSV as a table
            for finding in gates.scan(raw or extracted.text, rel, today, kb.email_allowlist):
                attached.setdefault(entry.rel, []).append(finding)
            files.setdefault(entry.id, []).append(Attachment(name, path, extracted.text))
    findings = _scan_together(texts, today, kb.email_allowlist, gates)
    for entry in marked:
        found = findings.get(entry.rel, []) + attached.get(entry.rel, [])
        blocking, _ = gates.apply_override(found, entry.meta.get("pii_override"))
        said = reasons.get(entry.rel, []) + [str(finding) for finding in blocking]
        if said:
            selection.refused.append(Refusal(entry.rel, tuple(said)))
        else:
            selection.entries.append(entry)
            selection.attachments[entry.id] = files.get(entry.id, [])
    return selection


def _scan_together(texts, today, allowlist, gates) -> dict[str, list]:
    """Findings by owning entry, from one scan of all the entry files joined (detect-secrets
    costs a file per run), each mapped back to its own file and line."""
    import dataclasses

    if not texts:
        return {}
    starts, chunks, number = [], [], 1
    for _owner, _rel, text in texts:
        starts.append(number)
        chunks.append(text)
        number += text.count("\n") + _SEPARATOR.count("\n")
    found: dict[str, list] = {}
    for finding in gates.scan(_SEPARATOR.join(chunks), "site.md", today, allowlist):
        index = bisect.bisect_right(starts, finding.line) - 1
        owner, rel, _ = texts[index]
        local = dataclasses.replace(finding, path=rel, line=finding.line - starts[index] + 1)
        found.setdefault(owner, []).append(local)
    return found
