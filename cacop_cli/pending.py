"""Work on its way to the shared branch: this clone's `submit/<id>` branches.

`cacop submit` builds its commit outside the working tree and only adds a branch, so an
entry sent with `--no-push`, or waiting on review, may exist on its branch alone. It is
still an entry of this KB: `show` and `list` read it from the branch (marked pending),
never "no entry has the id".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import gitrepo
from .config import KB
from .entries import entry_from_bytes
from .errors import EntryError, GitError
from .models import Entry, Issue

BRANCH_PREFIX = "submit/"
_ENTRY_PATH = re.compile(
    r"^kb/(?:strategies|work-products|rfis)/(?P<a>[^/]+)\.md$"
    r"|^kb/rfis/[^/]+/responses/(?P<b>[^/]+)\.md$"
)


@dataclass(frozen=True)
class Branch:
    """One `submit/<id>` branch of this clone."""

    entry_id: str
    name: str  # submit/<id>
    commit: str


def branches(kb: KB) -> list[Branch]:
    """This clone's submit/<id> branches, by id; none outside git (for-each-ref fails there
    as `rev-parse --is-inside-work-tree` would: one git process instead of two)."""
    try:
        listed = gitrepo.git_ok(
            kb.root, "for-each-ref", "--format=%(refname:lstrip=2) %(objectname)",
            f"refs/heads/{BRANCH_PREFIX}",
        )  # fmt: skip
    except GitError:
        return []
    found = []
    for line in listed.splitlines():
        name, _, commit = line.partition(" ")
        entry_id = name.removeprefix(BRANCH_PREFIX)
        if name.startswith(BRANCH_PREFIX) and entry_id and "/" not in entry_id and commit:
            found.append(Branch(entry_id, name, commit))
    return sorted(found, key=lambda branch: branch.entry_id)


def entry_path_on(kb: KB, commit: str, entry_id: str) -> str | None:
    """Where the entry `entry_id` is in a commit's tree (relative to the KB), if it is."""
    listed = gitrepo.git_ok(kb.root, "ls-tree", "-r", "-z", "--name-only", commit, "--", "kb")
    for name in listed.split("\0"):
        match = _ENTRY_PATH.match(name)
        if match and entry_id in (match.group("a"), match.group("b")):
            return name
    return None


def read_at(kb: KB, commit: str, rel: str) -> Entry:
    """The entry at `rel` in a commit, read as strictly as a file; EntryError otherwise."""
    limit = kb.limits["entry_bytes"]
    size = int(gitrepo.git_ok(kb.root, "cat-file", "-s", f"{commit}:{rel}").strip() or 0)
    if size > limit:
        raise EntryError("too-large", f"the file is {size:,} bytes; the limit is {limit:,}")
    data = gitrepo.read_file_at(kb.root, commit, rel)
    if data is None:
        raise EntryError("unreadable", "cannot be read from its branch")
    return entry_from_bytes(data, kb.root / rel, kb.root, kb.limits)


def read_pending(kb: KB, entry_id: str) -> Entry | None:
    """The entry on its submit/<id> branch, marked pending; None when there is no such
    branch or it does not hold the entry. EntryError when it cannot be read."""
    found = next((branch for branch in branches(kb) if branch.entry_id == entry_id), None)
    if found is None:
        return None
    rel = entry_path_on(kb, found.commit, entry_id)
    if rel is None:
        return None
    entry = read_at(kb, found.commit, rel)
    entry.pending = found.name
    return entry


def pending_entries(
    kb: KB, known: set[str], listed: list[Branch] | None = None
) -> tuple[list[Entry], list[Issue]]:
    """Entries that live only on a submit branch (their ids are not in `known`), of the
    branches `listed` if the caller has them already."""
    entries, problems = [], []
    for branch in branches(kb) if listed is None else listed:
        if branch.entry_id in known:
            continue
        rel = entry_path_on(kb, branch.commit, branch.entry_id)
        if rel is None:
            continue
        try:
            entry = read_at(kb, branch.commit, rel)
        except EntryError as error:
            where = f"{branch.name}:{rel}"
            problems.append(Issue("error", error.code, where, error.line, error.message))
            continue
        entry.pending = branch.name
        entries.append(entry)
    return entries, problems


def in_working_tree(kb: KB, rel: str) -> bool:
    return (kb.root / Path(rel)).is_file()
