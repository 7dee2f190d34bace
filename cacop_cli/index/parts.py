"""A full build in parts: the entries split into parts of up to PART_ENTRIES, each part read
and written as a Whoosh segment of its own, in as many worker processes as there are cores;
the segments then go into one table of contents as they are, never merged.

Each worker does the whole work of its entries (reading and parsing the file, the card,
the analysis, the postings), so this process only hands out parts and draws the bar, and
nothing is pickled to a job file and read back. A part's segment does not depend on which
worker wrote it, nor when, and the segments are listed in the order of the parts: a build
gives the same index however it was scheduled. docs/architecture.md, "Building".
"""

from __future__ import annotations

import contextlib
import itertools
import marshal
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import CacopError
from .analysis import STEMS
from .cards import Cards
from .whoosh_internals import finish_segment, part_writer

# Entries per part, at most. A part's postings stay in memory until its segment is written:
# about ENTRY_KB per entry (~900 postings of ~160 bytes), so ~370 MB at 2,500. At least
# build.SMALL_SEGMENT, so the background merge leaves a build's segments alone.
PART_ENTRIES = 2_500
ENTRY_KB = 150
SMALLEST_PART = 200

Progress = Callable[[int, int], None]
DocumentMaker = Callable[[str], "dict[str, Any] | str"]


@dataclass
class Part:
    """What writing one part gives."""

    segment: Any  # None when no entry of the part could be read
    added: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # path -> "line: message"
    cards: bytes = b""  # marshal of (cards, bodies, complete): keeps the cards' shared texts
    stems: dict[str, str] = field(default_factory=dict)


@dataclass
class Built:
    """The parts of a build, joined: its segments in order, counts, cards and what failed."""

    segments: list[Any]
    added: int
    skipped: dict[str, str]
    cards: Cards


def split(paths: list[str], procs: int, most: int) -> list[list[str]]:
    """`paths` in consecutive parts of near-equal size: at least one per process, none over
    `most`."""
    count = max(procs, -(-len(paths) // most), 1)
    size = -(-len(paths) // count) or 1
    return [paths[start : start + size] for start in range(0, len(paths), size)] or [[]]


def part_size(procs: int) -> int:
    """Entries per part: PART_ENTRIES, or fewer where the writers' postings together would
    take over half of the memory available now (a build must not push a laptop into swap)."""
    available = _available_bytes()
    if available is None:
        return PART_ENTRIES
    fits = available // 2 // procs // (ENTRY_KB * 1024)
    return min(PART_ENTRIES, max(SMALLEST_PART, fits))


def _available_bytes() -> int | None:
    try:  # Linux: what can be had without swapping, page cache included
        with open("/proc/meminfo", "rb") as handle:
            for line in handle:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if sys.platform == "win32":  # one process there (no fork): one part's worth at a time
        return None
    try:  # elsewhere on POSIX: free pages only (an underestimate)
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def write_part(
    index: Any,
    make_document: DocumentMaker,
    paths: list[str],
    done: Callable[[int], None],
) -> Part:
    """Read and index `paths` as one new segment of `index` (not committed)."""
    writer = part_writer(index)
    cards = Cards()
    part = Part(segment=None)
    try:
        for number, path in enumerate(paths, 1):
            document = make_document(path)
            cards.add(path, document)
            if isinstance(document, str):
                part.skipped[path] = str(document)
            else:
                writer.add_document(**document)
                part.added += 1
            done(number)
        part.segment = finish_segment(writer)
    except BaseException:
        with contextlib.suppress(Exception):  # a writer its own failure closed can't cancel
            writer.cancel()
        raise
    part.cards = marshal.dumps((cards.cards, cards.bodies, cards.complete))
    return part


def write_parts(
    index: Any,
    paths: list[str],
    make_document: DocumentMaker,
    progress: Progress | None,
    procs: int,
) -> Built:
    """Every entry of `paths` written into segments of `index`, in `procs` processes (this
    one, if 1 or where processes cannot be forked)."""
    import multiprocessing  # a build only: not loaded by the commands that refresh (~17 ms)

    if procs > 1 and "fork" not in multiprocessing.get_all_start_methods():
        procs = 1  # the document maker is a closure: a spawned process could not have it
    parts = split(paths, procs, part_size(procs))
    if procs == 1 or len(parts) == 1:
        written, base = [], 0
        for part_paths in parts:

            def done(number: int, base: int = base) -> None:
                if progress:
                    progress(base + number, len(paths))

            written.append(write_part(index, make_document, part_paths, done))
            base += len(part_paths)
    else:
        written = _in_workers(index, parts, make_document, progress, procs)
    return _joined(written)


def _joined(written: list[Part]) -> Built:
    cards = Cards()
    skipped: dict[str, str] = {}
    for part in written:
        held, bodies, complete = marshal.loads(part.cards)
        cards.cards.update(held)
        cards.bodies.update(bodies)
        cards.complete = cards.complete and complete
        skipped.update(part.skipped)
        STEMS.update(part.stems)
    segments = [part.segment for part in written if part.segment is not None]
    return Built(segments, sum(part.added for part in written), skipped, cards)


def _in_workers(
    index: Any,
    parts: list[list[str]],
    make_document: DocumentMaker,
    progress: Progress | None,
    procs: int,
) -> list[Part]:
    """The parts written by `procs` forked workers, each taking the next part when done with
    one. Their progress is read from shared counters (one per part) every tenth of a second."""
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("fork")
    ticket = context.Value("i", 0)  # the next part to take, under its lock
    counts = context.RawArray("q", len(parts))  # entries done, per part: one writer each
    total = sum(len(part) for part in parts)
    workers, receivers = [], []
    parent = os.getpid()
    try:
        for _ in range(min(procs, len(parts))):
            receive, send = context.Pipe(duplex=False)
            receivers.append(receive)
            worker = context.Process(
                target=_work,
                args=(index, make_document, parts, ticket, counts, send, parent, receivers[:]),
                daemon=True,
            )
            worker.start()
            send.close()
            workers.append(worker)
        written: dict[int, Part] = {}
        shown = -1
        open_ends = list(receivers)
        while open_ends:
            for end in wait(open_ends, timeout=0.1):
                try:
                    kind, number, value = end.recv()
                except EOFError:
                    open_ends.remove(end)
                    continue
                if kind == "error":
                    raise value
                written[number] = value
            now = sum(counts)
            if progress and now != shown:
                progress(now, total)
                shown = now
        if len(written) != len(parts):  # a worker died (killed, or out of memory)
            codes = [worker.exitcode for worker in workers]
            raise CacopError(
                f"a process writing the index ended before its part was done (exit codes "
                f"{codes}); run `cacop index --rebuild` again"
            )
        return [written[number] for number in range(len(parts))]
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
        for end in receivers:
            end.close()


def _work(
    index: Any,
    make_document: DocumentMaker,
    parts: list[list[str]],
    ticket: Any,
    counts: Any,
    send: Any,
    parent: int,
    inherited: list[Any],
) -> None:
    """A worker: parts until none are left, each sent back as ("part", number, Part); a
    failure as ("error", number, exception). Ctrl-C is the parent's to handle; a worker
    whose parent is gone stops. `inherited`: the parent's ends of the pipes so far (this one's
    too), closed here, or a killed parent would leave workers blocked on a full pipe (with
    the write lock, which every worker inherits) instead of failing to send."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for end in inherited:
        end.close()
    STEMS.clear()  # what this worker met, sent back with each part for the stem file
    while True:
        with ticket.get_lock():
            number = ticket.value
            ticket.value += 1
        if number >= len(parts):
            break

        def done(entries: int, number: int = number) -> None:
            counts[number] = entries
            if os.getppid() != parent:
                raise _Orphaned

        known = len(STEMS)
        try:
            part = write_part(index, make_document, parts[number], done)
            part.stems = dict(itertools.islice(STEMS.items(), known, None))  # new ones
        except _Orphaned:  # no one to send to; the folder is removed by the next build
            return
        except BaseException as error:  # noqa: BLE001 - every failure goes to the parent
            send.send(("error", number, _portable(error)))
            break
        send.send(("part", number, part))
    send.close()


class _Orphaned(Exception):
    """The parent of a worker is gone (killed): the worker stops."""


def _portable(error: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else one that says what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
