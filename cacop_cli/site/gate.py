"""What the site may hold: entries at or below its line, each passing the sharing gate.

The same checks as `submit` and `check-share` (share/gates.py): personal data and secrets
in the entry's file and in every attachment it lists, with the entry's `pii_override`
applied the same way, and an attachment that cannot be read in full (an image, a ZIP, a
damaged file) refused because nobody can say what it holds. An entry that fails is left
out and named with its reason; the rest of the site is still built. Never prints.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..catalog import Catalog
from ..entries import relpath
from ..models import Entry, at_or_below
from ..publish import Line
from ..share.findings import Finding
from ..share.scancache import aged, holds, in_batches, scan_batch

GATE_CACHE = "site-gate.json"  # in .cacop/: what the gate found in each text, signed
GATE_CACHE_FORMAT = 4  # 4: each text's findings say on which days they hold
MAX_SITE_TLP = "green"  # a published site is read by the community at most
RESERVED = frozenset({"assets", "topics", "sites", "types", "rfis", "map", "experts"})


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
    cache = gates.extract_cache(kb)
    remembered = Remembered(kb.state_dir, today, tuple(kb.email_allowlist))
    reasons: dict[str, list[str]] = {}
    texts: list[tuple[str, str, str, list[int] | None]] = []  # (owner, rel, text, stat)
    files: dict[str, list[Attachment]] = {}
    owned: dict[str, list[str]] = {}  # entry's rel -> its file and its attachments' rels
    by_file: dict[str, list[Finding]] = {}  # a file's rel -> what the gate found in it
    unknown_files: list[tuple[str, str, str, Path]] = []  # (owner, rel, text, path)
    for entry in marked:
        owned[entry.rel] = [entry.rel]
        try:
            stat = Remembered.stat(entry.path)
        except OSError:
            stat = None
        found = remembered.unchanged(entry.rel, stat) if stat is not None else None
        if found is None:
            text = entry.path.read_text("utf-8", errors="replace")
            texts.append((entry.rel, entry.rel, text, stat))
        else:
            by_file[entry.rel] = found
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
            owned[entry.rel].append(rel)
            found = remembered.get(rel, extracted.text)
            if found is None:
                unknown_files.append((entry.rel, rel, extracted.text, path))
            else:
                by_file[rel] = found
            files.setdefault(entry.id, []).append(Attachment(name, path, extracted.text))
    unknown = []
    for owner, rel, text, stat in texts:
        found = remembered.get(rel, text, stat)
        if found is None:
            unknown.append((owner, rel, text, stat))
        else:
            by_file[rel] = found
    scanned = scan_all(
        [(rel, text) for _, rel, text, _ in unknown],
        [(rel, path) for _, rel, _, path in unknown_files],
        ScanSettings(line.line, today, tuple(kb.email_allowlist), cache),
    )
    for _owner, rel, text, stat in unknown + [(*item[:3], None) for item in unknown_files]:
        kept, days = scanned.get(rel, ([], [today.toordinal()] * 2))
        by_file[rel] = [replace(finding, message=aged(finding.message, today)) for finding in kept]
        remembered.put(rel, text, kept, stat, days)
    remembered.save()
    ids: dict[str, str] = {}
    for entry in marked:
        if entry.id in RESERVED or entry.id in ids:
            clash = ids.get(entry.id, "one of the site's own folders")
            reasons.setdefault(entry.rel, []).insert(
                0, f"{entry.rel}:{entry.line_of('id')}: id {entry.id!r} is also {clash}"
            )
        ids.setdefault(entry.id, entry.rel)
    for entry in marked:
        found = [finding for rel in owned[entry.rel] for finding in by_file.get(rel, [])]
        blocking, _ = gates.apply_override(found, entry.meta.get("pii_override"))
        said = reasons.get(entry.rel, []) + [str(finding) for finding in blocking]
        if said:
            selection.refused.append(Refusal(entry.rel, tuple(said)))
        else:
            selection.entries.append(entry)
            selection.attachments[entry.id] = files.get(entry.id, [])
    return selection


@dataclass(frozen=True)
class ScanSettings:
    """What the gate's scan depends on besides the file itself."""

    max_tlp: str
    today: dt.date
    email_allowlist: tuple[str, ...]
    extract_cache: Path


BATCH_CHARS = 400_000  # entry texts scanned together: detect-secrets costs a start per run


def workers() -> int:
    """The processors to scan on (both cores of a small CI runner)."""
    return max(1, os.cpu_count() or 1)


Scanned = tuple[list[Finding], list[int]]  # findings, as kept, and the days they hold


def scan_all(
    texts: list[tuple[str, str]], attachments: list[tuple[str, Path]], settings: ScanSettings
) -> dict[str, Scanned]:
    """The sharing gate's scan of each entry's text (share/gates.scan_many, in batches) and
    of each attachment (share/gates.scan_file), spread over the processors: by file, its
    findings as kept (a date of birth's age is written by scancache.aged on the day they
    are read) and the first and last day (ordinals) on which they hold. The checks are the
    same whichever process runs them."""
    jobs = [(_scan_texts, batch) for batch in in_batches(texts, BATCH_CHARS)]
    jobs += [(_scan_attachment, item) for item in attachments]
    found: dict[str, Scanned] = {}
    count = min(workers(), len(jobs))
    if count <= 1:
        results = [job(work, settings) for job, work in jobs]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(count) as pool:
            futures = [pool.submit(job, work, settings) for job, work in jobs]
            results = [future.result() for future in futures]
    for result in results:
        found.update(result)
    return found


def _scan_texts(batch: list[tuple[str, str]], settings: ScanSettings) -> dict[str, Scanned]:
    """A batch scanned with one kept_day (scancache.scan_batch): its days are those on
    which every date decision in the batch comes out the same (a text is scanned again with
    its batch)."""
    found, days = scan_batch(batch, settings.today, settings.email_allowlist)
    return {rel: (found.get(rel, []), days) for rel, _ in batch}


def _scan_attachment(item: tuple[str, Path], settings: ScanSettings) -> dict[str, Scanned]:
    """An attachment's findings, made for today: they hold today only here (scan_file keeps
    its own, by the file's bytes, across days in `.cacop/scan/`)."""
    from ..share import gates

    rel, path = item
    found = gates.scan_file(
        path.read_bytes(), rel, max_tlp=settings.max_tlp, today=settings.today,
        cache_dir=settings.extract_cache, email_allowlist=settings.email_allowlist,
    )  # fmt: skip
    return {rel: (found, [settings.today.toordinal()] * 2)}


class Remembered:
    """What the gate found in each text, kept between builds.

    detect-secrets costs about a millisecond a line (more on long lines), so a rebuild
    after a few edits scans only the changed files; and an entry file whose size, times
    and inode are as they were when its text was read (`unchanged`) is not read again: a
    write changes its ctime, which no one can set back. The record is sealed with this
    user's key and stamped with cacop's code (site/kept.py): one that arrived by pull or
    copy, was edited, or was made by other scanning code is a miss, never trusted. The
    e-mail allowlist changing (in cacop.yaml) starts afresh. Findings hang on the day as
    share/scancache.py's do: each text's record holds from the first to the last day on
    which its scan's date decisions come out the same (scancache.kept_day), a date of
    birth's age is written when it is read (scancache.aged), and on any other day the text
    is scanned again.
    """

    def __init__(self, folder: Path, today: dt.date, allowlist: tuple[str, ...]) -> None:
        from .kept import code_digest, read

        self.path = folder / GATE_CACHE
        self.today = today
        self.stamp = [GATE_CACHE_FORMAT, code_digest(), sorted(allowlist)]
        self.known: dict[str, list] = {}  # digest of a text -> [first day, last day, findings]
        self.used: dict[str, list] = {}
        self.files: dict[str, list] = {}  # rel -> [size, mtime_ns, ctime_ns, inode, digest]
        self.files_used: dict[str, list] = {}
        _, kept = read(self.path, self.stamp)
        if isinstance(kept, dict):
            findings, files = kept.get("findings"), kept.get("files")
            self.known = findings if isinstance(findings, dict) else {}
            self.files = files if isinstance(files, dict) else {}

    @staticmethod
    def digest(rel: str, text: str) -> str:
        return hashlib.sha256(f"{rel}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()

    @staticmethod
    def stat(path: Path) -> list[int]:
        """What says a file is as it was: taken before its text is read."""
        info = os.stat(path)
        return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]

    def unchanged(self, rel: str, stat: list[int]) -> list[Finding] | None:
        """The findings in the file at `rel`, if it is as it was when they were made."""
        known = self.files.get(rel)
        if not (isinstance(known, list) and len(known) == 5 and known[:4] == stat):
            return None
        found = self._findings(rel, known[4])
        if found is not None:
            self.files_used[rel] = known
        return found

    def get(self, rel: str, text: str, stat: list[int] | None = None) -> list[Finding] | None:
        key = self.digest(rel, text)
        found = self._findings(rel, key)
        if found is not None and stat is not None:
            self.files_used[rel] = [*stat, key]
        return found

    def _findings(self, rel: str, key: str) -> list[Finding] | None:
        """The findings kept for a text, as a scan today gives them; None when there are
        none, they do not hold today, or the record is not of its shape."""
        record = self.known.get(key)
        try:
            first, last, rows = record  # type: ignore[misc]
            if not holds([first, last], self.today):
                return None
            found = [
                Finding(str(c), str(k), rel, int(n), aged(str(m), self.today))
                for c, k, n, m in rows
            ]
        except (TypeError, ValueError):
            return None
        self.used[key] = record  # type: ignore[assignment]
        return found

    def put(
        self, rel: str, text: str, findings: list[Finding], stat: list[int] | None, days: list[int]
    ) -> None:
        """Keep a text's findings as scanned (dates of birth not aged) and the first and
        last day (ordinals) on which they hold."""
        rows = [[f.category, f.kind, f.line, f.message] for f in findings]
        key = self.digest(rel, text)
        self.used[key] = [*days, rows]
        if stat is not None:
            self.files_used[rel] = [*stat, key]

    def save(self) -> None:
        from .kept import write

        if self.used != self.known or self.files_used != self.files:
            kept = {"findings": self.used, "files": self.files_used}
            write(self.path, self.stamp, kept)  # unkept, the next build scans everything
