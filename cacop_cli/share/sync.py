"""`sync`: bring in what other sites shared and send out this clone's commits.

The rebase runs in a temporary checkout; then the user's branch moves the way
`git reset --keep` does (uncommitted edits stay byte for byte, or nothing happens).
`integrate`, `arrivals` and `for_this_site` are shared with bundles.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import gitrepo
from ..config import KB
from ..errors import CacopError, ExitCode, GitError, Refused, UsageError
from ..models import TYPE_FOLDERS, Outcome
from . import gates
from .gates import ENTRY_PATH, Finding, meta_of
from .outgoing import gate_outgoing, push_env, unscanned_reason
from .session import ASIDE_PREFIX, no_commits_yet, record_set_aside, sharing
from .status import LAST_SYNC


def refresh_index(kb: KB) -> bool:
    """Bring the search index up to date after files changed; False when the index cannot
    be used now (busy, damaged, unreadable): the next search rebuilds what it needs."""
    from .. import search  # here, so that a sync with nothing new never loads it

    try:
        search.refresh(kb)
    except (CacopError, OSError):
        return False
    return True


@dataclass
class Arrival:
    entry_id: str
    entry_type: str
    site: str
    title: str
    path: str
    status: str  # new or updated

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class Integration:
    before: str
    after: str
    how: str  # up to date, fast-forward, rebased
    merged_edits: list[str] = field(default_factory=list)  # uncommitted edits merged


def integrate(kb: KB, target: str | None, source: str) -> Integration:
    """Bring the checked-out branch up to `target` (rebasing local commits onto it).

    Raises GitError (exit 4) on a conflict, with the clone exactly as it was.
    """
    root = kb.root
    before = gitrepo.rev_parse(root, "HEAD")
    if before is None:
        raise no_commits_yet("to bring the new commits onto")
    if target is None or gitrepo.count_commits(root, before, target) == 0:
        return Integration(before, before, "up to date")
    ahead = gitrepo.count_commits(root, target, before)
    if ahead == 0:
        new_head, how = target, "fast-forward"
    else:
        with gitrepo.worktree(root, before) as place:
            clashing = gitrepo.rebase(place, target)
            if clashing:
                raise GitError(
                    f"your {ahead} local commit(s) and what arrived from {source} change the "
                    f"same lines in: {', '.join(clashing)}",
                    hint="nothing was changed here. Edit those files so they agree with "
                    f"{source} (or ask the other site), commit, and sync again",
                )
            new_head = gitrepo.git_ok(place, "rev-parse", "HEAD").strip()
        how = f"rebased {ahead} local commit(s)"
    merged = _move_branch(kb, before=before, after=new_head, source=source)
    return Integration(before, new_head, how, merged)


def _move_branch(kb: KB, *, before: str, after: str, source: str) -> list[str]:
    """Move the checked-out branch from before to after, keeping uncommitted work.

    Returns the files whose uncommitted edits were merged with what arrived. Raises
    GitError, with nothing changed, when that work and the arrivals cannot both be kept.
    """
    root = kb.root
    branch = gitrepo.current_branch(root)
    if branch is None:
        raise GitError("HEAD is detached; go back to your branch and try again")
    arriving = gitrepo.changes(root, before, after)
    touched = {change.path for change in arriving}
    clashing = sorted(touched & set(gitrepo.local_changes(root)))
    added = {change.path: change.blob for change in arriving if change.status == "A"}
    same, different = [], []
    for name in gitrepo.untracked(root):
        if name in added:
            data = (root / name).read_bytes() if (root / name).is_file() else None
            arrived = gitrepo.read_blob(root, added[name])
            (same if data == arrived and not (root / name).is_symlink() else different).append(name)
    if different:
        raise _clash(source, different)
    merged = _merge_uncommitted(kb, clashing, after=after, source=source) if clashing else {}
    index_entries = (
        gitrepo.git_ok(root, "ls-files", "-s", "-z", "--", *clashing) if clashing else ""
    )
    backup = {name: (root / name).read_bytes() for name in clashing}
    aside = Path(
        tempfile.mkdtemp(prefix=f"{ASIDE_PREFIX}{os.getpid()}-", dir=gitrepo.git_dir(root))
    )
    try:
        with gitrepo.sigint_deferred():
            record_set_aside(aside, branch, before, after, same, backup, merged, index_entries)
            for number, name in enumerate(same):  # byte-identical to what arrives
                os.replace(root / name, aside / f"same-{number}")
            if clashing:  # set the edits aside: their merged text is written back below
                gitrepo.git_ok(root, "checkout", "--quiet", "HEAD", "--", *clashing)
            _pause_point("set-aside")
            reason = gitrepo.move_branch_keeping_work(root, branch, after)
            if reason is not None:
                for number, name in enumerate(same):
                    os.replace(aside / f"same-{number}", root / name)
                for name, data in backup.items():
                    (root / name).write_bytes(data)
                if index_entries:
                    gitrepo.run_git(
                        root, "update-index", "-z", "--index-info", input=index_entries.encode()
                    )
                raise GitError(
                    f"cannot bring in what arrived from {source}: {reason}",
                    hint="nothing was changed here; commit or set aside your edits, then sync",
                )
            for name, data in merged.items():
                (root / name).write_bytes(data)
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    return sorted(merged)


def _pause_point(name: str) -> None:
    """Where the tests kill a sync: with CACOP_TEST_PAUSE set to `name`, wait a minute."""
    if os.environ.get("CACOP_TEST_PAUSE") == name:
        time.sleep(60)


def _clash(source: str, names: list[str]) -> GitError:
    from .status import entry_id_of

    ids = list(dict.fromkeys(filter(None, map(entry_id_of, names))))
    hint = "nothing was changed here. Copy your edits elsewhere, then sync again"
    if ids:
        hint = (
            f"nothing was changed here. Not yet shared: {', '.join(ids)}; share with "
            f"`cacop submit {ids[0]}` (each id in turn), then sync again"
        )
    return GitError(
        f"what arrived from {source} clashes with your uncommitted work in: " + ", ".join(names),
        hint=hint,
    )


def _merge_uncommitted(kb: KB, clashing: list[str], *, after: str, source: str) -> dict[str, bytes]:
    """The text of each edited file merged with what arrived, or GitError if they clash.

    The merge runs in a temporary checkout of `after`, from `git stash create` (which only
    records the edits; the stash list and the working tree stay as they are).
    """
    root = kb.root
    in_head = set(
        gitrepo.git_ok(root, "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", *clashing).split(
            "\0"
        )
    )
    plain = all((root / name).is_file() and not (root / name).is_symlink() for name in clashing)
    if not plain or not set(clashing) <= in_head:
        raise _clash(source, clashing)
    edits = gitrepo.git_ok(root, "stash", "create", what="recording your edits").strip()
    if not edits:
        raise _clash(source, clashing)
    with gitrepo.worktree(root, after) as place:
        applied = gitrepo.run_git(place, "stash", "apply", "--quiet", edits)
        unmerged = gitrepo.git_ok(place, "diff", "--name-only", "--diff-filter=U")
        if applied.returncode != 0 or unmerged.strip():
            raise _clash(source, clashing)
        merged = {}
        for name in clashing:
            if not (place / name).is_file():
                raise _clash(source, clashing)
            merged[name] = (place / name).read_bytes()
    return merged


def arrivals(kb: KB, base: str | None, tip: str) -> list[Arrival]:
    """Entries added or changed between base and tip."""
    found = []
    for change in gitrepo.changes(kb.root, base, tip):
        if change.status == "D" or not ENTRY_PATH.match(change.path):
            continue
        data = gitrepo.read_blob(kb.root, change.blob, limit=kb.limits["entry_bytes"])
        meta = meta_of(gates.as_text(data) if data is not None else None) or {}
        folder = change.path.split("/")[1]
        guessed = next((kind for kind, name in TYPE_FOLDERS.items() if name == folder), "rfi")
        if "/responses/" in change.path:
            guessed = "response"
        found.append(
            Arrival(
                entry_id=str(meta.get("id") or Path(change.path).stem),
                entry_type=str(meta.get("type") or guessed),
                site=str(meta.get("site") or "?"),
                title=str(meta.get("title") or "(cannot be read)"),
                path=change.path,
                status="new" if change.status == "A" else "updated",
            )
        )
    found.sort(key=lambda item: (item.site, item.entry_type, item.entry_id))
    return found


# Files that change how this clone checks, validates, builds or runs things: named on arrival
# so that a pulled change to the rules (or to a CI job or hook) never goes unnoticed.
SETTINGS_FILES = ("cacop.yaml", "kb/sites.yaml", "kb/vocabulary.yaml", ".gitlab-ci.yml",
                  ".pre-commit-config.yaml", ".gitattributes", ".gitmodules")  # fmt: skip
SETTINGS_FOLDERS = ("schemas/", ".github/", ".githooks/", ".cacop")


def is_settings_file(path: str) -> bool:
    """Is this path a setting, schema, CI or hook file rather than an entry or a note?"""
    return path in SETTINGS_FILES or path.startswith(SETTINGS_FOLDERS)


@dataclass
class SettingArrival:
    path: str
    status: str  # new, changed or removed

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def settings_arrivals(kb: KB, base: str | None, tip: str) -> list[SettingArrival]:
    """Settings, schema, CI and hook files added, changed or removed between base and tip."""
    words = {"A": "new", "D": "removed"}
    return sorted(
        (
            SettingArrival(change.path, words.get(change.status, "changed"))
            for change in gitrepo.changes(kb.root, base, tip)
            if is_settings_file(change.path)
        ),
        key=lambda item: item.path,
    )


def for_this_site(kb: KB, tip: str, arrived: list[Arrival]) -> tuple[list[Arrival], list[Arrival]]:
    """(new RFIs addressed to this site, new responses to this site's RFIs)."""
    rfis, responses = [], []
    for item in arrived:
        if item.status != "new" or item.site == kb.site:
            continue
        data = gitrepo.read_file_at(kb.root, tip, item.path)
        meta = meta_of(gates.as_text(data) if data else None) or {}
        if item.entry_type == "rfi":
            to = meta.get("to")
            if isinstance(to, list) and (kb.site in to or "all" in to):
                rfis.append(item)
        elif item.entry_type == "response" and isinstance(meta.get("rfi"), str):
            rfi_path = f"kb/rfis/{meta['rfi']}.md"
            rfi_data = gitrepo.read_file_at(kb.root, tip, rfi_path)
            rfi_meta = meta_of(gates.as_text(rfi_data) if rfi_data else None) or {}
            if rfi_meta.get("site") == kb.site:
                responses.append(item)
    return rfis, responses


# ---------------------------------------------------------------- sync


@dataclass
class BroughtIn:
    """What integrating another site's work brought: shared by sync and bundle apply."""

    integration: Integration
    arrived: list[Arrival] = field(default_factory=list)
    rfis_for_us: list[Arrival] = field(default_factory=list)
    responses_for_us: list[Arrival] = field(default_factory=list)
    settings_arrived: list[SettingArrival] = field(default_factory=list)
    index_refreshed: bool = False

    def list_arrivals(self, kb: KB, tip: str) -> None:
        """Fill in the entries that arrived up to `tip`, and which of them are for us."""
        base = gitrepo.merge_base(kb.root, self.integration.before, tip)
        self.arrived = arrivals(kb, base, tip)
        self.settings_arrived = settings_arrivals(kb, base, tip)
        self.rfis_for_us, self.responses_for_us = for_this_site(kb, tip, self.arrived)


@dataclass(kw_only=True)
class SyncResult(BroughtIn, Outcome):
    branch: str
    upstream: str
    to_push: int = 0
    pushed: bool = False
    push_refused: list[Finding] = field(default_factory=list)
    push_failure: str | None = None
    unscanned_allowed: list[Finding] = field(default_factory=list)  # with --allow-unscanned
    unscanned_reason: str | None = None

    @property
    def ok(self) -> bool:
        return not self.push_refused and not self.push_failure

    @property
    def exit_code(self) -> ExitCode:
        """1 when the gate refused the push, 4 when git could not push."""
        if self.push_refused:
            return ExitCode.PROBLEMS
        return ExitCode.GIT if self.push_failure else ExitCode.OK


def check_state(kb: KB) -> str:
    """The checked-out branch, after refusing states in which sync could lose work."""
    gitrepo.require_repository(kb.root, "share")
    busy = gitrepo.operation_in_progress(kb.root)
    if busy:
        raise GitError(
            f"git is in the middle of {busy} here; sync would make it worse",
            hint="finish it (`git status` says how) or abandon it (e.g. `git rebase --abort`, "
            "`git merge --abort`, `git bisect reset`), then sync again",
        )
    branch = gitrepo.current_branch(kb.root)
    if branch is None:
        raise GitError(
            "HEAD is detached (you are not on a branch), so there is nothing to sync",
            hint=f"go back to your branch, e.g. `git switch {kb.branch}`, then sync again",
        )
    try:
        return gitrepo.check_branch_name(kb.root, branch)
    except UsageError as error:
        raise GitError(
            f"the branch you are on is called {branch!r}, a name git itself would refuse",
            hint=f"switch to a branch with a plain name, e.g. `git switch {kb.branch}`",
        ) from error


def refuse_purged_history(kb: KB, tip: str, seen_before: list[str | None], source: str) -> None:
    """Refuse when the shared branch was rewritten (force-pushed) so that commits it held
    when this clone last saw it are gone from every remote branch, and this branch still
    holds some of them: a rebase and push would publish again what someone purged."""
    head = gitrepo.rev_parse(kb.root, "HEAD")
    if head is None:
        return
    for name in dict.fromkeys(filter(None, seen_before)):
        old = gitrepo.rev_parse(kb.root, name)
        if old is None or gitrepo.is_ancestor(kb.root, old, tip):
            continue  # unknown here, or the shared branch only moved forward since
        purged = set(gitrepo.commits_not_on_remotes(kb.root, old))
        carried = [commit for commit in gitrepo.commits_between(kb.root, tip, head)
                   if commit in purged]  # fmt: skip
        if not carried:
            continue
        branch = gitrepo.current_branch(kb.root) or "HEAD"
        raise Refused(
            f"{source} was rewritten (force-pushed): {len(purged)} commit(s) it held at "
            f"{old[:8]} are gone from it, and {branch} still holds {len(carried)} of them "
            f"(e.g. {carried[0][:8]}); syncing would publish again what was removed",
            hint=f"nothing was changed or sent. Keep only your own commits with `git rebase "
            f"--onto {source} {old[:12]} {branch}` (with none of your own: `git reset --keep "
            f"{source}`), or make your work again on {source}; then sync. Ask the site that "
            "rewrote it if unsure why",
        )


def sync(
    kb: KB, push: bool = True, today: dt.date | None = None, allow_unscanned: str | None = None
) -> SyncResult:
    """Bring in what other sites shared; send out this clone's commits unless push=False.

    `allow_unscanned` (a reason, 10 characters or more) lets files cacop cannot read leave;
    the result lists them with the reason. Personal data, secrets and TLP still stop it.
    """
    with sharing(kb):
        return _sync_holding_lock(kb, push, today, allow_unscanned)


def _sync_holding_lock(
    kb: KB, push: bool = True, today: dt.date | None = None, allow_unscanned: str | None = None
) -> SyncResult:
    """`sync` itself, with this clone's sharing lock held."""
    allow_unscanned = unscanned_reason(allow_unscanned)
    branch = check_state(kb)
    if gitrepo.rev_parse(kb.root, "HEAD") is None:
        raise no_commits_yet("to sync")
    upstream = gitrepo.upstream_of(kb.root, branch)
    if upstream is None:
        gitrepo.remote_urls(kb.root, kb.remote)  # no shared repository at all: say that first
        raise GitError(
            f"the branch {branch!r} does not follow a shared branch (no upstream)",
            hint=f"`git branch --set-upstream-to={kb.remote}/{kb.branch}` links it to the "
            "shared one; then sync again",
        )
    source = f"{upstream.remote}/{upstream.branch}" if upstream.remote != "." else upstream.branch
    seen_before = [gitrepo.rev_parse(kb.root, upstream.ref)]  # before the fetch moves it
    seen_before.append(gitrepo.cacop_settings(kb.root).get(LAST_SYNC))
    if upstream.remote != ".":
        gitrepo.fetch(
            kb.root, upstream.remote, upstream.branch,
            fix=f"follow the shared branch: `git branch --set-upstream-to={upstream.remote}/"
            "BRANCH`",
        )  # fmt: skip
    tip = gitrepo.rev_parse(kb.root, upstream.ref)
    if tip is not None:
        refuse_purged_history(kb, tip, seen_before, source)
    integration = integrate(kb, tip, source)
    if tip is not None:  # `cacop status` lists answers that reach the shared branch after it
        gitrepo.set_cacop_setting(kb.root, LAST_SYNC, tip)
    result = SyncResult(integration, branch=branch, upstream=source)
    if tip is not None and integration.how != "up to date":
        result.list_arrivals(kb, tip)
    if integration.before != integration.after:
        result.index_refreshed = refresh_index(kb)
    commits = gitrepo.commits_between(kb.root, tip, integration.after)
    result.to_push = len(commits)
    if push and commits and upstream.remote != ".":
        gated = gate_outgoing(kb, commits, base=tip, tip=integration.after, today=today,
                              allow_unscanned=allow_unscanned)  # fmt: skip
        result.push_refused = gated.refused
        result.unscanned_allowed = gated.unscanned_allowed
        result.unscanned_reason = gated.unscanned_reason
        if not result.push_refused:
            outcome = gitrepo.push(
                kb.root, upstream.remote, f"refs/heads/{branch}", upstream.branch,
                env=push_env(allow_unscanned),
            )  # fmt: skip
            said = "; ".join(outcome.remote_messages[-3:])
            if outcome.ok:
                result.pushed = True
            else:
                result.push_failure = outcome.summary + (f" ({said})" if said else "")
    return result
