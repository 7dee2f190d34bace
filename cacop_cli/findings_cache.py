"""Each entry file's own findings, kept between runs of `validate` in `.cacop/findings.json`.

A file check's findings are a function of (see `checks`' docstring):

- the file's bytes (their SHA-256) and its path in the KB (the id must match the
  name, the folder the type, the path be portable);
- the stamp, shared by every file: cacop's version and the SHA-256 of its code, which
  PyYAML and jsonschema are installed, the bytes of the schemas the KB uses and of
  cacop's own, the site slugs of kb/sites.yaml (the only part of it a file check
  reads), the template prompts, the KB's limits;
- for a work product, its attachments' facts (`checks.attachment_facts`): each listed
  name's size if it is a regular file, else what it is (missing, a link, a folder
  link, ...). Not their content nor their mtime: the attachment check never opens
  an attachment, so neither can change a finding, and hashing every PDF would cost
  more than checking the entry. The facts are kept with the findings and looked up
  again (one lstat per attachment) before the findings are used.

A file whose key matches is not parsed; any other is read and checked, and its
findings are kept. A file is not even read when its (inode, size, mtime, ctime) are those
kept with its findings, as git's index trusts a file's stat: a rewrite changes the ctime
(which `touch -r`, `cp -p` and `rsync -t` cannot set back) or, by a rename, the inode. A
stat is kept only for a file last written more than `scan.RACY_NS` before it was read (a
same-size write in the same tick of the file system's clock would look alike): such a file
is read and hashed each run until its stat settles. The vocabulary is checked as a whole;
its findings are kept under the SHA-256 of cacop's and the KB's vocabulary files (no file
check reads it).

The cache is never trusted blindly: the file is signed with this user's key (kept
outside any KB, as the search index's record is), so a cache that arrived by copy or
pull, or was edited, or is cut short, fails the check and everything is computed
afresh; a record of the wrong shape is recomputed too. It is JSON, never a pickle,
and written whole to a temporary file that replaces the old one: a reader sees the old
cache or the new, and two runs at once only lose one's additions. Nothing is written
when nothing changed. Deleting it costs one full run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat as stat_kinds
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from . import __version__
from .catalog import Catalog
from .checks import (
    Check,
    Context,
    attachment_facts,
    attachment_folder,
    attachment_names,
    own_findings,
)
from .errors import CacopError, EntryError
from .models import TYPES, Issue
from .scan import RACY_NS

CACHE = "findings.json"
FORMAT = 2  # 2: each file's stat kept beside its digest
MAX_CACHE_BYTES = 256 * 1_048_576
_SEVERITIES = ("error", "warning")


@cache
def code_digest() -> str:
    """The SHA-256 of cacop's own code: a changed check, parser or schema rule (even
    without a new version number) makes every kept finding stale."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(here.rglob("*.py")):
        digest.update(path.relative_to(here).as_posix().encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def _libraries() -> list[Any]:
    """Which PyYAML and jsonschema parse and judge the entries: where each is installed and
    its files' size and mtime (an upgrade rewrites them), without importing either."""
    from importlib.util import find_spec

    found: list[Any] = []
    for name in ("yaml", "jsonschema", "referencing"):
        try:
            spec = find_spec(name)
            origin = spec.origin if spec is not None else None
            info = os.stat(origin) if origin else None
        except (ImportError, ValueError, OSError):
            origin, info = None, None
        found.append([name, origin, info and [info.st_size, info.st_mtime_ns]])
    return found


def _schema_digests(folder: Path) -> list[str]:
    from . import schemas

    digests = []
    for name in schemas.SCHEMA_NAMES:
        try:
            digests.append(
                hashlib.sha256((folder / f"{name}.schema.json").read_bytes()).hexdigest()
            )
        except OSError as exc:
            digests.append(f"unreadable {exc.errno}")
    return digests


def stamp(context: Context) -> str:
    """What every file's findings depend on besides the file: see the module docstring."""
    from . import schemas
    from .checks import template_prompts

    parts = [
        FORMAT,
        code_digest(),
        _libraries(),
        _schema_digests(schemas.schema_dir_for(context.root)),
        _schema_digests(schemas.packaged_schema_dir()),  # names of unknown fields come from it
        sorted(repr(slug) for slug in context.sites),
        {entry_type: template_prompts(entry_type) for entry_type in TYPES},
        sorted(context.limits.items()),
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _row(issue: Issue) -> list[Any]:
    return [issue.severity, issue.code, issue.line, issue.message]


def _issues(rel: str, rows: Any) -> list[Issue] | None:
    """Kept rows as findings of `rel`, or None when they are not what `_row` writes."""
    if not isinstance(rows, list):
        return None
    found = []
    for row in rows:
        if not (
            isinstance(row, list)
            and len(row) == 4
            and row[0] in _SEVERITIES
            and isinstance(row[1], str)
            and type(row[2]) is int
            and isinstance(row[3], str)
        ):
            return None
        found.append(Issue(row[0], row[1], rel, row[2], row[3]))
    return found


@dataclass
class FindingsCache:
    """The kept findings of one KB, opened for one run of `validate`."""

    path: Path
    stamp: str
    # rel -> [sha, names, facts, rows, stat]: stat [inode, size, mtime_ns, ctime_ns] or None
    files: dict[str, list[Any]] = field(default_factory=dict)
    vocabulary: list[Any] = field(default_factory=list)  # [digest, rows]
    changed: bool = False
    settled: dict[str, list[int]] = field(default_factory=dict)  # stats to keep, if written

    @classmethod
    def open(cls, state: Path, context: Context) -> FindingsCache | None:
        """The cache in `state` (`.cacop/`), empty when missing, foreign, damaged or made
        for another stamp; None when this user's key cannot be had (then nothing is kept)."""
        from .index.record import user_key

        try:
            user_key()  # the seal's (sealed.py): without it nothing can be kept or believed
        except CacopError:
            return None
        kept = cls(state / CACHE, stamp(context))
        document = kept._read()
        if isinstance(document, dict) and document.get("stamp") == kept.stamp:
            files, vocabulary = document.get("files"), document.get("vocabulary")
            kept.files = files if isinstance(files, dict) else {}
            kept.vocabulary = vocabulary if isinstance(vocabulary, list) else []
        else:
            kept.changed = True  # written afresh, even if nothing is computed (a new stamp)
        return kept

    def _read(self) -> Any:
        from .safefile import read_regular_file

        try:
            data = read_regular_file(self.path, MAX_CACHE_BYTES, "cache")
        except (EntryError, OSError):
            return None
        from .sealed import opened

        payload = opened(self.path, data)
        if payload is None:  # not sealed by this user
            return None
        try:
            return json.loads(payload)
        except ValueError:
            return None

    def unchanged(self, rel: str, seen: list[int] | None, root: Path) -> list[Issue] | None:
        """The kept findings of the entry file at `rel` (in the KB at `root`), if its stat
        `seen` is the one kept with them (the file is then not read) and they still hold."""
        record = self.files.get(rel)
        if seen is None or not (isinstance(record, list) and len(record) == 5):
            return None
        return self._holding(rel, record, root) if record[4] == seen else None

    def get(
        self, rel: str, digest: str, root: Path, seen: list[int] | None = None
    ) -> list[Issue] | None:
        """The kept findings of the entry file at `rel` (in the KB at `root`) with these
        bytes, if they still hold; `seen`, its settled stat, is kept with them when the
        cache is next written (not written for it alone)."""
        record = self.files.get(rel)
        if not (isinstance(record, list) and len(record) == 5 and record[0] == digest):
            return None
        found = self._holding(rel, record, root)
        if found is not None and seen is not None and record[4] != seen:
            self.settled[rel] = seen
        return found

    def _holding(self, rel: str, record: list[Any], root: Path) -> list[Issue] | None:
        names, facts = record[1], record[2]
        if names is not None:
            if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                return None
            folder = attachment_folder(root / rel)
            if [attachment_facts(folder, name) for name in names] != facts:
                return None
        return _issues(rel, record[3])

    def put(
        self,
        rel: str,
        digest: str,
        names: list[str] | None,
        facts: Any,
        found: list[Issue],
        seen: list[int] | None = None,
    ):
        self.files[rel] = [digest, names, facts, [_row(issue) for issue in found], seen]
        self.changed = True

    def keep_only(self, rels: set[str]) -> None:
        """Forget files that are gone (after a run over the whole KB)."""
        gone = set(self.files) - rels
        for rel in gone:
            del self.files[rel]
        self.changed = self.changed or bool(gone)

    def vocabulary_issues(self, digest: str) -> list[Issue] | None:
        if len(self.vocabulary) != 2 or self.vocabulary[0] != digest:
            return None
        rows = self.vocabulary[1]
        if not isinstance(rows, list) or not all(isinstance(r, list) and r for r in rows):
            return None
        found = [_issues(str(row[0]), [row[1:]]) for row in rows]
        return None if None in found else [issue for one in found for issue in one or ()]

    def keep_vocabulary(self, digest: str, found: list[Issue]) -> None:
        self.vocabulary = [digest, [[issue.path, *_row(issue)] for issue in found]]
        self.changed = True

    def save(self) -> None:
        """Write the cache, if anything changed; a cache that cannot be kept costs time only."""
        if not self.changed:
            return
        for rel, seen in self.settled.items():
            if rel in self.files:
                self.files[rel][4] = seen
        from .index.locks import _prepare_state
        from .sealed import seal

        document = {"stamp": self.stamp, "files": self.files, "vocabulary": self.vocabulary}
        sealed = seal(self.path, json.dumps(document, separators=(",", ":")).encode())
        if sealed is None:
            return
        try:
            _prepare_state(self.path.parent.parent)
        except CacopError:
            return
        temporary = self.path.with_name(f".{CACHE}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(sealed)
            os.replace(temporary, self.path)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


def file_findings(
    root: Path, rels: list[str], context: Context, checks: list[Check], kept: FindingsCache | None
) -> list[Issue]:
    """The file checks' findings for the entry files at `rels` (relative to the KB at
    `root`), from `kept` where they still hold (then updated with what was computed):
    a file is read only if its stat is not the one kept, parsed only if its bytes changed."""
    from .entries import DEFAULT_ENTRY_BYTES, entry_from_bytes
    from .safefile import read_regular_file

    limits = context.limits
    entry_bytes = limits.get("entry_bytes", DEFAULT_ENTRY_BYTES)
    issues: list[Issue] = []
    settled_before = time.time_ns() - RACY_NS
    folder = str(root)
    for rel in rels:
        if kept is not None:  # a string joined, not a Path: 10,000 of them a run
            seen = _settled_stat(os.path.join(folder, rel), settled_before)
            found = kept.unchanged(rel, seen, root)
            if found is not None:
                issues.extend(found)
                continue
        else:
            seen = None
        path = root / rel
        try:
            data = read_regular_file(path, entry_bytes)
        except EntryError as error:  # a link, a pipe, too large: known without the bytes
            issues.append(Issue("error", error.code, rel, error.line, error.message))
            continue
        digest = hashlib.sha256(data).hexdigest() if kept is not None else ""
        if kept is not None:
            found = kept.get(rel, digest, root, seen)
            if found is not None:
                issues.extend(found)
                continue
        names = facts = None
        try:
            entry = entry_from_bytes(data, path, root, limits)
        except EntryError as error:
            found = [Issue("error", error.code, rel, error.line, error.message)]
        else:
            found = own_findings(entry, checks)
            names = attachment_names(entry)
            if names is not None:
                facts = [attachment_facts(attachment_folder(path), name) for name in names]
        if kept is not None:
            kept.put(rel, digest, names, facts, found, seen)
        issues.extend(found)
    return issues


def _settled_stat(path: str, settled_before: int) -> list[int] | None:
    """[inode, size, mtime_ns, ctime_ns] of the regular file at `path`, taken before it is
    read, if it was last written (or its inode changed) before `settled_before`; else None:
    a write in the same tick of the clock as the one read could not be told from it."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat_kinds.S_ISREG(info.st_mode):
        return None
    if info.st_mtime_ns >= settled_before or info.st_ctime_ns >= settled_before:
        return None
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def catalog_findings(catalog: Catalog, rels: list[str], checks: list[Check]) -> list[Issue]:
    """The file checks' findings for the entry files at `rels`, from a catalog read from
    those files this run (`load_catalog` with paths): the same findings `file_findings`
    computes without a cache, with each file read and parsed once instead of twice."""
    entries = {entry.rel: entry for entry in catalog.entries}
    unreadable: dict[str, list[Issue]] = {}
    for issue in catalog.unreadable:
        unreadable.setdefault(issue.path, []).append(issue)
    issues: list[Issue] = []
    for rel in rels:
        entry = entries.get(rel)
        issues.extend(own_findings(entry, checks) if entry else unreadable.get(rel, ()))
    return issues


def vocabulary_findings(root: Path, kept: FindingsCache | None) -> list[Issue]:
    """What `validate` reports about the vocabulary, kept under its two files' contents."""
    from . import vocabulary

    sources = vocabulary.sources(root)
    if kept is None or sources is None:
        return vocabulary.check(root)
    digest = hashlib.sha256(json.dumps([code_digest(), *sources]).encode()).hexdigest()
    found = kept.vocabulary_issues(digest)
    if found is None:
        found = vocabulary.check(root)
        kept.keep_vocabulary(digest, found)
    return found
