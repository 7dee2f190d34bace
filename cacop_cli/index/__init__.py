"""The search index: Whoosh behind one module. The only module that imports Whoosh.

Layout of `.cacop/` (git-ignored, derived, always safe to delete):

    .gitignore          "*": git never picks the folder up, whatever the KB's .gitignore says
    record.json         which generation is live, its files' (inode, size, mtime), the digest of
                        the entry files it was built from; signed with HMAC
    write.lock          held by the one process that changes the index
    read.lock           shared by searches; taken exclusively only while a commit swaps files
    gen-<hex>/          the live Whoosh index, plus manifest.json (path -> size, mtime_ns)
    build-<hex>/        a rebuild in progress (renamed to gen-<hex> when complete)

Whoosh's table of contents and stored fields are pickles, so opening an index
someone else wrote runs their code. We never open one that this clone did not
write: the record is signed with a key kept outside the KB (in the user's
state folder) and names the absolute KB path and every index file's inode, size
and modification time, so a `.cacop/` that arrives by copy or pull, or a file
changed inside it, fails the check and is replaced by a fresh build. The index
is opened at the recorded generation only (never "the newest TOC in the folder").

Nothing here imports Whoosh at module level: commands that do not search must
not pay for it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import heapq
import hmac
import json
import marshal
import os
import re
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

from .. import __version__
from ..errors import Busy, CacopError
from ..scan import dump as dump_scan
from ..scan import scan_entries
from ..scan import take as early_scan

FORMAT = 1  # bump when the schema or the analysis changes: older indexes are rebuilt
INDEX_NAME = "MAIN"
STATE_DIR = ".cacop"
RECORD = "record.json"
MANIFEST = "manifest.marshal"  # path -> [size, mtime_ns]; marshal loads 2x faster than JSON
OLD_MANIFEST = "manifest.json"  # indexes written before marshal hold this: still read
FACETS = "facets.marshal"  # per document, its type, site and topics (see _write_facets)
FACET_FIELDS = ("type", "site", "topic")
FACET_PARTS = "facets-by-segment.marshal"  # the same, per Whoosh segment: for the next commit
STATE_IGNORE = "# cacop's private search index: never commit it\n*\n"
# Seconds a second writer (or a search) waits before "busy"; CACOP_LOCK_WAIT overrides it.
LOCK_WAIT = 10.0


def _lock_wait() -> float:
    try:
        return max(0.0, float(os.environ.get("CACOP_LOCK_WAIT") or LOCK_WAIT))
    except ValueError:
        return LOCK_WAIT


MAX_RECORD_BYTES = 16 * 1_048_576
PARALLEL_FROM = 1_000  # entries: a rebuild this large uses two writer processes
# An update writes a small segment of its own and never merges (Whoosh merges term by
# term, in Python: 8-18 s at 10k). Once this many small segments (under SMALL_SEGMENT
# documents) have gathered, merge() joins them, in a detached process (see merge()).
MERGE_AT = 10
SMALL_SEGMENT = 2_000
ENTRY_FOLDERS = ("strategies", "work-products", "rfis")

# Text fields searched by default, and how much a match in each counts (BM25F field weights).
TEXT_BOOSTS = {"title": 3.0, "tags": 2.0, "summary": 1.5, "body": 1.0}
# A case number like 24-013377 or 2024/013 stays one token; other words split on punctuation.
TOKEN_PATTERN = r"\d+(?:[-/.]\d+)+|\w+(?:\.?\w+)*"

STORED = ("path", "id", "type", "title", "site", "created", "updated", "topic")
# The kind of each field of schema() (a test keeps the two equal). The record's identity is
# made from this table, so the freshness check need not import Whoosh's fields and analysis.
FIELD_KINDS = {
    "author": "TEXT", "body": "TEXT", "created": "ID", "date": "ID", "evidence": "ID",
    "id": "ID", "needed_by": "ID", "path": "ID", "priority": "ID", "product_type": "ID",
    "rfi": "ID", "site": "ID", "spell": "TEXT", "status": "ID", "summary": "TEXT",
    "tag": "KEYWORD", "tags": "TEXT", "title": "TEXT", "tlp": "ID", "to": "KEYWORD",
    "topic": "KEYWORD", "type": "ID", "updated": "ID",
}  # fmt: skip


# ---------------------------------------------------------------- schema and analysis


@functools.cache
def _defer_unused_whoosh_modules() -> None:
    """Let Whoosh load two modules it imports, that cacop never uses, only when first used.

    whoosh.searching imports whoosh.highlight (Results builds a highlighter, and our own
    searches build no Results), and whoosh.query imports whoosh.lang.morph_en, which
    compiles some 50 regular expressions of English word forms for a query type we never
    build. importlib's LazyLoader loads a module at its first attribute access (the
    package attribute is set too, or `from whoosh import highlight` would touch it);
    morph_en is imported as `from ... import variations`, so it gets a stand-in whose
    `variations` loads the real module.
    """
    import importlib.util
    import sys
    import types

    import whoosh

    name = "whoosh.highlight"
    spec = importlib.util.find_spec(name)
    if name not in sys.modules and spec is not None and spec.loader is not None:
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        whoosh.highlight = module  # type: ignore[attr-defined]
        spec.loader.exec_module(module)
    name = "whoosh.lang.morph_en"
    if name not in sys.modules:
        stand_in = types.ModuleType(name)

        def variations(word: str) -> Any:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            return importlib.import_module(name).variations(word)

        stand_in.variations = variations  # type: ignore[attr-defined]
        sys.modules[name] = stand_in


def _analyzers() -> tuple[Any, Any]:
    """(stemming analyser for ranked text, plain analyser for spelling and names)."""
    _defer_unused_whoosh_modules()
    from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
    from whoosh.lang.porter2 import stem

    plain = RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter()
    # minsize=1 keeps one-character words and tags (Whoosh's default drops them). Porter2
    # (Snowball English) rather than Whoosh's default Porter: "deduplicating" and
    # "deduplicate" share a stem only in Porter2.
    chain = plain | StopFilter(minsize=1) | StemFilter(stemfn=stem, cachesize=100_000)
    fused = globals().get("FastStemming") or __getattr__("FastStemming")
    return fused(*chain.items), plain


def _fast_stemming_class() -> type:
    """Whoosh's tokenizer | lowercase | stop | stem chain run as one loop (the same tokens).

    Each stage of a Whoosh chain is a generator handing one shared Token along: four
    Python frames per word. Fused, analysing a 900-word body takes about a third of the
    time, and analysis is most of a build's work. Rare calls (character offsets, the
    original text, no tokenising) take the chain itself. A test compares the two.
    """
    from whoosh.analysis.acore import Token
    from whoosh.analysis.analyzers import CompositeAnalyzer

    class FastStemming(CompositeAnalyzer):
        def __call__(  # type: ignore[override]
            self,
            value: str,
            positions: bool = False,
            chars: bool = False,
            keeporiginal: bool = False,
            removestops: bool = True,
            start_pos: int = 0,
            start_char: int = 0,
            tokenize: bool = True,
            mode: str = "",
            no_morph: bool = False,
            **kwargs: Any,
        ) -> Iterator[Any]:
            if chars or keeporiginal or not tokenize or start_char:
                return CompositeAnalyzer.__call__(
                    self, value, no_morph=no_morph, positions=positions, chars=chars,
                    keeporiginal=keeporiginal, removestops=removestops, start_pos=start_pos,
                    start_char=start_char, tokenize=tokenize, mode=mode, **kwargs,
                )  # fmt: skip
            assert isinstance(value, str), f"{value!r} is not unicode"
            token = Token(positions, False, removestops=removestops, mode=mode, **kwargs)
            return self._fused(value, token, positions, removestops, start_pos, no_morph)

        def _fused(
            self,
            value: str,
            token: Any,
            positions: bool,
            removestops: bool,
            start_pos: int,
            no_morph: bool,
        ) -> Iterator[Any]:
            tokenizer, _, stopper, stemmer = self.items
            stops, shortest, longest = stopper.stops, stopper.min, stopper.max
            stem = None if no_morph else stemmer._stem
            stems = STEMS if stemmer.stemfn is _porter2() else None
            unstemmed = stemmer.ignore
            renumber = stopper.renumber and positions  # words after a stop word close up
            kept = None  # position of the last word kept, when renumbering
            for position, match in enumerate(tokenizer.expression.finditer(value), start_pos):
                text = match.group(0).lower()
                if (
                    len(text) >= shortest
                    and (longest is None or len(text) <= longest)
                    and text not in stops
                ):
                    token.stopped = False
                    if stem is not None and text not in unstemmed:
                        if stems is None:
                            text = stem(text)
                        else:  # a dict lookup; Porter2 only for a word never met
                            stemmed = stems.get(text)
                            if stemmed is None:
                                stemmed = stems[text] = stem(text)
                            text = stemmed
                    if renumber:
                        position = kept = position if kept is None else kept + 1
                elif removestops:
                    continue
                else:
                    token.stopped = True
                token.text = text
                token.boost = 1.0
                if positions:
                    token.pos = position
                yield token

    FastStemming.__module__ = __name__
    FastStemming.__qualname__ = FastStemming.__name__ = "FastStemming"
    return FastStemming


# Every word's Porter2 stem met so far: stemming a word takes ~17 us in Python, and the
# distinct words of 10 changed entries (~2,700) took 40-80 ms of a refresh to stem afresh.
# Remembered beside the index (STEMS_FILE) for the next writer.
STEMS: dict[str, str] = {}
STEMS_FILE = "stems.marshal"


def _porter2() -> Any:
    from whoosh.lang.porter2 import stem

    return stem


def _load_stems(folder: Path) -> int:
    """Add the stems remembered in a verified generation folder; how many STEMS then holds."""
    try:
        remembered = marshal.loads((folder / STEMS_FILE).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return len(STEMS)
    if isinstance(remembered, dict):
        STEMS.update(remembered)
    return len(STEMS)


def _save_stems(folder: Path, reader: Any | None = None) -> None:
    """Remember STEMS in `folder`; with a reader, first stem every word the index holds
    (its unstemmed `spell` words: after a rebuild, whose stemming ran in other processes)."""
    if reader is not None:
        stem = _porter2()
        for raw in reader.lexicon("spell"):
            word = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if word not in STEMS:
                STEMS[word] = stem(word)
    (folder / STEMS_FILE).write_bytes(marshal.dumps(STEMS))


def __getattr__(name: str) -> Any:
    """FastStemming is made on first use (it needs Whoosh), and found here by pickle."""
    if name == "FastStemming":
        made = globals()["FastStemming"] = _fast_stemming_class()
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ANALYZERS: tuple[Any, Any] | None = None


def analyzers() -> tuple[Any, Any]:
    global _ANALYZERS
    if _ANALYZERS is None:
        _ANALYZERS = _analyzers()
    return _ANALYZERS


def schema() -> Any:
    from whoosh.fields import ID, KEYWORD, TEXT, Schema

    stemming, plain = analyzers()
    return Schema(
        path=ID(stored=True, unique=True),
        id=ID(stored=True),
        type=ID(stored=True),
        site=ID(stored=True),
        status=ID,
        tlp=ID,
        evidence=ID,
        product_type=ID,
        priority=ID,
        rfi=ID,
        to=KEYWORD(commas=True, lowercase=True),
        created=ID(stored=True),
        updated=ID(stored=True),
        needed_by=ID,
        date=ID,
        topic=KEYWORD(stored=True, commas=True, lowercase=True),
        tag=KEYWORD(commas=True, lowercase=True),
        author=TEXT(analyzer=plain, phrase=True),
        title=TEXT(analyzer=stemming, stored=True, field_boost=TEXT_BOOSTS["title"]),
        tags=TEXT(analyzer=stemming, field_boost=TEXT_BOOSTS["tags"]),
        summary=TEXT(analyzer=stemming, field_boost=TEXT_BOOSTS["summary"]),
        body=TEXT(analyzer=stemming, field_boost=TEXT_BOOSTS["body"]),
        spell=TEXT(analyzer=plain, phrase=False),  # unstemmed words for typo correction
    )


@functools.cache
def schema_digest() -> str:
    """Identifies everything that decides how the index reads: ours, Whoosh's, the schema."""
    import whoosh  # the package alone: its version, no submodule

    described = json.dumps(
        {
            "format": FORMAT,
            "cacop": __version__,
            "whoosh": whoosh.versionstring(),
            "token": TOKEN_PATTERN,
            "stemmer": "porter2",
            "boosts": TEXT_BOOSTS,
            "fields": FIELD_KINDS,
        },
        sort_keys=True,
    )
    return hashlib.sha256(described.encode()).hexdigest()[:32]


def tokens(text: str, stemmed: bool = True) -> list[str]:
    """The index's own tokens for some text (what a query word becomes)."""
    stemming, plain = analyzers()
    analyzer = stemming if stemmed else plain
    return [token.text for token in analyzer(text)]


# ---------------------------------------------------------------- files and freshness


def scan_digest(scan: dict[str, list[int]]) -> str:
    """A fingerprint of a scan, for the record (marshal: 5x cheaper than formatting lines)."""
    listed = [(path, *stats) for path, stats in sorted(scan.items())]
    return hashlib.sha256(marshal.dumps(listed)).hexdigest()


# ---------------------------------------------------------------- the signed record


def _key_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cacop" / "index.key"


def _key() -> bytes:
    """This user's secret for signing index records; made on first use, kept outside any KB."""
    path = _key_path()
    try:
        return bytes.fromhex(path.read_text("ascii").strip())
    except (FileNotFoundError, ValueError):
        pass
    except OSError as exc:
        raise CacopError(
            f"cannot read the search index key {path}: {exc.strerror}",
            hint="set XDG_STATE_HOME to a folder you can write to",
        ) from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # first writer wins; never replace a key in use
        temporary.unlink(missing_ok=True)
        return bytes.fromhex(path.read_text("ascii").strip())
    except (OSError, ValueError) as exc:
        raise CacopError(
            f"cannot keep the search index key in {path}: {exc}",
            hint="set XDG_STATE_HOME to a folder you can write to",
        ) from exc


def _sign(document: dict[str, Any]) -> str:
    payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_key(), payload, hashlib.sha256).hexdigest()


@dataclass
class Record:
    """What the live index is, and what it was built from."""

    generation: str  # folder name, gen-<hex>
    toc: int  # Whoosh generation of the table of contents
    files: dict[str, list[int]]  # file name -> [inode, size, mtime_ns]
    digest: str  # scan_digest of the entry files it holds
    count: int
    broken: dict[str, str] = field(default_factory=dict)  # path -> "line: message"

    @property
    def version(self) -> tuple[str, int]:
        """Which index this is: a rebuild makes a new generation, an update a new toc."""
        return (self.generation, self.toc)


class Untrusted(Exception):
    """The index on disk may not be opened; `reason` says why, for the notice."""

    def __init__(self, reason: str, first_use: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.first_use = first_use


_GENERATION = re.compile(r"gen-[0-9a-f]{16}")


def _file_stats(folder: Path) -> dict[str, list[int]]:
    stats = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith("_LOCK") or name.endswith("WRITELOCK"):
            continue
        info = os.lstat(folder / name)
        stats[name] = [info.st_ino, info.st_size, info.st_mtime_ns]
    return stats


def _identity(root: Path) -> dict[str, Any]:
    return {"format": FORMAT, "cacop": __version__, "root": str(root), "schema": schema_digest()}


def read_record(root: Path) -> Record:
    """The verified record of the live index, or Untrusted with the reason."""
    state = root / STATE_DIR
    try:
        info = os.lstat(state / RECORD)
        if info.st_mode & 0o170000 != 0o100000 or info.st_size > MAX_RECORD_BYTES:
            raise Untrusted("its record is not a plain file")
        document = json.loads((state / RECORD).read_bytes())
    except FileNotFoundError as exc:
        raise Untrusted("there is no search index yet", first_use=True) from exc
    except (OSError, ValueError) as exc:
        raise Untrusted(f"its record cannot be read ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("mac"), str):
        raise Untrusted("its record is not one this clone wrote")
    mac = document.pop("mac")
    if not hmac.compare_digest(mac, _sign(document)):
        raise Untrusted("it was not written by this clone (copied or pulled in?)")
    identity = _identity(root)
    recorded = document.get("identity")
    if not isinstance(recorded, dict) or recorded.get("root") != identity["root"]:
        raise Untrusted("it was not written by this clone (it was made for another folder)")
    if recorded != identity:
        raise Untrusted("it was made by another version of cacop")
    generation = document.get("generation", "")
    if not _GENERATION.fullmatch(generation):
        raise Untrusted("its record names no index folder")
    folder = state / generation
    try:
        if not os.path.isdir(folder) or os.path.islink(folder):
            raise Untrusted("its folder is missing")
        actual = {
            name: _stat_list(folder / name) for name in document["files"]
        }  # only what we wrote
    except (OSError, KeyError, TypeError) as exc:
        raise Untrusted("some of its files are missing") from exc
    if actual != document["files"]:
        raise Untrusted("some of its files were changed after cacop wrote them")
    return Record(
        generation=generation,
        toc=int(document["toc"]),
        files=document["files"],
        digest=document["digest"],
        count=int(document["count"]),
        broken=dict(document.get("broken") or {}),
    )


def _stat_list(path: Path) -> list[int]:
    info = os.lstat(path)
    if info.st_mode & 0o170000 != 0o100000:
        raise OSError(f"{path.name} is not a regular file")
    return [info.st_ino, info.st_size, info.st_mtime_ns]


def _write_record(root: Path, record: Record) -> None:
    state = root / STATE_DIR
    document = {
        "identity": _identity(root),
        "generation": record.generation,
        "toc": record.toc,
        "files": record.files,
        "digest": record.digest,
        "count": record.count,
        "broken": record.broken,
    }
    document["mac"] = _sign(document)
    temporary = state / f".{RECORD}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(document, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, state / RECORD)
    finally:
        temporary.unlink(missing_ok=True)


# ---------------------------------------------------------------- locks


def _prepare_state(root: Path) -> Path:
    state = root / STATE_DIR
    if state.is_symlink():
        raise CacopError(
            f"{state} is a symbolic link; cacop keeps its index only in a real folder",
            hint=f"remove it (`rm {state}`); the index is rebuilt from the entries",
        )
    try:
        state.mkdir(exist_ok=True)
    except OSError as error:  # a file in the way, a folder we may not write, a full disk
        raise _unusable(state, error) from None
    ignore = state / ".gitignore"
    try:  # whole, not merely there: a full disk can leave it empty, and git would then see
        whole = ignore.stat().st_size == len(STATE_IGNORE)  # the index (validate flags that)
    except OSError:
        whole = False
    if not whole:
        with contextlib.suppress(OSError):
            ignore.write_text(STATE_IGNORE)
    return state


def _write_refused(error: BaseException) -> TypeGuard[OSError]:
    """Did the system refuse a write (a full disk or quota, a read-only or foreign folder)?"""
    refusals = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)
    return isinstance(error, OSError) and error.errno in refusals


@contextlib.contextmanager
def _refusals_explained(root: Path) -> Iterator[None]:
    """A write to the index that the system refuses ends the command with what to do, not
    with an OSError from deep inside Whoosh (nothing is lost: the index is derived)."""
    try:
        yield
    except OSError as error:
        if _write_refused(error):
            raise _unusable(root / STATE_DIR / RECORD, error) from error  # names .cacop/
        raise


def _unusable(path: Path, error: OSError) -> CacopError:
    """Why the index's folder or lock cannot be used, and what to do about it."""
    reason = (error.strerror or type(error).__name__).lower()
    if isinstance(error, FileExistsError | NotADirectoryError | IsADirectoryError):
        needed = "a file" if isinstance(error, IsADirectoryError) else "a folder"
        return CacopError(
            f"{path} is in the way of the search index: cacop keeps {needed} there",
            hint="remove it, then try again; the index is rebuilt from the entries",
        )
    if isinstance(error, PermissionError) or error.errno == errno.EROFS:
        return CacopError(
            f"the search index cannot be written in {path.parent}: {reason}",
            hint="search keeps its index beside the entries: work in your own clone of the "
            "knowledge base (`git clone URL`), or ask the folder's owner for write access",
        )
    return CacopError(
        f"the search index cannot be written in {path.parent}: {reason}",
        hint="free some space or repair the folder, then try again",
    )


@contextlib.contextmanager
def _locked(path: Path, exclusive: bool, wait: float | None, what: str) -> Iterator[None]:
    wait = _lock_wait() if wait is None else wait
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise _unusable(path, error) from None
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(
                        f"the search index is busy: another cacop is {what} (waited {wait:.0f} s)",
                        hint="try again in a moment; `cacop index --rebuild` on a large KB "
                        "takes a minute or two",
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def write_lock(root: Path, wait: float | None = None) -> contextlib.AbstractContextManager[None]:
    state = _prepare_state(root)
    return _locked(state / "write.lock", True, wait, "updating it")


def _swap_lock(root: Path, wait: float | None = None) -> contextlib.AbstractContextManager[None]:
    return _locked(root / STATE_DIR / "read.lock", True, wait, "searching it")


def read_lock(root: Path, wait: float | None = None) -> contextlib.AbstractContextManager[None]:
    state = _prepare_state(root)
    return _locked(state / "read.lock", False, wait, "changing it")


# ---------------------------------------------------------------- opening


def _pinned_index(folder: Path, toc: int, readonly: bool) -> Any:
    """The Whoosh index in `folder` at exactly generation `toc` (never the newest on disk)."""
    _defer_unused_whoosh_modules()
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import TOC, FileIndex

    class PinnedIndex(FileIndex):
        def __init__(self, storage: Any, fields: Any) -> None:  # no probing of the folder
            self.storage = storage
            self._schema = fields
            self.indexname = INDEX_NAME

        def _read_toc(self) -> Any:
            return TOC.read(self.storage, self.indexname, gen=toc, schema=self._schema)

        def latest_generation(self) -> int:
            return toc

    storage = FileStorage(str(folder), supports_mmap=False, readonly=readonly)
    return PinnedIndex(storage, schema())


# ---------------------------------------------------------------- building and updating

ProgressCallback = Callable[[int, int], None]
DocumentMaker = Callable[[str], "dict[str, Any] | str"]  # path -> fields, or why it is broken


@dataclass
class UpdateReport:
    added: int = 0
    changed: int = 0
    removed: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # path -> "line: message"
    rebuilt: bool = False
    reason: str | None = None  # why it was rebuilt
    first_use: bool = False
    count: int = 0
    broken: dict[str, str] = field(default_factory=dict)  # all entries the index lacks
    unchanged: tuple[str, int] | None = None  # (generation, toc) found up to date, untouched
    merge_due: bool = False  # MERGE_AT small segments have gathered: see merge()


def _clean_leftovers(state: Path, keep: str | None) -> None:
    """Folders of killed rebuilds and replaced generations. Call with the write lock held."""
    for child in state.iterdir():
        if child.name != keep and (child.name.startswith(("build-", "gen-"))):
            if child.is_symlink() or not child.is_dir():
                child.unlink(missing_ok=True)
            else:
                shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(f".{RECORD}."):
            child.unlink(missing_ok=True)


def rebuild(
    root: Path,
    make_document: DocumentMaker,
    progress: ProgressCallback | None = None,
    reason: str | None = None,
    wait: float | None = None,
) -> UpdateReport:
    """Build a new index beside the live one, then switch to it in one rename of the record."""
    with _refusals_explained(root), write_lock(root, wait):
        return _rebuild_locked(root, make_document, progress, reason)


def _rebuild_locked(
    root: Path,
    make_document: DocumentMaker,
    progress: ProgressCallback | None,
    reason: str | None,
    first_use: bool = False,
) -> UpdateReport:
    from whoosh.filedb.filestore import FileStorage

    state = root / STATE_DIR
    try:
        live = read_record(root).generation
    except Untrusted:
        live = None
    _clean_leftovers(state, keep=live)
    token = secrets.token_hex(8)
    building = state / f"build-{token}"
    scan = scan_entries(root)
    paths = sorted(scan)
    report = UpdateReport(rebuilt=True, reason=reason, first_use=first_use)
    writer = None
    try:
        building.mkdir()
        storage = FileStorage(str(building), supports_mmap=False)
        index = storage.create_index(schema(), indexname=INDEX_NAME)
        # Large builds use two processes, each writing its own segments (multisegment skips
        # the final merge, 35-40% of a plain build's time; WHOOSH.md). Small ones don't fork.
        procs = min(2, os.cpu_count() or 1) if len(paths) >= PARALLEL_FROM else 1
        options = {"procs": procs, "multisegment": True} if procs > 1 else {}
        writer = index.writer(limitmb=128, **options)
        for done, path in enumerate(paths, 1):
            document = make_document(path)
            if isinstance(document, str):
                report.skipped[path] = document
            else:
                writer.add_document(**document)
                report.added += 1
            if progress:
                progress(done, len(paths))
        writer.commit()
        _write_manifest(building, scan)
        toc = _latest_toc(building)
        _write_facets(building, toc)
        with _pinned_index(building, toc, readonly=True).reader() as reader:
            _save_stems(building, reader)
        generation = f"gen-{token}"
        os.rename(building, state / generation)
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):  # a writer its own failure closed can't cancel
                writer.cancel()
        shutil.rmtree(building, ignore_errors=True)  # on a full disk, give the space back
        raise
    record = Record(
        generation=generation,
        toc=toc,
        files=_file_stats(state / generation),
        digest=scan_digest(scan),
        count=report.added,
        broken=dict(report.skipped),
    )
    with _swap_lock(root):
        _write_record(root, record)
    _clean_leftovers(state, keep=generation)
    report.count, report.broken = record.count, record.broken
    return report


def merge(root: Path, attempts: int = 3) -> bool:
    """Merge the small segments that updates leave (one per commit) once MERGE_AT have
    gathered. True if a merged index went live.

    Whoosh merges term by term (~100 us per term and segment: 8-18 s at 10,000 entries),
    so no command waits for this: `merge_in_background` runs it detached, as `git gc
    --auto` does. It works in a copy of the live generation, holding hard links to
    Whoosh's segment and TOC files (written once, never changed) and copies of ours
    (rewritten in place), while searches and updates go on with the live one. It switches
    to the copy only if no writer changed the index meanwhile; else it tries again.
    """
    state = root / STATE_DIR
    with _locked(state / "merge.lock", True, 0, "merging it"):  # one merge at a time
        for _ in range(attempts):
            went_live = _merge_once(root, state)
            if went_live is not None:
                return went_live
    return False


def _merge_once(root: Path, state: Path) -> bool | None:
    """True: merged and live. False: nothing to merge. None: a writer came first."""
    with read_lock(root):
        record = read_record(root)
    live = state / record.generation
    if len(_small(_pinned_index(live, record.toc, readonly=True)._segments())) < MERGE_AT:
        return False
    token = secrets.token_hex(8)
    building = state / f"build-{token}"
    building.mkdir()
    try:
        for name in record.files:
            if name.endswith((".seg", ".toc")):
                os.link(live / name, building / name)
            elif not name.endswith("LOCK"):
                shutil.copy2(live / name, building / name)
        index = _pinned_index(building, record.toc, readonly=False)
        writer = index.writer(timeout=LOCK_WAIT, codec=_update_codec())
        writer.commit(mergetype=_merge_small_segments)
        toc = _latest_toc(building)
        _write_facets(building, toc)
        with write_lock(root, LOCK_WAIT):
            if read_record(root) != record:  # files too: a manifest rewritten in place
                return None  # an update or a rebuild came first: theirs stands
            generation = f"gen-{token}"
            os.rename(building, state / generation)
            merged = replace(
                record, generation=generation, toc=toc, files=_file_stats(state / generation)
            )
            with _swap_lock(root):
                _write_record(root, merged)
            _clean_leftovers(state, keep=generation)
            return True
    finally:
        shutil.rmtree(building, ignore_errors=True)  # gone already if it went live


MERGE_COMMAND = (
    "import sys; from pathlib import Path; from cacop_cli.index import merge; "
    "merge(Path(sys.argv[1]))"
)


def merge_in_background(root: Path) -> None:
    """Start `merge(root)` in a detached Python process that outlives this command."""
    import subprocess
    import sys

    with contextlib.suppress(OSError):
        subprocess.Popen(
            [sys.executable, "-c", MERGE_COMMAND, str(root)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )  # fmt: skip


def _latest_toc(folder: Path) -> int:
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import TOC

    return TOC._latest_generation(FileStorage(str(folder), readonly=True), INDEX_NAME)


def refresh(
    root: Path,
    make_document: DocumentMaker,
    progress: ProgressCallback | None = None,
    wait: float | None = None,
) -> UpdateReport:
    """Bring the index up to date with the entry files: only what was added, changed, removed.

    Cheap when nothing changed: a stat of each entry file, compared with the manifest
    (path -> size, mtime_ns) kept beside the index. An index that is missing, damaged
    or not this clone's is rebuilt; `reason` says why.
    """
    checked = None
    early = early_scan(root)  # taken first: its process never waits out a rebuild
    try:
        record = read_record(root)
        folder = root / STATE_DIR / record.generation
        held = _manifest_bytes(folder)
        scanned = early if early is not None else dump_scan(scan_entries(root))
        if scanned == held and FACETS in record.files:  # the same bytes: nothing to load
            return UpdateReport(count=record.count, broken=record.broken, unchanged=record.version)
        scan = marshal.loads(scanned)
        manifest = _read_manifest(folder, held)
        checked = (record, scan, manifest)
    except (Untrusted, OSError, ValueError, EOFError, TypeError):
        pass
    with _refusals_explained(root), write_lock(root, wait):
        try:
            record = read_record(root)
        except Untrusted as untrusted:
            return _rebuild_locked(
                root, make_document, progress, untrusted.reason, untrusted.first_use
            )
        # No other writer committed while we waited: what we scanned and read still holds.
        known = checked[1:] if checked and checked[0] == record else None
        try:
            return _update_locked(root, record, make_document, progress, known)
        except CacopError:
            raise
        except Exception as exc:  # a damaged file; Whoosh raises many kinds
            if _write_refused(exc):  # not damage: a rebuild could not be written either
                raise
            reason = f"it was damaged ({type(exc).__name__})"
            return _rebuild_locked(root, make_document, progress, reason)


def _manifest_bytes(folder: Path) -> bytes | None:
    """The manifest file's bytes (None for an index from before it, which kept JSON)."""
    try:
        return (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None


def _read_manifest(folder: Path, held: bytes | None = None) -> dict[str, list[int]]:
    """What the index holds (path -> [size, mtime_ns]); `held`: its bytes, already read.
    Read only after read_record checked the file is the one this clone wrote (marshal,
    like pickle, is for trusted data only)."""
    if held is None:
        held = _manifest_bytes(folder)
    try:  # marshal.loads of the bytes: marshal.load of a file reads it piece by piece (10x)
        manifest = json.loads((folder / OLD_MANIFEST).read_bytes()) if held is None else (
            marshal.loads(held)
        )  # fmt: skip
    except EOFError as exc:
        raise ValueError("the manifest is cut short") from exc
    if not isinstance(manifest, dict):
        raise ValueError("the manifest is not a mapping")
    return manifest


def _write_manifest(folder: Path, scan: dict[str, list[int]]) -> None:
    """As scan.dump writes a scan: an unchanged KB's scan then has exactly these bytes."""
    (folder / MANIFEST).write_bytes(dump_scan(scan))


def _update_codec() -> Any:
    """Whoosh's own codec, without compressing posting blocks: for the small segments of an
    update. zlib sets up its state afresh for every block (~18 us here) and an update of
    ten entries writes ~1,000 blocks of a few hundred bytes: 17-36 ms of each commit, to
    save a few kB. Readers follow each block's own flag; rebuilds keep compressing."""
    from whoosh.codec.whoosh3 import W3Codec

    return W3Codec(compression=0)


def _small(segments: list[Any]) -> list[Any]:
    return [segment for segment in segments if segment.doc_count_all() < SMALL_SEGMENT]


def _merge_small_segments(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh merge policy: leave segments alone until MERGE_AT small ones have gathered."""
    from whoosh.reading import SegmentReader

    small = _small(segments)
    if len(small) < MERGE_AT:
        return segments
    for segment in small:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()
    return [segment for segment in segments if segment not in small]


def _update_locked(
    root: Path,
    record: Record,
    make_document: DocumentMaker,
    progress: ProgressCallback | None,
    known: tuple[dict[str, list[int]], dict[str, list[int]]] | None = None,
) -> UpdateReport:
    """`known`: (scan, manifest) just read for this same record, not to be read twice."""
    state = root / STATE_DIR
    folder = state / record.generation
    scan, manifest = known or (scan_entries(root), _read_manifest(folder))
    if scan == manifest:
        old_facets = FACETS not in record.files  # an index from before the facet table
        old_bytes = _manifest_bytes(folder) != dump_scan(scan)  # older format, or order
        if old_facets or old_bytes:  # bring it up to date, so the next check is quick
            with _swap_lock(root):
                if old_facets:
                    _write_facets(folder, record.toc)
                _write_manifest(folder, scan)
                (folder / OLD_MANIFEST).unlink(missing_ok=True)
                _write_record(root, replace(record, files=_file_stats(folder)))
        return UpdateReport(count=record.count, broken=record.broken, unchanged=record.version)
    digest = scan_digest(scan)
    added = sorted(set(scan) - set(manifest))
    removed = sorted(set(manifest) - set(scan))
    changed = sorted(path for path in set(scan) & set(manifest) if scan[path] != manifest[path])
    for name in os.listdir(folder):  # what a killed writer left: never part of the record
        if name not in record.files and not name.endswith("LOCK"):
            (folder / name).unlink(missing_ok=True)
    report = UpdateReport(removed=len(removed))
    broken = {path: why for path, why in record.broken.items() if path in scan}
    from whoosh.writing import NO_MERGE

    index = _pinned_index(folder, record.toc, readonly=False)
    writer = index.writer(timeout=LOCK_WAIT, codec=_update_codec())
    count = record.count
    known_stems = _load_stems(folder)
    try:
        for path in removed:
            count -= writer.delete_by_term("path", path)
            broken.pop(path, None)
        work = [*added, *changed]
        for done, path in enumerate(work, 1):
            document = make_document(path)
            if isinstance(document, str):
                count -= writer.delete_by_term("path", path)
                report.skipped[path] = broken[path] = document
            else:
                count -= writer.delete_by_term("path", path)
                writer.add_document(**document)
                count += 1
                broken.pop(path, None)
                if path in manifest:
                    report.changed += 1
                else:
                    report.added += 1
            if progress:
                progress(done, len(work))
        with _swap_lock(root):
            writer.commit(mergetype=NO_MERGE)  # merging is merge()'s work, in the background
            _write_manifest(folder, scan)
            (folder / OLD_MANIFEST).unlink(missing_ok=True)
            toc = _latest_toc(folder)
            _write_facets(folder, toc)
            if len(STEMS) > known_stems:
                _save_stems(folder)
            new_record = Record(
                generation=record.generation,
                toc=toc,
                files=_file_stats(folder),
                digest=digest,
                count=count,
                broken=broken,
            )
            _write_record(root, new_record)
    except BaseException:
        with contextlib.suppress(Exception):
            writer.cancel()
        raise
    report.count, report.broken = count, broken
    segments = _pinned_index(folder, toc, readonly=True)._segments()
    report.merge_due = len(_small(segments)) >= MERGE_AT
    return report


# ---------------------------------------------------------------- searching


@dataclass
class RawHit:
    fields: dict[str, Any]
    score: float


class Searcher:
    """An open, verified index under the shared read lock. Use `open_searcher(root)`."""

    def __init__(self, index: Any, folder: Path | None = None, toc: int | None = None) -> None:
        self.index = index
        self.searcher = index.searcher()
        self.reader = self.searcher.reader()
        self.schema = self.searcher.schema
        _lengths_in_memory(self.reader)
        self.facets = _read_facets(folder, toc) if folder is not None else {}
        # Which index this is, as Record.version: (generation folder, toc).
        self.version = (folder.name, toc) if folder is not None and toc is not None else None

    def close(self) -> None:
        self.searcher.close()

    # ---- queries

    def compile(self, node: Any) -> Any:
        """Our query tree (query.py's nodes) as a Whoosh query."""
        from whoosh import query as q

        from ..query import QUERY_FIELDS

        kind = type(node).__name__
        if kind == "Every":
            return q.Every()
        if kind == "AllOf":  # a stop word ("for", "to") compiles to nothing: leave it out
            parts = [self.compile(item) for item in node.items]
            parts = [part for part in parts if part is not q.NullQuery]
            return q.And(parts) if parts else q.NullQuery
        if kind == "AnyOf":
            return q.Or([self.compile(item) for item in node.items])
        if kind == "Ranked":  # any of the words, documents with more of them first
            return q.Or([self.compile(item) for item in node.items], scale=0.9)
        if kind == "Not":
            return q.Not(self.compile(node.item))
        if kind == "Synonyms":  # forms that analyse alike (hot spot, hot-spot) count once
            unique = {tuple(tokens(form)): form for form in node.forms}
            return q.Or([self._text(form, None, phrase=True) for form in unique.values()])
        if kind == "Term":
            return self._term(node)
        if kind == "Phrase":
            return self._text(node.text, node.field, phrase=True)
        if kind == "Range":
            name, _ = QUERY_FIELDS[node.field]
            return q.TermRange(name, node.low or None, node.high or None)
        raise ValueError(f"unknown query node {kind}")

    def _term(self, node: Any) -> Any:
        from whoosh import query as q

        from ..query import QUERY_FIELDS

        if node.field is None or QUERY_FIELDS[node.field][1] == "text":
            if node.prefix:
                return self._prefix(node.text, node.field)
            return self._text(node.text, node.field, phrase=False)
        name, kind = QUERY_FIELDS[node.field]
        if kind == "words":
            words = tokens(node.text, stemmed=False)
            if node.prefix and words:
                return q.Prefix(name, words[-1])
            return q.And([q.Term(name, word) for word in words]) if words else q.NullQuery
        value = node.text.lower()
        return q.Prefix(name, value) if node.prefix or kind == "date" else q.Term(name, value)

    def _fields(self, field_name: str | None) -> list[str]:
        from ..query import QUERY_FIELDS

        if field_name is None or field_name == "text":
            return list(TEXT_BOOSTS)
        return [QUERY_FIELDS[field_name][0]]

    def _text(self, text: str, field_name: str | None, phrase: bool) -> Any:
        from whoosh import query as q

        words = tokens(text)
        if not words:
            return q.NullQuery
        parts = []
        for name in self._fields(field_name):
            if len(words) == 1:
                parts.append(q.Term(name, words[0]))
            elif phrase:
                parts.append(q.Phrase(name, words))
            else:  # one query word the analyser split (co-offending): its parts in order
                parts.append(q.Phrase(name, words))
        return parts[0] if len(parts) == 1 else q.Or(parts)

    def _prefix(self, text: str, field_name: str | None) -> Any:
        from whoosh import query as q

        words = tokens(text, stemmed=False)
        if not words:
            return q.NullQuery
        stem = tokens(words[-1]) or [words[-1]]
        prefixes = {words[-1], stem[0]}
        parts = [q.Prefix(name, p) for name in self._fields(field_name) for p in sorted(prefixes)]
        return q.Or(parts)

    def search(self, node: Any, filters: list[Any], limit: int) -> tuple[set[int], list[RawHit]]:
        """(every matching document, the best `limit` of them with their stored fields).

        Every match is scored (see `scores`), so the total and the facets come from the same
        pass. Whoosh's own top-N collector skips blocks by quality: that would need a second
        pass for the total, and on indexes of several segments it dropped the best-scoring
        entries of AND queries.
        """
        from whoosh import query as q

        query = self.compile(node)
        restriction = q.And([self.compile(item) for item in filters]) if filters else None
        if type(node).__name__ == "Every":  # a listing by filters: newest first
            results = self.searcher.search(
                query, limit=limit, filter=restriction, sortedby="date", reverse=True
            )
            hits = [RawHit(dict(hit.fields()), float(hit.score or 0.0)) for hit in results]
            everything = q.And([query, restriction]) if restriction is not None else query
            return set(self.searcher.docs_for_query(everything)), hits
        scores = self.scores(query)
        if restriction is not None:
            allowed = self.scores(restriction)
            scores = {doc: score for doc, score in scores.items() if doc in allowed}
        # Whoosh's order: the higher score first, then the lower document number.
        best = heapq.nsmallest(limit, scores.items(), key=lambda item: (-item[1], item[0]))
        stored = self.searcher.stored_fields
        return set(scores), [RawHit(dict(stored(doc)), score) for doc, score in best]

    # ---- scoring

    def scores(self, query: Any) -> dict[int, float]:
        """Every live document `query` matches (global number) -> its score, as Whoosh's own
        matchers score it (BM25F; And and Or add their parts' scores, AndNot keeps the left's).

        Whoosh walks compound queries posting by posting through a tree of matchers, several
        Python calls per posting and per level: 100-250 ms of a search at 10,000 entries.
        Here a term's postings are read a block of 128 at a time and scored in one loop, and
        compound queries combine whole sets. Anything else (phrases, prefixes, ranges, Or
        with a coordination bonus) is scored by Whoosh's own matcher for that part alone.
        tests/test_index.py holds the results equal to Whoosh's for every kind of query.
        """
        from whoosh import query as q

        kind = type(query)
        if query is q.NullQuery or kind is q.NullQuery.__class__:
            return {}
        if kind is q.Term:
            scores = self._term_scores(query)
            if scores is not None:
                return scores
        elif kind is q.Phrase:
            scores = self._phrase_scores(query)
            if scores is not None:
                return scores
        elif kind in (q.And, q.Or) and query.boost == 1.0 and not getattr(query, "scale", None):
            parts = [self.scores(sub) for sub in query.subqueries if sub is not q.NullQuery]
            if not parts:
                return {}
            if kind is q.And:
                parts.sort(key=len)
                common = set(parts[0]).intersection(*parts[1:])
                return {doc: sum(part[doc] for part in parts) for doc in common}
            combined: dict[int, float] = {}
            for part in parts:
                for doc, score in part.items():
                    combined[doc] = combined.get(doc, 0.0) + score
            return combined
        elif kind is q.AndNot and query.boost == 1.0:
            positive = self.scores(query.a)
            negative = self.scores(query.b) if positive else {}
            return {doc: score for doc, score in positive.items() if doc not in negative}
        return self._whoosh_scores(query)

    def _whoosh_scores(self, query: Any) -> dict[int, float]:
        """Scores from Whoosh's own matcher, segment by segment, as its collectors run it."""
        scores = {}
        context = self.searcher.context()
        for subsearcher, offset in self.searcher.leaf_searchers():
            matcher = query.matcher(subsearcher, context)
            while matcher.is_active():
                scores[offset + matcher.id()] = matcher.score()
                matcher.next()
        return scores

    def _phrase_scores(self, query: Any) -> dict[int, float] | None:
        """A phrase scored as Whoosh's SpanNear2 matcher scores it: where its words stand one
        after another, the sum of the words' scores. None: Whoosh's matcher scores it.

        Whoosh intersects the words' matchers posting by posting and builds Span objects
        for every position of every candidate (130-150 ms for a common phrase at 10,000
        entries). Here the words' postings are read a block at a time, as for a term, and
        only the documents holding every word have their positions decoded.
        """
        from whoosh import query as q

        name, words = query.fieldname, list(query.words)
        if name not in self.schema:
            return None
        field = self.schema[name]
        if (
            query.slop != 1
            or len(words) < 2
            or not field.format
            or not field.format.supports("positions")
        ):
            return None
        scored, held = {}, {}
        for word in dict.fromkeys(words):  # a repeated word ("gun gun") is read once
            values: dict[int, bytes] = {}
            part = self._term_scores(q.Term(name, word), values)
            if part is None:
                return None
            if not part:
                return {}
            scored[word], held[word] = part, values
        parts = [scored[word] for word in words]  # Whoosh adds a repeated word's score twice
        common = set(min(parts, key=len)).intersection(*parts)
        decode = field.format.decode_positions
        scores = {}
        for doc in common:
            first = decode(held[words[0]][doc])
            later = [set(decode(held[word][doc])) for word in words[1:]]
            if any(all(start + step in at for step, at in enumerate(later, 1)) for start in first):
                score = sum(part[doc] for part in parts)
                scores[doc] = score * query.boost if query.boost != 1.0 else score
        return scores

    def _term_scores(
        self, query: Any, values: dict[int, bytes] | None = None
    ) -> dict[int, float] | None:
        """One term's BM25F scores from its postings, a block at a time; None when this
        index is not laid out as expected (then Whoosh's matcher scores it). `values`, when
        given, receives each scored document's posting value (its positions, for phrases)."""
        from whoosh.scoring import BM25F
        from whoosh.util.numeric import byte_to_length

        try:
            from whoosh.codec.whoosh3 import _lenfield
        except ImportError:
            return None

        name, weighting = query.fieldname, self.searcher.weighting
        if name not in self.schema or type(weighting) is not BM25F:
            return None
        try:
            raw = self.schema[name].to_bytes(query.text)
        except ValueError:
            return {}
        if (name, raw) not in self.reader:
            return {}
        if not self.schema[name].scorable:
            return None
        idf = self.searcher.idf(name, raw)
        avgfl = self.searcher.avg_field_length(name) or 1
        big_b = weighting._field_B.get(name, weighting.B)
        k1 = weighting.K1
        boost = query.boost
        # Whoosh's bm25() term by term, its length part computed once per length byte
        norms = [k1 * ((1 - big_b) + big_b * byte_to_length(b) / avgfl) for b in range(256)]
        k1_plus = k1 + 1
        scores: dict[int, float] = {}
        try:
            for leaf, offset in self.reader.leaf_readers():
                if (name, raw) not in leaf:
                    continue
                lengths = leaf._perdoc._readers.get(_lenfield(name))
                if not isinstance(lengths, _Lengths):
                    return None
                data = lengths.data
                deleted = leaf.deleted_docs_set if leaf.has_deletions() else ()
                matcher = leaf.postings(name, raw)
                matcher = getattr(matcher, "child", matcher)
                while matcher.is_active():
                    if matcher._ids is None:
                        matcher._read_ids()
                    if matcher._weights is None:
                        matcher._read_weights()
                    if values is not None:
                        if matcher._values is None:
                            matcher._read_values()
                        values.update(
                            (offset + doc, value)
                            for doc, value in zip(matcher._ids, matcher._values, strict=True)
                        )
                    for doc, tf in zip(matcher._ids, matcher._weights, strict=True):
                        if doc in deleted:
                            continue
                        score = idf * ((tf * k1_plus) / (tf + norms[data[doc]]))
                        scores[offset + doc] = score * boost if boost != 1.0 else score
                    matcher._next_block()
        except (AttributeError, IndexError, TypeError, ValueError):
            return None
        return scores

    def counts(self, docs: set[int], field_name: str) -> dict[str, int]:
        """How many of `docs` hold each value of an exact field (facets)."""
        counted: dict[str, int] | None = None
        if field_name in self.facets:
            combinations, codes = self.facets[field_name]
            counted = {}
            try:
                for code, number in Counter(map(codes.__getitem__, docs)).items():
                    for value in combinations[code]:
                        counted[value] = counted.get(value, 0) + number
            except IndexError:  # a document the table does not cover
                counted = None
        if counted is None:  # no table for this generation: read the postings
            counted = self._counts_from_postings(docs, field_name)
        return dict(sorted(counted.items(), key=lambda item: (-item[1], item[0])))

    def _counts_from_postings(self, docs: set[int], field_name: str) -> dict[str, int]:
        counted = {}
        for raw in self.reader.lexicon(field_name):
            value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            ids = self.reader.postings(field_name, raw).all_ids()
            number = sum(1 for doc in ids if doc in docs)
            if number:
                counted[value] = number
        return counted

    # ---- words

    def known(self, word: str) -> bool:
        """Does any text field hold this word (after analysis)?"""
        words = tokens(word)
        return bool(words) and all(
            any(self.reader.doc_frequency(name, token) for name in TEXT_BOOSTS) for token in words
        )

    def corrections(self, word: str) -> list[str]:
        """Words of the index's own vocabulary close to `word`, most frequent first."""
        word = word.lower()
        if len(word) < 4:
            return []
        maxdist = 1 if len(word) < 7 else 2
        found = set()
        for distance in range(1, maxdist + 1):
            found = set(self.reader.terms_within("spell", word, distance, prefix=1))
            found.discard(word)
            if found:
                break
        return sorted(found, key=lambda w: (-self.reader.doc_frequency("spell", w), w))[:3]

    def key_terms(self, text: str, number: int = 20) -> list[tuple[str, float]]:
        """The words of `text` that best tell it apart in this index (for `similar`)."""
        return [
            (word, weight)
            for word, weight in self.searcher.key_terms_from_text("body", text, numterms=number)
        ]

    def weighted_terms(self, terms: Iterable[tuple[str, float]]) -> Any:
        from whoosh import query as q

        return q.Or(
            [
                q.Term(name, word, boost=weight)
                for word, weight in terms
                for name in ("title", "tags", "summary", "body")
            ]
        )

    def search_compiled(self, query: Any, exclude_path: str | None, limit: int) -> list[RawHit]:
        from whoosh import query as q

        mask = q.Term("path", exclude_path) if exclude_path else None
        results = self.searcher.search(query, limit=limit, mask=mask)
        return [RawHit(dict(hit.fields()), float(hit.score or 0.0)) for hit in results]

    def stored_all(self) -> list[dict[str, Any]]:
        """Every document's stored fields, sorted by path (to compare two indexes)."""
        return sorted(
            (dict(fields) for _, fields in self.reader.iter_docs()), key=lambda d: d["path"]
        )

    def lexicon(self, field_name: str) -> list[str]:
        """Words of a field that some live document holds (deleted ones linger until a merge)."""
        return [
            raw.decode("utf-8") if isinstance(raw, bytes) else raw
            for raw in self.reader.lexicon(field_name)
            if any(True for _ in self.reader.postings(field_name, raw).all_ids())
        ]


def _write_facets(folder: Path, toc: int) -> None:
    """Write, for index generation `toc`, each document's type, site and topics.

    Facets count the values of every matching entry: read from the postings, one Python
    call per posting, that was a third of a one-word search at 10,000 entries (40,000
    postings). Each document gets a code per field, the code naming a combination of
    values (an entry has one type and site but several topics), so counting is one
    C-level Counter over the matching documents. Written after every commit, under the
    write lock, inside the generation folder: the signed record pins it like Whoosh's files.

    A segment's documents never change (a deletion only marks them), so each segment's
    part is kept in FACET_PARTS and only segments new since the last commit read their
    postings: after a refresh of 10 entries, one small segment rather than all of them.
    """
    from array import array

    earlier = _read_facet_parts(folder)
    parts: dict[str, dict[str, tuple[list[tuple[str, ...]], bytes]]] = {}
    table = {}
    with _pinned_index(folder, toc, readonly=True).reader() as reader:
        leaves = reader.leaf_readers()
        segments = []
        for leaf, _offset in leaves:
            segment = leaf.segment().segment_id()
            parts[segment] = earlier.get(segment) or _segment_facets(leaf)
            segments.append(segment)
        for facet in FACET_FIELDS:
            combinations: dict[tuple[str, ...], int] = {}
            codes = array("I")
            for segment in segments:  # leaves come in document order: parts concatenate
                local, local_codes = parts[segment][facet]
                to_global = [combinations.setdefault(tuple(c), len(combinations)) for c in local]
                codes.extend([to_global[code] for code in array("I", local_codes)])
            if len(codes) != reader.doc_count_all():
                raise ValueError("the facet parts do not cover the index")  # damaged: rebuild
            table[facet] = (list(combinations), codes.tobytes())
    (folder / FACETS).write_bytes(marshal.dumps({"toc": toc, "fields": table}))
    (folder / FACET_PARTS).write_bytes(marshal.dumps(parts))


def _segment_facets(leaf: Any) -> dict[str, tuple[list[tuple[str, ...]], bytes]]:
    """One segment's facet table, read from its postings (deleted documents included:
    they keep their numbers until a merge, and are never among the matches counted)."""
    from array import array

    size = leaf.doc_count_all()
    part = {}
    for facet in FACET_FIELDS:
        held: list[list[str]] = [[] for _ in range(size)]
        for raw in leaf.lexicon(facet):
            value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            for doc in leaf.postings(facet, raw).all_ids():
                held[doc].append(value)
        combinations: dict[tuple[str, ...], int] = {}
        codes = array("I", [combinations.setdefault(tuple(v), len(combinations)) for v in held])
        part[facet] = (list(combinations), codes.tobytes())
    return part


def _read_facet_parts(folder: Path) -> dict[str, Any]:
    """The per-segment parts from the last commit in this generation folder, or {}.
    Only the writer reads them, under the write lock, from a folder read_record verified."""
    try:
        parts = marshal.loads((folder / FACET_PARTS).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return parts if isinstance(parts, dict) else {}


def _read_facets(folder: Path, toc: int | None) -> dict[str, tuple[list[tuple[str, ...]], Any]]:
    """The facet table of generation `toc`, or {} (counting then reads the postings).
    Read only from a folder read_record verified (marshal is for trusted data only)."""
    try:
        document = marshal.loads((folder / FACETS).read_bytes())
        if document["toc"] != toc:
            return {}
        return {
            name: (combinations, memoryview(codes).cast("I"))
            for name, (combinations, codes) in document["fields"].items()
        }
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return {}


class _Lengths:
    """A field's length column read once: BM25F asks for every scored document's length,
    and without mmap Whoosh's column reader does a seek and read for each (a third of a
    one-word search at 10k entries). One byte per document: 10 kB per field at 10k."""

    def __init__(self, data: bytes, default: int) -> None:
        self.data, self.default = data, default

    def __getitem__(self, docnum: int) -> int:
        return self.data[docnum] if docnum < len(self.data) else self.default


def _lengths_in_memory(reader: Any) -> None:
    """Load the text fields' length columns of each segment (whoosh3's own layout; on any
    other layout, or a change of it, searching simply goes on with Whoosh's reader)."""
    try:
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield

        for leaf, _ in reader.leaf_readers():
            perdoc = leaf._perdoc
            for name in TEXT_BOOSTS:
                column = perdoc._cached_reader(_lenfield(name), LENGTHS_COLUMN)
                if column is not None and column._fixedlen == 1 and not column._reverse:
                    data = column._dbfile.get(column._basepos, column._count)
                    perdoc._readers[_lenfield(name)] = _Lengths(data, column._default)
    except (ImportError, AttributeError, TypeError):
        pass


@contextlib.contextmanager
def open_searcher(root: Path, wait: float | None = None) -> Iterator[Searcher]:
    """The live index, verified, under the shared lock; raises Untrusted if it may not be used."""
    with read_lock(root, wait):
        record = read_record(root)
        try:
            index = _pinned_index(root / STATE_DIR / record.generation, record.toc, readonly=True)
            searcher = Searcher(index, root / STATE_DIR / record.generation, record.toc)
        except Exception as exc:  # a damaged file; Whoosh raises many kinds
            raise Untrusted(f"it could not be opened ({type(exc).__name__})") from exc
        try:
            yield searcher
        finally:
            searcher.close()
