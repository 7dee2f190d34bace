"""`edit` and `open`: change an entry you wrote, and open an entry's attachments.

The editor and the system's opener are started by the command layer; here are the
steps around them, which return plain data and raise CacopError kinds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from . import ops
from .catalog import entry_issue
from .config import KB
from .entries import read_regular_file, relpath, set_field, write_atomic
from .errors import EntryError, NotFound, Refused, UsageError
from .models import Issue, Outcome, has_errors


def share_hint(entry_id: str) -> str:
    """How a changed entry leaves this clone: the one command every writing command names."""
    return f"cacop submit {entry_id}"


def _only_on_branch(entry_id: str, branch: str) -> Refused:
    return Refused(
        f"{entry_id} is only on its branch {branch} (submitted, not yet in the shared branch), "
        "so there is no file here to change",
        hint=f"it arrives with `cacop sync` once merged; `cacop show {entry_id}` shows it now",
    )


@dataclass
class Editing:
    """An entry about to be opened in an editor, and its bytes before."""

    path: Path
    entry_id: str
    before: bytes


def start_edit(kb: KB, entry_id: str) -> Editing:
    """The entry's file and its bytes, before the editor opens it."""
    path = ops.locate(kb, entry_id)
    if path is None:
        entry = ops.read_by_id(kb, entry_id)  # NotFound, or the entry on its submit branch
        raise _only_on_branch(entry_id, entry.pending or "a submit branch")
    try:
        before = read_regular_file(path, kb.limits["entry_bytes"])
    except EntryError as error:
        issue = entry_issue(path, kb.root, error)
        raise Refused(f"{issue.path}:{issue.line}: {issue.message}") from error
    return Editing(path, entry_id, before)


@dataclass
class Edited(Outcome):
    path: Path
    entry_id: str
    changed: bool
    updated: str | None = None  # the date written to `updated`, when it was
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.issues)

    @property
    def share_command(self) -> str:
        return share_hint(self.entry_id)


def finish_edit(kb: KB, editing: Editing, today: dt.date | None = None) -> Edited:
    """After the editor closed: set `updated` to today if the file changed (only that
    field's bytes), then check the entry against the KB."""
    path = editing.path
    if not path.is_file() or path.is_symlink():
        raise Refused(
            f"{relpath(path, kb.root)} is gone (or is no longer a plain file) after the editor "
            "closed",
            hint="restore it from your editor's backup, or `cacop sync` to bring back the "
            "shared copy",
        )
    after = path.read_bytes()
    if after == editing.before:
        return Edited(path, editing.entry_id, changed=False, issues=ops.check_entry(kb, path))
    date = (today or dt.date.today()).isoformat()
    updated = None
    try:
        text = after.decode("utf-8")
        stamped = set_field(text, "updated", date)
    except (UnicodeDecodeError, EntryError, ValueError):
        stamped = None  # the check below reports what is wrong, with its line
    if stamped is not None:
        if stamped != text:
            write_atomic(path, stamped)
        updated = date
    return Edited(path, editing.entry_id, True, updated, ops.check_entry(kb, path))


def attachment_to_open(kb: KB, entry_id: str, name: str | None) -> Path:
    """The attachment of an entry to open: a plain file inside the entry's own folder,
    never a link and never a name that leads out of it."""
    entry = ops.read_by_id(kb, entry_id)
    if entry.pending:
        raise _only_on_branch(entry_id, entry.pending)
    listed = entry.meta.get("attachments")
    names = [item for item in (listed if isinstance(listed, list) else ()) if isinstance(item, str)]
    folder = entry.path.parent / entry.path.stem
    if name is None:
        if len(names) == 1:
            name = names[0]
        elif not names:
            raise NotFound(f"{entry_id} has no attachments")
        else:
            raise UsageError(
                f"{entry_id} has {len(names)} attachments; name the one to open",
                hint=f"e.g. `cacop open {entry_id} {names[0]}`; `cacop show {entry_id}` lists them",
            )
    shown = f"{relpath(folder, kb.root)}/"
    if name.startswith(shown):  # the path `show` prints
        name = name[len(shown) :]
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise Refused(
            f"{name!r} is not an attachment name of {entry_id}: only a file in its own folder "
            f"({shown}) can be opened",
            hint=f"`cacop show {entry_id}` lists its attachments",
        )
    target = folder / name
    if folder.is_symlink() or target.is_symlink():
        raise Refused(f"{relpath(target, kb.root)} is a link; cacop never opens one")
    if not target.is_file():
        raise NotFound(
            f"{relpath(target, kb.root)}: no such attachment",
            hint=f"`cacop show {entry_id}` lists its attachments",
        )
    if target.resolve().parent != folder.resolve():
        raise Refused(f"{relpath(target, kb.root)} leads out of the entry's folder")
    return target
