"""Offline bundles: a branch's commits as a file, gated like a push, and applied after
validating what it holds."""

from __future__ import annotations

import dataclasses
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import gitrepo, ops
from ..config import KB
from ..errors import NotFound, Refused, UsageError
from . import gates
from .gates import Finding, GateRefused
from .outgoing import gate_outgoing, unscanned_reason
from .session import no_commits_yet, sharing
from .sync import BroughtIn, check_state, integrate, refresh_index


@dataclass
class BundleCreated:
    path: Path
    branch: str
    commits: int
    since: str | None
    unscanned_allowed: list[Finding] = field(default_factory=list)  # with --allow-unscanned
    unscanned_reason: str | None = None


def bundle_create(
    kb: KB, target: Path, since: str | None = None, allow_unscanned: str | None = None
) -> BundleCreated:
    """See `_bundle_create_holding_lock`; one sharing command at a time in a clone."""
    allow_unscanned = unscanned_reason(allow_unscanned)
    with sharing(kb):
        return _bundle_create_holding_lock(kb, target, since, allow_unscanned)


def _bundle_create_holding_lock(
    kb: KB, target: Path, since: str | None, allow_unscanned: str | None
) -> BundleCreated:
    """A git bundle of this branch (or of what came after `since`), gated like a push: with
    `allow_unscanned` (a reason), files cacop cannot read go in, listed with the reason."""
    branch = check_state(kb)
    if gitrepo.rev_parse(kb.root, f"refs/heads/{branch}") is None:
        raise no_commits_yet("to bundle")
    since_commit = None
    if since is not None:
        since_commit = gitrepo.rev_parse(kb.root, since)
        if since_commit is None:
            raise UsageError(f"--since {since!r} is not a commit git knows here")
    commits = gitrepo.commits_between(kb.root, since_commit, f"refs/heads/{branch}")
    if not commits:
        raise Refused(f"nothing to bundle: {branch} has no commits after {since}")
    gated = gate_outgoing(
        kb, commits, base=since_commit, tip=commits[-1], allow_unscanned=allow_unscanned
    )
    if gated.refused:
        raise GateRefused("no bundle was made", gated.refused)
    path = target if target.is_absolute() else Path.cwd() / target
    if path.is_dir():
        raise UsageError(f"{target} is a folder; give a file name for the bundle")
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):  # a killed one's
        if gitrepo.process_gone(stale.name.rsplit(".", 2)[-2]):
            stale.unlink(missing_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        gitrepo.bundle_create(kb.root, partial, f"refs/heads/{branch}", since_commit)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return BundleCreated(
        path, branch, len(commits), since, gated.unscanned_allowed, gated.unscanned_reason
    )


@dataclass(kw_only=True)
class BundleApplied(BroughtIn):
    path: Path
    branch: str


def bundle_apply(kb: KB, source: Path) -> BundleApplied:
    """See `_bundle_apply_holding_lock`; one sharing command at a time in a clone."""
    with sharing(kb):
        return _bundle_apply_holding_lock(kb, source)


def _bundle_apply_holding_lock(kb: KB, source: Path) -> BundleApplied:
    """Bring in a bundle from another site, after validating what it holds."""
    branch = check_state(kb)
    path = source if source.is_absolute() else Path.cwd() / source
    if not path.is_file() or path.is_symlink():
        raise NotFound(f"{source}: no such bundle file")
    heads = gitrepo.bundle_heads(kb.root, path)
    wanted = f"refs/heads/{kb.branch}"
    if wanted in heads:
        ref = wanted
    elif len(heads) == 1:
        ref = next(iter(heads))
    elif not heads:
        raise Refused(
            f"{source.name} holds no branch, so there is nothing to apply",
            hint="ask the sending site to make the bundle again with `cacop bundle create`",
        )
    else:
        raise Refused(f"{source.name} holds {len(heads)} branches and none is {kb.branch}")
    holding = "refs/cacop/bundle"
    try:
        tip = gitrepo.fetch_bundle(kb.root, path, ref, holding)
        with gitrepo.worktree(kb.root, tip) as place:
            report = ops.validate(dataclasses.replace(kb, root=place), cache=False)
        errors = [
            Finding(gates.INVALID, issue.code, issue.path, issue.line, issue.message)
            for issue in report.issues
            if issue.severity == "error"
        ]
        if errors:
            raise GateRefused(
                "the bundle was not applied",
                errors,
                hint="ask the sending site to fix these and send a new bundle",
            )
        integration = integrate(kb, tip, source.name)
    finally:
        gitrepo.run_git(kb.root, "update-ref", "-d", holding)
    result = BundleApplied(integration, path=path, branch=branch)
    if integration.how != "up to date":
        result.list_arrivals(kb, tip)
        result.index_refreshed = refresh_index(kb)
    return result
