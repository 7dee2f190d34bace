"""Building, updating and merging the index, and the documents it is built from.

A rebuild writes a new generation folder beside the live one and switches to it by
rewriting the signed record; an update adds a small segment to the live generation
and never merges; `merge` joins the small segments later, in a detached process.
`document_for` turns an entry file into the index's fields.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..entries import read_entry
from ..errors import CacopError, EntryError
from ..scan import NO_HINT, RACY, SAME_AS_HINT, files_of, identity, scan_tree, settled
from ..scan import dump as dump_scan
from ..scan import take as early_scan
from .analysis import INDEX_NAME, STEMS, load_stems, save_stems, schema, spelling_words
from .cards import CARD_KEY, Unreadable, as_kept, entry_card
from .cards import previous as previous_cards
from .facets import FACETS, write_facets
from .locks import (
    LOCK_WAIT,
    locked,
    read_lock,
    refusals_explained,
    swap_lock,
    write_lock,
    write_refused,
)
from .parts import write_parts
from .record import (
    RECORD,
    STATE_DIR,
    Record,
    Untrusted,
    file_stats,
    read_record,
    scan_digest,
    write_record,
)
from .whoosh_internals import commit_segments, latest_toc, pinned_index, segments
from .whoosh_internals import storage as whoosh_storage

if TYPE_CHECKING:
    from ..config import KB

# The scan as it was indexed (scan.scan_tree: folder -> [times, {name -> [size, mtime_ns,
# ctime_ns]}]); marshal loads 2x faster than JSON. Indexes written before the folders were
# kept hold path -> [size, mtime_ns]; before marshal, manifest.json: both still read.
MANIFEST = "manifest.marshal"
OLD_MANIFEST = "manifest.json"
PARALLEL_FROM = 1_000  # entries: a rebuild this large is written by one process per core
# An update writes a small segment of its own and never merges (Whoosh merges term by
# term, in Python: 8-18 s at 10k). Once this many small segments (under SMALL_SEGMENT
# documents) have gathered, merge() joins them, in a detached process (see merge()).
MERGE_AT = 10
SMALL_SEGMENT = 2_000


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
    with refusals_explained(root), write_lock(root, wait):
        return _rebuild_locked(root, make_document, progress, reason)


def _rebuild_locked(
    root: Path,
    make_document: DocumentMaker,
    progress: ProgressCallback | None,
    reason: str | None,
    first_use: bool = False,
) -> UpdateReport:
    state = root / STATE_DIR
    try:
        live = read_record(root).generation
    except Untrusted:
        live = None
    _clean_leftovers(state, keep=live)
    token = secrets.token_hex(8)
    building = state / f"build-{token}"
    tree = scan_tree(root)
    scan = files_of(tree)
    paths = sorted(scan)
    report = UpdateReport(rebuilt=True, reason=reason, first_use=first_use)
    try:
        building.mkdir()
        index = whoosh_storage(building, own_temp=True).create_index(schema(), INDEX_NAME)
        # Large builds are split into parts, each written as a segment of its own by one of
        # as many processes as there are cores (parts.py; docs/architecture.md, "Building").
        procs = (os.cpu_count() or 1) if len(paths) >= PARALLEL_FROM else 1
        built = write_parts(index, paths, make_document, progress, procs)
        commit_segments(index, built.segments)
        report.added, report.skipped, cards = built.added, built.skipped, built.cards
        _write_manifest(building, tree)
        written = cards.write(building)
        toc = latest_toc(building)
        write_facets(building, toc)
        with pinned_index(building, toc, readonly=True).reader() as reader:
            save_stems(building, reader)
        generation = f"gen-{token}"
        os.rename(building, state / generation)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)  # on a full disk, give the space back
        raise
    record = Record(
        generation=generation,
        toc=toc,
        files=file_stats(state / generation, written),
        digest=scan_digest(scan),
        count=report.added,
        broken=dict(report.skipped),
    )
    with swap_lock(root):
        write_record(root, record)
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
    with locked(state / "merge.lock", True, 0, "merging it"):  # one merge at a time
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
    if len(_small(segments(pinned_index(live, record.toc, readonly=True)))) < MERGE_AT:
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
        index = pinned_index(building, record.toc, readonly=False)
        writer = index.writer(timeout=LOCK_WAIT, codec=_update_codec())
        writer.commit(mergetype=_merge_small_segments)
        toc = latest_toc(building)
        write_facets(building, toc)
        with write_lock(root, LOCK_WAIT):
            if read_record(root) != record:  # files too: a manifest rewritten in place
                return None  # an update or a rebuild came first: theirs stands
            generation = f"gen-{token}"
            os.rename(building, state / generation)
            merged = replace(
                record, generation=generation, toc=toc, files=file_stats(state / generation)
            )
            with swap_lock(root):
                write_record(root, merged)
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


def refresh(
    root: Path,
    make_document: DocumentMaker,
    progress: ProgressCallback | None = None,
    wait: float | None = None,
) -> UpdateReport:
    """Bring the index up to date with the entry files: only what was added, changed, removed.

    Cheap when nothing changed: a stat of each entry file and folder, compared with the
    manifest (scan.scan_tree) kept beside the index; a folder whose times are the kept
    ones is not listed (docs/architecture.md, "Fresh"). An index that is missing, damaged
    or not this clone's is rebuilt; `reason` says why.
    """
    checked = None
    early = early_scan(root)  # taken first: its process never waits out a rebuild
    try:
        record = read_record(root)
        folder = root / STATE_DIR / record.generation
        held = _manifest_bytes(folder)
        scanned, manifest = None, None
        if early is not None:
            scanned, hinted = early
            # Hinted by another manifest than the verified one (a writer came between, or
            # the hint was forged): the folders it did not list cannot be trusted. A scan
            # with no hint (NO_HINT) listed every folder. A scan that found what its hint
            # keeps (SAME_AS_HINT) is the manifest's own bytes if its hint was the manifest.
            if scanned == SAME_AS_HINT:
                scanned = held if held is not None and hinted == identity(held) else None
            elif scanned != held and hinted not in (NO_HINT, identity(held)):
                scanned = None
        if scanned is None:
            manifest = _read_manifest(folder, held)
            scanned = dump_scan(scan_tree(root, manifest))
        if scanned == held and FACETS in record.files:  # the same bytes: nothing to load
            return UpdateReport(count=record.count, broken=record.broken, unchanged=record.version)
        scan = marshal.loads(scanned)
        if manifest is None:
            manifest = _read_manifest(folder, held)
        checked = (record, scan, manifest)
    except (Untrusted, OSError, ValueError, EOFError, TypeError):
        pass
    with refusals_explained(root), write_lock(root, wait):
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
            if write_refused(exc):  # not damage: a rebuild could not be written either
                raise
            reason = f"it was damaged ({type(exc).__name__})"
            return _rebuild_locked(root, make_document, progress, reason)


def _manifest_bytes(folder: Path) -> bytes | None:
    """The manifest file's bytes (None for an index from before it, which kept JSON)."""
    try:
        return (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None


def _read_manifest(folder: Path, held: bytes | None = None) -> dict[str, Any]:
    """What the index holds (a scan_tree, or an older flat path -> [size, mtime_ns]);
    `held`: its bytes, already read.
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


def _write_manifest(folder: Path, tree: dict[str, Any]) -> None:
    """As scan.dump writes a scan: an unchanged KB's scan then has exactly these bytes.
    Files and folders modified just before are written down as racy (scan.settled), judged
    by the later of the system's clock and the file system's (the manifest's own new mtime
    and ctime)."""
    import time

    with open(folder / MANIFEST, "wb") as handle:
        info = os.fstat(handle.fileno())
        now = max(time.time_ns(), info.st_mtime_ns, info.st_ctime_ns)
        handle.write(dump_scan(settled(tree, now)))


def _flat(manifest: dict[str, Any]) -> dict[str, list[int]]:
    """A manifest's entry files, path -> stats, whichever format it was written in."""
    return manifest if next(iter(manifest), "").endswith(".md") else files_of(manifest)


def _differs(held: list[int], scanned: list[int]) -> bool:
    """Has a file changed since the manifest wrote it down? A manifest written before
    ctime was kept holds [size, mtime]: compared with those two only, once."""
    return held != scanned[: len(held)]


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
    known: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> UpdateReport:
    """`known`: (scan, manifest) just read for this same record, not to be read twice."""
    state = root / STATE_DIR
    folder = state / record.generation
    if known is None:
        manifest = _read_manifest(folder)
        known = (scan_tree(root, manifest), manifest)
    tree, manifest = known
    scan, manifest = files_of(tree), _flat(manifest)
    added = sorted(set(scan) - set(manifest))
    removed = sorted(set(manifest) - set(scan))
    changed = sorted(
        path for path in set(scan) & set(manifest) if _differs(manifest[path], scan[path])
    )
    if not (added or removed or changed):
        old_facets = FACETS not in record.files  # an index from before the facet table
        # an older format, another order, or only folders changed (or have aged)
        old_bytes = _manifest_bytes(folder) != dump_scan(tree)
        if old_facets or old_bytes:  # bring it up to date, so the next check is quick
            with swap_lock(root):
                if old_facets:
                    write_facets(folder, record.toc)
                _write_manifest(folder, tree)
                (folder / OLD_MANIFEST).unlink(missing_ok=True)
                write_record(root, replace(record, files=file_stats(folder)))
        return UpdateReport(count=record.count, broken=record.broken, unchanged=record.version)
    digest = scan_digest(scan)
    for name in os.listdir(folder):  # what a killed writer left: never part of the record
        if name not in record.files and not name.endswith("LOCK"):
            (folder / name).unlink(missing_ok=True)
    report = UpdateReport(removed=len(removed))
    broken = {path: why for path, why in record.broken.items() if path in scan}
    from whoosh.writing import NO_MERGE

    index = pinned_index(folder, record.toc, readonly=False)
    writer = index.writer(timeout=LOCK_WAIT, codec=_update_codec())
    count = record.count
    known_stems = load_stems(folder)
    cards = previous_cards(root, record.generation, record.files)
    try:
        for path in removed:
            count -= writer.delete_by_term("path", path)
            broken.pop(path, None)
            cards.remove(path)
        work = [*added, *changed]
        kept_as_indexed = 0  # racy files read again and found as indexed: documents kept
        for done, path in enumerate(work, 1):
            document = make_document(path)
            if _racy_reread(manifest.get(path), scan[path]) and as_kept(cards, path, document):
                kept_as_indexed += 1  # re-adding it would move BM25's statistics, for nothing
                if progress:
                    progress(done, len(work))
                continue
            cards.add(path, document)
            if isinstance(document, str):
                count -= writer.delete_by_term("path", path)
                report.skipped[path] = broken[path] = document
            else:
                count -= writer.delete_by_term("path", path)
                writer.add_document(**document)
                count += 1
                broken.pop(path, None)
                if _racy_reread(manifest.get(path), scan[path]):
                    pass  # written down as racy, read again to be sure: not counted as changed
                elif path in manifest:
                    report.changed += 1
                else:
                    report.added += 1
            if progress:
                progress(done, len(work))
        if not removed and kept_as_indexed == len(work):  # only the manifest to write
            writer.cancel()
            with swap_lock(root):
                _write_manifest(folder, tree)
                write_record(root, replace(record, files=file_stats(folder), digest=digest))
            return UpdateReport(count=record.count, broken=record.broken, unchanged=record.version)
        with swap_lock(root):
            writer.commit(mergetype=NO_MERGE)  # merging is merge()'s work, in the background
            _write_manifest(folder, tree)
            written = cards.write(folder)  # the bodies' shards the changes fall in only
            (folder / OLD_MANIFEST).unlink(missing_ok=True)
            toc = latest_toc(folder)
            write_facets(folder, toc)
            if len(STEMS) > known_stems:
                save_stems(folder)
            new_record = Record(
                generation=record.generation,
                toc=toc,
                files=file_stats(folder, written, record.files),  # hashes only what it wrote
                digest=digest,
                count=count,
                broken=broken,
            )
            write_record(root, new_record)
    except BaseException:
        with contextlib.suppress(Exception):
            writer.cancel()
        raise
    report.count, report.broken = count, broken
    written = segments(pinned_index(folder, toc, readonly=True))
    report.merge_due = len(_small(written)) >= MERGE_AT
    return report


def _racy_reread(held: list[int] | None, scanned: list[int]) -> bool:
    """Is this file read again only because the manifest wrote it down as racy (its size
    the same)? Its words may still have changed; the report does not count it as changed."""
    return held is not None and held[1] == RACY and held[0] == scanned[0]


# ---------------------------------------------------------------- entries as documents


def _text_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value if item is not None)
    return "" if value is None else str(value)


def document_for(kb: KB, rel: str) -> dict[str, Any] | str:
    """The fields the index holds for one entry file, or why it cannot be read (Unreadable).
    The document also holds the entry's catalog card (under CARD_KEY; see cards.py)."""
    try:
        entry = read_entry(kb.root / rel, kb.root, kb.limits)
    except EntryError as error:
        return Unreadable(error.code, error.line, error.message)
    meta = entry.meta
    document: dict[str, Any] = {"path": rel, "id": entry.id, "body": entry.body}
    document[CARD_KEY] = (entry_card(entry), entry.body)
    for name in ("type", "site", "status", "tlp", "evidence", "product_type", "priority", "rfi"):
        value = meta.get(name)
        if isinstance(value, str) and value:
            document[name] = value.lower()
    for name in ("created", "updated", "needed_by"):
        value = meta.get(name)
        if isinstance(value, str) and value:
            document[name] = value
    date = document.get("updated") or document.get("created")
    if date:
        document["date"] = date
    for name, target in (("topics", "topic"), ("tags", "tag"), ("to", "to")):
        values = meta.get(name)
        if isinstance(values, list):
            document[target] = ",".join(str(item) for item in values if item is not None)
    title = _text_value(meta.get("title")) or entry.id
    summary = _text_value(meta.get("summary"))
    tags = " ".join(str(tag) for tag in meta.get("tags") or () if tag is not None)
    if entry.type == "work-product":
        document["attachments"] = "\n".join(
            part.text for _, part in attachment_parts(kb, rel, meta.get("attachments"))
        )
    document.update(
        title=title,
        summary=summary,
        tags=tags.replace("-", " "),
        author=_text_value(meta.get("authors")),
        spell=spelling_words(title, summary, tags.replace("-", " "), entry.body),
    )
    return document


EXTRACT_CACHE = ".cacop/extract"  # textextract's cache, by the SHA-256 of each file's bytes
# Parts of an extracted file that are about the file, not its content.
_NOT_CONTENT = ("properties", "sheet names", "docProps/")


def attachment_parts(kb: KB, rel: str, names: Any) -> Iterator[tuple[str, Any]]:
    """(file name, textextract Part) of each readable attachment of the entry at `rel`.

    Through the one extraction function the sharing gate uses, with its content-hash cache
    in .cacop/extract/: an unchanged attachment is read from the cache, not extracted
    again. Only plain file names in the entry's own folder; `validate` reports the rest."""
    from ..checks import attachment_facts
    from ..textextract import MAX_FILE_BYTES, extract

    if not isinstance(names, list):
        return
    folder = (kb.root / rel).with_suffix("")
    cache = kb.root / EXTRACT_CACHE
    limit = min(MAX_FILE_BYTES, kb.limits["attachment_bytes"])
    for name in names:
        if not isinstance(name, str) or name.startswith("."):
            continue
        # what `validate` refuses is not opened at all: a bad name, a link (the file's or
        # its folder's: O_NOFOLLOW guards only the last step), a pipe, a file too large
        size = attachment_facts(folder, name)
        if not isinstance(size, int) or size > limit:
            continue
        extracted = extract(folder / name, cache_dir=cache)
        for part in extracted.parts:
            if not part.location.startswith(_NOT_CONTENT) and part.text.strip():
                yield name, part
