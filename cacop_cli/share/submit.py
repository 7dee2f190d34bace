"""`submit`: share files as a new work product, or an existing entry, on a branch.

The commit is built in a temporary checkout and only a branch `submit/<id>` is added to
the clone; the entry gate runs there first. With a push, a rejected or interrupted
submission removes the branch again, so the clone is left as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import gitrepo, ops
from ..config import KB
from ..entries import read_entry, relpath, write_atomic
from ..errors import CacopError, EntryError, GitError, MissingBranch, NotFound, Refused, UsageError
from ..models import CONTROL, EntryDraft, Hit, tlp_rank
from .forge import compare_url, open_with_gh
from .gates import Finding, GateRefused, banner, extract_cache, gate_entry
from .outgoing import gate_outgoing, push_env
from .session import no_commits_yet, sharing


def _similar(kb: KB, title: str, body: str, *, exclude: str) -> list[Hit]:
    """The three existing entries most like this one. An index that cannot be used (busy,
    damaged, unreadable) means none are shown; a fault in the search code itself surfaces."""
    from .. import search  # here, so that submitting loads the search engine only now

    try:
        found = search.similar_to_text(kb, title, body, limit=4)
    except (CacopError, OSError):
        return []
    return [hit for hit in found if hit.id != exclude][:3]


@dataclass
class SubmitResult:
    entry_id: str
    entry_type: str
    title: str
    path: str  # relative to the KB
    branch: str
    commit: str
    site: str
    base: str  # e.g. origin/main
    pushed: bool
    remote: str | None = None
    pr_url: str | None = None
    pr_command: str | None = None  # what `gh pr create` said
    new_commit: bool = True
    override: dict[str, Any] | None = None
    accepted: list[Finding] = field(default_factory=list)
    unscanned: list[str] = field(default_factory=list)
    similar: list[Hit] = field(default_factory=list)
    offline: bool = False  # --no-push and the remote did not answer
    unseen_base: int = 0  # local commits under the branch that the remote has not seen


@dataclass(frozen=True)
class Sending:
    """How a submission goes out, the same for files and for an existing entry."""

    push: bool = True
    open_pr: bool = False  # with `gh pr create`, when installed
    allow_personal_data: str | None = None  # the reason, recorded in the entry
    allow_unscanned: str | None = None  # the reason to send files cacop cannot read
    on_similar: Callable[[list[Hit]], None] | None = None  # shown before the commit
    today: dt.date | None = None


@dataclass
class _Prepared:
    entry_id: str


def _check_files(kb: KB, files: list[Path]) -> list[tuple[Path, str]]:
    """The files to attach, checked before anything is made: regular, small, safe names."""
    if not files:
        raise UsageError("name at least one file to submit")
    limit = kb.limits["attachment_bytes"]
    chosen: list[tuple[Path, str]] = []
    names: set[str] = set()
    for given in files:
        name = given.name
        try:
            info = os.lstat(given)
        except FileNotFoundError as exc:
            raise NotFound(f"{given}: no such file") from exc
        except OSError as exc:
            raise Refused(f"{given}: cannot be read: {exc.strerror}") from exc
        if stat.S_ISLNK(info.st_mode):
            raise Refused(f"{given}: is a symbolic link; submit the real file instead")
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{given}: is not a regular file")
        if info.st_size > limit:
            raise Refused(
                f"{given}: is {info.st_size:,} bytes; the limit in cacop.yaml is {limit:,}"
            )
        if name.startswith((".", "-")) or CONTROL.search(name):  # as validate checks it
            raise Refused(
                f"{given}: rename it first: attachment names may not start with '.' "
                "or '-' or hold control characters"
            )
        if name in names:
            raise UsageError(f"two files are called {name!r}; rename one")
        names.add(name)
        chosen.append((given, name))
    return chosen


def _copy_regular(source: Path, target: Path, limit: int) -> None:
    """Copy a regular file's bytes, never following a link that appeared meanwhile."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(source, flags)
    except OSError as exc:
        raise Refused(f"{source}: cannot be read (is it a link?): {exc.strerror}") from exc
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            raise Refused(f"{source}: is not a regular file under the size limit")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            shutil.copyfileobj(handle, out)


def _work_product_body(summary: str | None, names: list[str], entry_id: str) -> str:
    """The analyst's words and the files: no template prompt is left for `validate` to flag
    (the sections to write later are in the type's template, `cacop new work-product`)."""
    purpose = f"\n## Purpose\n\n{summary.strip()}\n" if summary and summary.strip() else ""
    listing = "\n".join(f"- [{name}]({entry_id}/{quote(name)})" for name in names)
    return f"{purpose}\n## Attachments\n\n{listing}\n"


def submit_files(
    kb: KB,
    files: list[Path],
    draft: EntryDraft,
    sending: Sending | None = None,
) -> SubmitResult:
    """Share files as a new work product: a branch submit/<id>, pushed, with a PR link."""
    sending = sending or Sending()
    today = sending.today or dt.date.today()
    if draft.tlp is None:
        _refuse_stricter_marking(kb, files)
    draft = dataclasses.replace(
        draft,
        entry_type="work-product",
        product_type=draft.product_type or "other",
        tlp=draft.tlp or "green",
        body="",  # written below, once the id is known
    )
    draft.check(today)
    attachments = _check_files(kb, files)

    def prepare(place: Path) -> _Prepared:
        tree = dataclasses.replace(kb, root=place)
        names = [name for _, name in attachments]
        draft.attachments = names
        created = ops.new_entry(tree, draft, today=today)
        entry_id = created.entry_id
        if ops.locate(kb, entry_id) is not None or gitrepo.branch_exists(
            kb.root, f"submit/{entry_id}"
        ):
            raise Refused(
                f"{entry_id!r} already exists here (an entry or a submit/{entry_id} branch)",
                hint=f"to send that one, run `cacop submit {entry_id}`; else choose another title",
            )
        text = created.path.read_text("utf-8")
        write_atomic(created.path, text + _work_product_body(draft.summary, names, entry_id))
        folder = created.path.parent / entry_id
        for source, name in attachments:
            _copy_regular(source, folder / name, kb.limits["attachment_bytes"])
        return _Prepared(entry_id)

    return _submit(kb, prepare, None, dataclasses.replace(sending, today=today))


def _refuse_stricter_marking(kb: KB, files: list[Path]) -> None:
    """A work product without --tlp is green: refuse when a file says it is stricter."""
    from .. import textextract

    for given in files:
        extracted = textextract.extract(given, cache_dir=extract_cache(kb))
        marking = banner(extracted.text)
        if marking is not None and tlp_rank(marking) > tlp_rank("green"):
            raise Refused(
                f"{given}: is marked TLP:{marking.upper()}, so the work product cannot default "
                "to TLP:GREEN",
                hint=f"pass --tlp {marking} (if share.max_tlp lets it leave), or leave out "
                f"{given.name}",
            )


def submit_entry(
    kb: KB,
    entry_id: str,
    sending: Sending | None = None,
) -> SubmitResult:
    """Share an existing entry of any type (including an RFI response) on submit/<id>."""
    source = ops.locate(kb, entry_id) if ops.ID_RE.fullmatch(entry_id) else None
    if source is None and not (
        ops.ID_RE.fullmatch(entry_id) and gitrepo.branch_exists(kb.root, f"submit/{entry_id}")
    ):
        try:
            entry_id = ops.resolve_id(kb, entry_id)
        except NotFound as error:
            error.hint = f"{error.hint}; to share files, give them with --title"
            raise
        source = ops.locate(kb, entry_id)

    def prepare(place: Path) -> _Prepared:
        if source is None:  # a branch made earlier (e.g. with --no-push): send it as it is
            return _Prepared(entry_id)
        rel = relpath(source, kb.root)
        _copy_regular(source, place / rel, kb.limits["entry_bytes"])
        folder = source.parent / source.stem
        if rel.startswith("kb/work-products/") and folder.is_dir() and not folder.is_symlink():
            try:
                names = read_entry(source, kb.root, kb.limits).meta.get("attachments")
            except EntryError:
                names = None
            for name in names if isinstance(names, list) else ():
                if isinstance(name, str) and (folder / name).is_file() and "/" not in name:
                    if (folder / name).is_symlink():
                        continue  # validation in the checkout reports it as missing
                    _copy_regular(
                        folder / name, place / rel[:-3] / name, kb.limits["attachment_bytes"]
                    )
        return _Prepared(entry_id)

    return _submit(kb, prepare, entry_id, sending or Sending())


@dataclass(frozen=True)
class _Base:
    commit: str
    name: str  # e.g. origin/main
    offline: bool  # --no-push and the remote did not answer
    seen: bool  # the remote-tracking branch: history the remote has


def _base_commit(kb: KB, push: bool) -> _Base:
    """What to branch from: the remote-tracking branch, fetched when the remote answers, so
    that a submit branch never carries local history the remote has not seen. Only offline
    with --no-push, in a clone that never fetched it, is the local branch the base."""
    offline = False
    try:
        gitrepo.fetch(
            kb.root, kb.remote, kb.branch,
            fix="set `branch:` in cacop.yaml to the branch the sites share",
        )  # fmt: skip
    except MissingBranch:  # the remote answered: offline or not, the setting must be fixed
        raise
    except GitError:
        if push:
            raise
        offline = True
    for ref, name in (
        (f"refs/remotes/{kb.remote}/{kb.branch}", f"{kb.remote}/{kb.branch}"),
        (f"refs/heads/{kb.branch}", kb.branch),
        ("HEAD", "HEAD"),
    ):
        commit = gitrepo.rev_parse(kb.root, ref)
        if commit:
            return _Base(commit, name, offline, seen=ref.startswith("refs/remotes/"))
    raise no_commits_yet("to build a submission on")


def _submit(
    kb: KB, prepare: Callable[[Path], _Prepared], known_id: str | None, sending: Sending
) -> SubmitResult:
    """See `_submit_holding_lock`; one sharing command at a time in a clone."""
    with sharing(kb):
        return _submit_holding_lock(kb, prepare, known_id, sending)


def _submit_holding_lock(
    kb: KB,
    prepare: Callable[[Path], _Prepared],
    known_id: str | None,
    sending: Sending,
) -> SubmitResult:
    gitrepo.require_repository(kb.root, "share")
    push, open_pr, allow_personal_data = sending.push, sending.open_pr, sending.allow_personal_data
    today = sending.today or dt.date.today()
    for name, reason in (
        ("allow_personal_data", allow_personal_data),
        ("allow_unscanned", sending.allow_unscanned),
    ):
        if reason is not None and len(reason.strip()) < 10:
            raise UsageError(
                f"the reason given with --{name.replace('_', '-')} is too short (10 characters "
                "or more); it is recorded in the entry for the reviewers",
                field=name,
            )
    gitrepo.check_branch_name(kb.root, kb.branch)
    if push:
        gitrepo.remote_urls(kb.root, kb.remote)
    chosen = _base_commit(kb, push)
    base, base_name = chosen.commit, chosen.name
    existing_tip = None
    if known_id is not None:
        existing_tip = gitrepo.rev_parse(kb.root, f"refs/heads/submit/{known_id}")
    made: tuple[str, str, str | None] | None = None  # (branch, commit, where it was)
    try:
        with gitrepo.worktree(kb.root, existing_tip or base) as place:
            prepared = prepare(place)
            branch = gitrepo.check_branch_name(kb.root, f"submit/{prepared.entry_id}")
            tree = dataclasses.replace(kb, root=place)
            entry_file = ops.locate(tree, prepared.entry_id)
            if entry_file is None:
                raise NotFound(f"the branch {branch} does not hold the entry {prepared.entry_id}")
            entry, accepted, unscanned, override = gate_entry(
                tree, entry_file, allow_reason=allow_personal_data, today=today,
                allow_unscanned=sending.allow_unscanned, cache_dir=extract_cache(kb),
            )  # fmt: skip
            similar = _similar(kb, entry.title, entry.body, exclude=entry.id)
            if sending.on_similar is not None:
                sending.on_similar(similar)
            changed = gitrepo.git_ok(place, "status", "--porcelain", "--", "kb").strip()
            with gitrepo.sigint_deferred():
                if changed:
                    message = (
                        f"Share {entry.type} {entry.id} from {kb.site}\n\n{entry.title}\n\n"
                        "Submitted with `cacop submit`."
                    )
                    commit = gitrepo.commit_paths(place, ["kb"], message)
                elif existing_tip:
                    commit = existing_tip
                else:
                    raise Refused(
                        f"{entry.rel} is already on {base_name} exactly as it is here; "
                        "there is nothing new to share"
                    )
                carried = (
                    gitrepo.commits_between(kb.root, base, commit)
                    if chosen.seen  # else all the local history no remote branch has
                    else gitrepo.commits_not_on_remotes(kb.root, commit)
                )
                gated = gate_outgoing(
                    kb, carried, base=base, tip=commit, today=today,
                    allow_unscanned=sending.allow_unscanned, validate=False,
                )  # fmt: skip
                if gated.refused:  # what the branch carries besides the entry just checked
                    raise GateRefused("nothing was shared", gated.refused)
                unscanned += [f.path for f in gated.unscanned_allowed if f.path not in unscanned]
                if existing_tip is None:
                    gitrepo.create_branch(kb.root, branch, commit)
                    made = (branch, commit, None)
                elif commit != existing_tip:
                    gitrepo.git_ok(
                        kb.root, "update-ref", f"refs/heads/{branch}", commit, existing_tip
                    )
                    made = (branch, commit, existing_tip)
        result = SubmitResult(
            entry_id=entry.id,
            entry_type=entry.type,
            title=entry.title,
            path=entry.rel,
            branch=branch,
            commit=commit,
            site=kb.site,
            base=base_name,
            pushed=False,
            new_commit=bool(changed),
            override=override,
            accepted=accepted,
            unscanned=unscanned,
            similar=similar,
            offline=chosen.offline,
            unseen_base=0 if chosen.seen else max(0, len(carried) - bool(changed)),
        )
        if push:
            _push_branch(kb, result, sending.allow_unscanned)
            made = None
            if open_pr:
                body = f"Shares the {entry.type} `{entry.id}` from {kb.site}."
                result.pr_command = open_with_gh(
                    kb.root, branch=branch, base=kb.branch, title=entry.title, body=body
                )
        return result
    except BaseException:
        if made is not None and push:  # leave the clone as it was: no half-made submission
            with gitrepo.sigint_deferred():
                branch, commit, was = made
                if was is None:
                    gitrepo.delete_branch(kb.root, branch, commit)
                else:
                    gitrepo.run_git(kb.root, "update-ref", f"refs/heads/{branch}", was, commit)
        raise


def _push_branch(kb: KB, result: SubmitResult, reason: str | None = None) -> None:
    outcome = gitrepo.push(
        kb.root, kb.remote, f"refs/heads/{result.branch}", result.branch,
        env=push_env(reason),
    )  # fmt: skip
    if not outcome.ok:
        said = "; ".join(outcome.remote_messages[-3:])
        raise GitError(
            f"the push of {result.branch} to {kb.remote} was rejected: {outcome.summary}"
            + (f" ({said})" if said else ""),
            hint="nothing was shared and no branch was left behind; fix what the remote says, "
            "then run the same command again",
        )
    result.pushed = True
    urls = gitrepo.remote_urls(kb.root, kb.remote)
    result.remote = urls[-1]
    result.pr_url = compare_url(urls[-1], kb.branch, result.branch)
