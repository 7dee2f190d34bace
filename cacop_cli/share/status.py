"""`status`: what is pending for this analyst, read from this clone alone (no network).

- entries created or changed here and not yet shared, each with `cacop submit ID`;
- submissions waiting on the remote (`submit/<id>` branches): pushed or not, merged into
  the shared branch or not, with the forge's pull-request link;
- RFIs addressed to this site, not closed, that this site has not answered;
- answers to this site's RFIs that reached the shared branch since the last sync.

What the remote holds is known as of the last fetch (`sync` and `submit` fetch).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .. import gitrepo, pending
from ..config import KB
from ..entries import read_entry
from ..errors import EntryError, GitError, UsageError
from ..models import Outcome
from .forge import compare_url
from .session import clear_leftovers

T = TypeVar("T")
LAST_SYNC = "last-sync"  # git config cacop.last-sync: the shared commit the last sync brought in
_ENTRY = re.compile(
    r"^kb/(?:strategies|work-products|rfis)/([^/]+)\.md$|^kb/rfis/[^/]+/responses/([^/]+)\.md$"
)
_ATTACHMENT = re.compile(r"^kb/work-products/([^/]+)/[^/]+$")


def entry_id_of(path: str) -> str | None:
    """The id of the entry a KB path belongs to (an entry file, or an attachment)."""
    match = _ENTRY.match(path)
    if match:
        return match.group(1) or match.group(2)
    match = _ATTACHMENT.match(path)
    return match.group(1) if match else None


@dataclass
class Unshared:
    entry_id: str
    entry_type: str
    title: str
    path: str
    state: str  # new, changed (not committed) or committed (here, not in the shared branch)

    @property
    def command(self) -> str:
        return f"cacop submit {self.entry_id}"

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "command": self.command}


@dataclass
class Submission:
    entry_id: str
    branch: str
    commit: str
    title: str
    path: str | None
    pushed: bool  # the remote has the branch (as of the last push or fetch)
    up_to_date: bool  # ... at this commit
    merged: bool  # the shared branch holds it
    pr_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RfiToAnswer:
    entry_id: str
    title: str
    site: str
    priority: str
    needed_by: str
    days_left: int | None
    path: str

    @property
    def command(self) -> str:
        return f"cacop rfi respond {self.entry_id}"

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "command": self.command}


@dataclass
class Answer:
    entry_id: str
    rfi: str
    site: str
    title: str
    path: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Status(Outcome):
    site: str
    git: bool  # is the KB a git clone at all
    shared_branch: str  # e.g. origin/main
    last_sync: str | None = None
    unshared: list[Unshared] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    rfis_to_answer: list[RfiToAnswer] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)


def _is_ancestor(root: Path, commit: str, tip: str) -> bool:
    return gitrepo.run_git(root, "merge-base", "--is-ancestor", commit, tip).returncode == 0


def _changed_here(kb: KB, shared: str | None) -> dict[str, str]:
    """entry id -> new / changed / committed, for work not in the shared branch."""
    found: dict[str, str] = {}
    for code, path in gitrepo.working_changes(kb.root, "kb"):
        entry_id = entry_id_of(path)
        if entry_id is None or "D" in code:
            continue
        state = "new" if code in ("??", "A ", "AM") else "changed"
        if _ENTRY.match(path) or entry_id not in found:
            found[entry_id] = state
    head = gitrepo.rev_parse(kb.root, "HEAD")
    if shared and head:
        base = gitrepo.merge_base(kb.root, shared, head)
        for change in gitrepo.changes(kb.root, base, head) if base != head else ():
            entry_id = entry_id_of(change.path)
            if entry_id and change.status != "D":
                found.setdefault(entry_id, "committed")
    return found


def _unshared(kb: KB, shared: str | None, branches: dict[str, pending.Branch]) -> list[Unshared]:
    from ..ops import locate

    found = []
    for entry_id, state in sorted(_changed_here(kb, shared).items()):
        try:
            path = locate(kb, entry_id)
        except UsageError:  # a file name cacop refuses as an id: `validate` reports it
            path = None
        if path is None:
            continue
        rel = path.relative_to(kb.root).as_posix()
        branch = branches.get(entry_id)
        if branch is not None:
            sent = gitrepo.read_file_at(kb.root, branch.commit, rel)
            if sent is not None and sent == path.read_bytes():
                continue  # submitted as it is: listed with the submissions
        try:
            entry = read_entry(path, kb.root, kb.limits)
            title, entry_type = entry.title, entry.type
        except EntryError:
            title, entry_type = "(cannot be read: `cacop validate` says why)", ""
        found.append(Unshared(entry_id, entry_type, title, rel, state))
    return found


def _submissions(kb: KB, shared: str | None, branches: list[pending.Branch]) -> list[Submission]:
    try:
        url: str | None = gitrepo.remote_urls(kb.root, kb.remote)[-1]
    except GitError:
        url = None
    found = []
    for branch in branches:
        rel = pending.entry_path_on(kb, branch.commit, branch.entry_id)
        title = ""
        if rel is not None:
            try:
                title = pending.read_at(kb, branch.commit, rel).title
            except (EntryError, GitError):
                title = "(cannot be read)"
        remote = gitrepo.rev_parse(kb.root, f"refs/remotes/{kb.remote}/{branch.name}")
        merged = bool(shared) and (
            _is_ancestor(kb.root, branch.commit, shared)
            or (
                rel is not None
                and gitrepo.read_file_at(kb.root, shared, rel)
                == gitrepo.read_file_at(kb.root, branch.commit, rel)
            )
        )
        link = compare_url(url, kb.branch, branch.name) if url and remote and not merged else None
        found.append(
            Submission(
                entry_id=branch.entry_id,
                branch=branch.name,
                commit=branch.commit,
                title=title,
                path=rel,
                pushed=remote is not None,
                up_to_date=remote == branch.commit,
                merged=merged,
                pr_url=link,
            )
        )
    return found


def _rfis_to_answer(
    kb: KB, today: dt.date, branches: list[pending.Branch] | None = None
) -> list[RfiToAnswer]:
    from ..listing import while_checking

    # the index's listing part, no entry made but RFIs', worked out while the check runs
    return while_checking(kb, lambda listing: _waiting_here(kb, listing, today, branches))


def _waiting_here(
    kb: KB, listing: Any, today: dt.date, branches: list[pending.Branch] | None
) -> list[RfiToAnswer]:
    from ..rfi import listed_rfis, rfi_rows

    waiting, _ = pending.pending_entries(kb, set(listing.columns["id"]), branches)
    inquiries, answers = listed_rfis(listing)
    found = []
    for row in rfi_rows(inquiries + waiting, today, answers):
        meta = row.entry.meta
        to = meta.get("to") if isinstance(meta.get("to"), list) else []
        if meta.get("site") == kb.site or not ({"all", kb.site} & set(map(str, to))):
            continue
        if row.status == "closed" or kb.site in row.responders:
            continue
        found.append(
            RfiToAnswer(
                entry_id=row.entry.id,
                title=row.entry.title,
                site=str(meta.get("site", "")),
                priority=str(meta.get("priority", "")),
                needed_by=str(meta.get("needed_by", "")),
                days_left=row.days_left,
                path=row.entry.rel,
            )
        )
    found.sort(key=lambda rfi: (rfi.days_left is None, rfi.days_left or 0, rfi.entry_id))
    return found


def _answers(kb: KB, shared: str | None, last_sync: str | None) -> list[Answer]:
    """Responses to this site's RFIs added to the shared branch since the last sync."""
    head = gitrepo.rev_parse(kb.root, "HEAD")
    if not shared or not head:
        return []
    base = last_sync if last_sync and _is_ancestor(kb.root, last_sync, shared) else None
    base = base or gitrepo.merge_base(kb.root, head, shared)
    if base == shared:
        return []
    from .sync import arrivals, for_this_site  # only now: nothing arrived, nothing to read

    _, responses = for_this_site(kb, shared, arrivals(kb, base, shared))
    found = []
    for item in responses:
        rfi_id = item.path.split("/")[2]
        found.append(Answer(item.entry_id, rfi_id, item.site, item.title, item.path))
    return found


def status(kb: KB, today: dt.date | None = None) -> Status:
    """What is pending for this analyst; an empty report outside git, saying so."""
    today = today or dt.date.today()
    shared_name = f"{kb.remote}/{kb.branch}"
    if not gitrepo.is_repository(kb.root):
        return Status(kb.site, False, shared_name, rfis_to_answer=_rfis_to_answer(kb, today))
    clear_leftovers(kb)  # what a killed sync or submit left (temp folder, .git/cacop-sync-*)
    shared = gitrepo.rev_parse(kb.root, f"refs/remotes/{kb.remote}/{kb.branch}")
    last_sync = gitrepo.cacop_settings(kb.root).get(LAST_SYNC)
    if last_sync is not None and gitrepo.rev_parse(kb.root, last_sync) is None:
        last_sync = None
    branches = pending.branches(kb)
    rfis_to_answer = _meanwhile(lambda: _rfis_to_answer(kb, today, branches))
    try:
        unshared = _unshared(kb, shared, {branch.entry_id: branch for branch in branches})
        submissions = _submissions(kb, shared, branches)
        answers = _answers(kb, shared, last_sync)
    except Exception:  # the error is the command's; the catalog's reader is let finish first
        with contextlib.suppress(Exception):
            rfis_to_answer()
        raise
    return Status(
        site=kb.site,
        git=True,
        shared_branch=shared_name,
        last_sync=last_sync,
        unshared=unshared,
        submissions=submissions,
        rfis_to_answer=rfis_to_answer(),
        answers=answers,
    )


def _meanwhile(work: Callable[[], T]) -> Callable[[], T]:
    """Start `work()` in a thread; the function returned waits for its result (or raises
    its error). The catalog is read there while git answers here: `git status` over
    10,000 files mostly waits on the disk, and the two took turns (~150-400 ms). The
    thread reads the KB only (the index's own writes are locked and atomic) and is a
    daemon, so Ctrl-C ends the command at once."""
    import contextvars
    import threading

    context = contextvars.copy_context()  # the progress bar of a first build, say
    held: dict[str, Any] = {}

    def run() -> None:
        try:
            held["result"] = context.run(work)
        except BaseException as error:  # noqa: BLE001 - handed to the caller, raised there
            held["error"] = error

    thread = threading.Thread(target=run, name="cacop-status-catalog", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if "error" in held:
            raise held["error"]
        return held["result"]

    return result
