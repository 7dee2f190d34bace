"""File locks between cacop processes: flock on POSIX, msvcrt on Windows, a pid file
elsewhere. Used by the search index (one writer, shared readers) and by sharing (one
`sync`, `submit` or bundle at a time in a clone). Stdlib only."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import CacopError


def _lock_kind() -> str:
    """How this system locks a file: flock (POSIX), msvcrt's byte-range lock (Windows), or,
    on a system with neither, a lock file made with O_EXCL that names its holder's pid."""
    if os.name == "nt":
        return "msvcrt"
    try:
        import fcntl  # noqa: F401  (a POSIX system without it is rare, not an error)
    except ImportError:
        return "exclusive-file"
    return "flock"


def _try_lock(descriptor: int, path: Path, exclusive: bool, kind: str) -> bool:
    """Take the lock without waiting; False if another process holds it."""
    if kind == "flock":
        import fcntl

        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH  # type: ignore[attr-defined]
        try:
            fcntl.flock(descriptor, mode | fcntl.LOCK_NB)  # type: ignore[attr-defined]
        except BlockingIOError:
            return False
        return True
    if kind == "msvcrt":  # no shared locks there: a search waits for another's few ms
        import msvcrt

        os.lseek(descriptor, 0, os.SEEK_SET)
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True
    return _take_lock_file(path)


def _take_lock_file(path: Path) -> bool:
    """The lock as a file `<lock>.held` holding the owner's pid; a holder that died (kill -9)
    leaves one behind, which the next process removes once that pid is gone."""
    held = path.with_name(path.name + ".held")
    try:
        descriptor = os.open(held, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            owner = int(held.read_text(encoding="ascii") or "0")
        except (OSError, ValueError):
            return False
        if owner and owner != os.getpid() and not _alive(owner):
            with contextlib.suppress(FileNotFoundError):
                held.unlink()
        return False
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(str(os.getpid()))
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _release(descriptor: int, path: Path, kind: str) -> None:
    if kind == "msvcrt":
        import msvcrt

        os.lseek(descriptor, 0, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
    elif kind == "exclusive-file":
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + ".held").unlink()
    os.close(descriptor)  # closing releases a flock


@contextlib.contextmanager
def held(
    path: Path,
    exclusive: bool,
    wait: float,
    busy: Callable[[], CacopError],
    unusable: Callable[[Path, OSError], CacopError],
) -> Iterator[None]:
    """Hold the lock at `path` (shared or exclusive) for the block; raise busy() when
    another process still holds it after `wait` seconds, unusable() when the lock file
    cannot be opened."""
    kind = _lock_kind()
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise unusable(path, error) from None
    deadline = time.monotonic() + wait
    taken = False
    try:
        while not _try_lock(descriptor, path, exclusive, kind):
            if time.monotonic() >= deadline:
                raise busy()
            time.sleep(0.02)
        taken = True
        yield
    finally:
        if taken:
            _release(descriptor, path, kind)
        else:
            os.close(descriptor)
