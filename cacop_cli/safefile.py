"""Reading a file of the KB safely: a regular file, never through a link, never a pipe or
a device, never more than a limit. Entries and settings files arrive by pull, so each is read
so. Standard library only (settings are read by every command, before anything else loads).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import EntryError


def read_regular_file(path: Path, max_bytes: int, what: str = "entry") -> bytes:
    """The bytes of an entry file that is a regular file of the KB, never through a link.

    The index passes links over, so reading through one would show and validate an entry
    that search never finds, or a file from anywhere on the disk; a pipe would block the
    command forever. Opened without following links and without blocking, then checked.
    `what` names the kind of file in the messages ("entry", or "settings file" for
    cacop.yaml and kb/*.yaml, which arrive by pull just as entries do).
    """
    entry = what == "entry"
    no_follow = getattr(os, "O_NOFOLLOW", 0)  # not on Windows: there, lstat says
    if not no_follow and path.is_symlink():
        raise _linked(what)
    flags = os.O_RDONLY | no_follow | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if path.is_symlink():  # ELOOP from O_NOFOLLOW
            raise _linked(what) from exc
        raise EntryError("unreadable", f"cannot read the file: {exc.strerror}") from exc
    with open(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise EntryError(
                "not-a-file",
                "this is not a regular file (a pipe, a device or a folder); "
                + ("an entry is a Markdown file" if entry else f"a {what} is YAML text"),
            )
        if info.st_size > max_bytes:  # before reading a byte of it
            raise _too_large(info.st_size, max_bytes, what)
        try:
            # As many bytes as fstat said, plus one to see whether it grew meanwhile: asking
            # for max_bytes + 1 at once made Python allocate a 1 MiB buffer for every 6 kB
            # entry (0.7 s of 10,000 reads). Never more than max_bytes + 1 in all.
            data = handle.read(min(info.st_size, max_bytes) + 1)
            if len(data) > info.st_size:
                data += handle.read(max_bytes + 1 - len(data))
        except OSError as exc:
            raise EntryError("unreadable", f"cannot read the file: {exc.strerror}") from exc
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes, what)
    return data


def _linked(what: str = "entry") -> EntryError:
    article = "an" if what[0] in "aeiou" else "a"
    return EntryError(
        "link",
        f"the file is a symbolic link; {article} {what} must be a regular file (replace the "
        "link with the file itself)",
    )


def _too_large(size: int, max_bytes: int, what: str = "entry") -> EntryError:
    if what == "entry":
        return EntryError(
            "too-large",
            f"the file is {size:,} bytes; entries may be at most {max_bytes:,} "
            "(put large material in an attachment)",
        )
    return EntryError(
        "too-large", f"the file is {size:,} bytes; a {what} may be at most {max_bytes:,}"
    )
