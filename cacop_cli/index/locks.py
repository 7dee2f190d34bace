"""Locks on the index: one writer at a time, searches shared, and what a refused write means."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TypeGuard

from ..errors import Busy, CacopError
from ..filelock import held
from .record import RECORD, STATE_DIR

STATE_IGNORE = "# cacop's private search index: never commit it\n*\n"
# Seconds a second writer (or a search) waits before "busy"; CACOP_LOCK_WAIT overrides it.
LOCK_WAIT = 10.0


def _lock_wait() -> float:
    try:
        return max(0.0, float(os.environ.get("CACOP_LOCK_WAIT") or LOCK_WAIT))
    except ValueError:
        return LOCK_WAIT


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


def write_refused(error: BaseException) -> TypeGuard[OSError]:
    """Did the system refuse a write (a full disk or quota, a read-only or foreign folder)?"""
    refusals = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)
    return isinstance(error, OSError) and error.errno in refusals


@contextlib.contextmanager
def refusals_explained(root: Path) -> Iterator[None]:
    """A write to the index that the system refuses ends the command with what to do, not
    with an OSError from deep inside Whoosh (nothing is lost: the index is derived)."""
    try:
        yield
    except OSError as error:
        if write_refused(error):
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
def locked(path: Path, exclusive: bool, wait: float | None, what: str) -> Iterator[None]:
    """Hold the lock at `path` (shared or exclusive) for the block; Busy after `wait` s."""
    wait = _lock_wait() if wait is None else wait

    def busy() -> Busy:
        return Busy(
            f"the search index is busy: another cacop is {what} (waited {wait:.0f} s)",
            hint="try again in a moment; `cacop index --rebuild` on a large KB "
            "takes a minute or two",
        )

    with held(path, exclusive, wait, busy, _unusable):
        yield


def write_lock(root: Path, wait: float | None = None) -> contextlib.AbstractContextManager[None]:
    state = _prepare_state(root)
    return locked(state / "write.lock", True, wait, "updating it")


def swap_lock(root: Path, wait: float | None = None) -> contextlib.AbstractContextManager[None]:
    return locked(root / STATE_DIR / "read.lock", True, wait, "searching it")


def read_lock(root: Path, wait: float | None = None) -> contextlib.AbstractContextManager[None]:
    state = _prepare_state(root)
    return locked(state / "read.lock", False, wait, "changing it")
