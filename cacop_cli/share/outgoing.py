"""The commit gate: what a push or a bundle would carry, checked blob by blob.

Every file each commit adds or changes is read (through textextract, so attachments
too) wherever it lies, every commit message is scanned, and the entries the range
changes are validated the way `cacop validate` does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .. import gitrepo, ops
from ..config import KB
from ..errors import UsageError
from .gates import (
    ATTACHMENT_PATH,
    ENTRY_PATH,
    INVALID,
    TLP,
    UNSCANNED,
    Finding,
    accept,
    extract_cache,
    field_line,
    meta_of,
    scan_file,
    scan_many,
    tlp_finding,
)

SCAN_BYTES = 32 * 1_048_576  # a blob larger than this is not read: it is an unscanned finding

# The reason given with --allow-unscanned, handed to git's pre-push hook by cacop's own push
# (and usable with a plain `git push`), so that the hook takes the same override.
UNSCANNED_ENV = "CACOP_ALLOW_UNSCANNED"


@dataclass
class Outgoing:
    """What the commit gate says of a push's or a bundle's commits."""

    refused: list[Finding] = field(default_factory=list)
    unscanned_allowed: list[Finding] = field(default_factory=list)  # let through with a reason
    unscanned_reason: str | None = None


def unscanned_reason(reason: str | None) -> str | None:
    """The reason given with --allow-unscanned, stripped; UsageError (exit 2) when shorter than
    10 characters. Every outgoing path (sync, submit, bundle create, check-share) checks it so."""
    if reason is None:
        return None
    if len(reason.strip()) < 10:
        raise UsageError(
            "the reason given with --allow-unscanned is too short (10 characters or more)",
            field="allow_unscanned",
        )
    return reason.strip()


def gate_outgoing(
    kb: KB,
    commits: list[str],
    *,
    base: str | None,
    tip: str,
    today: dt.date | None = None,
    allow_unscanned: str | None = None,
    validate: bool = True,
) -> Outgoing:
    """The commit gate over the commits that would leave (base..tip), then the validation of
    the entries they change. With a reason, files cacop cannot read are let through and
    listed with it; personal data, secrets, TLP and invalid entries still refuse."""
    reason = unscanned_reason(allow_unscanned)
    found = gate_commits(kb, commits, today)
    result = Outgoing(unscanned_reason=reason)
    if reason is not None:
        result.unscanned_allowed = [f for f in found if f.category == UNSCANNED]
        found = [finding for finding in found if finding.category != UNSCANNED]
    result.refused = found or (invalid_entries(kb, base, tip) if validate and commits else [])
    return result


def push_env(reason: str | None) -> dict[str, str]:
    """The environment cacop's own push gives git, so that a pre-push hook takes the reason."""
    return {UNSCANNED_ENV: reason} if reason else {}


def reason_from_env() -> str | None:
    """The --allow-unscanned reason handed to a pre-push hook (None without one)."""
    return os.environ.get(UNSCANNED_ENV) or None


def gate_commits(kb: KB, commits: list[str], today: dt.date | None = None) -> list[Finding]:
    """TLP, personal data, secrets and unread files in every file each commit adds or
    changes, and personal data and secrets in every commit message.

    Each commit counts on its own, so an entry marked red and deleted later in the same
    unpushed history still blocks: the push would carry it.
    """
    today = today or dt.date.today()
    seen: set[tuple[str, int, str, str]] = set()
    blocking: list[Finding] = []
    in_messages = _message_findings(kb, commits, today)
    for commit in commits:
        found = in_messages.get(_message_name(commit), [])
        for change in gitrepo.commit_changes(kb.root, commit):
            if change.status == "D" or set(change.blob) == {"0"}:
                continue
            found += _blob_findings(kb, commit, change.path, change.blob, today)
        for finding in found:
            key = (finding.path, finding.line, finding.kind, finding.message)
            if key not in seen:
                seen.add(key)
                blocking.append(
                    dataclasses.replace(finding, message=f"{finding.message} (commit {commit[:8]})")
                )
    return blocking


def _message_name(commit: str) -> str:
    return f"commit message {commit[:8]}"


def _message_findings(kb: KB, commits: list[str], today: dt.date) -> dict[str, list[Finding]]:
    """Findings in every commit message, by the message's name: the messages are read by one
    git process and scanned at once (detect-secrets starts once, not once a commit)."""
    messages = gitrepo.commit_messages(kb.root, commits)
    texts = [(_message_name(commit), messages.get(commit, "")) for commit in commits]
    return scan_many(texts, today, kb.email_allowlist)


def _blob_findings(kb: KB, commit: str, path: str, blob: str, today: dt.date) -> list[Finding]:
    data = gitrepo.read_blob(kb.root, blob, limit=SCAN_BYTES)
    if data is None:
        return [Finding(UNSCANNED, "too-large", path, 1,
                        f"cannot be scanned: over {SCAN_BYTES:,} bytes")]  # fmt: skip
    found = scan_file(
        data, path, max_tlp=kb.max_tlp, today=today, cache_dir=extract_cache(kb),
        email_allowlist=kb.email_allowlist,
    )  # fmt: skip
    meta = None
    if PurePosixPath(path).suffix.lower() in (".md", ".markdown"):
        text = data.decode("utf-8", errors="replace")
        meta = meta_of(text)
        if meta is not None and "tlp" in meta:
            line = field_line(text, "tlp")
            tlp = tlp_finding(meta.get("tlp"), kb.max_tlp, path=path, line=line)
            found += [tlp] if tlp else []
        elif meta is None and ENTRY_PATH.match(path):
            found.append(
                Finding(TLP, "unreadable", path, 1, "cannot be read, so its TLP marking is unknown")
            )
    if not ENTRY_PATH.match(path):
        meta = None  # only an entry's own override counts, not one in a stray file
    attachment = ATTACHMENT_PATH.match(path)
    if attachment:
        owner = gitrepo.read_file_at(kb.root, commit, f"kb/work-products/{attachment['id']}.md")
        meta = meta_of(owner.decode("utf-8", errors="replace") if owner else None)
    blocking, _ = accept(found, meta)
    return blocking


def invalid_entries(kb: KB, base: str | None, tip: str) -> list[Finding]:
    """What `cacop validate` reports as errors for the entries changed between base and tip,
    judged in a checkout of tip (the state that would leave)."""
    changed = [
        change.path
        for change in gitrepo.changes(kb.root, base, tip)
        if change.status != "D" and ENTRY_PATH.match(change.path)
    ]
    if not changed:
        return []
    with gitrepo.worktree(kb.root, tip) as place:
        tree = dataclasses.replace(kb, root=place)
        report = ops.validate(tree, [Path(place) / name for name in changed], cache=False)
    wanted = set(changed)
    return [
        Finding(INVALID, issue.code, issue.path, issue.line, issue.message)
        for issue in report.issues
        if issue.severity == "error"
        and (issue.path in wanted or any(issue.path.startswith(n[:-3] + "/") for n in wanted))
    ]
