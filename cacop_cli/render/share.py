"""Views of submit, sync and bundles: stdout is what happened, stderr is talk."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..share import (
    Arrival,
    BundleApplied,
    BundleCreated,
    Finding,
    HookInstalled,
    ShareCheck,
    SubmitResult,
    SyncResult,
)
from . import emit, note, print_json, talk, warn


def similar(hits: list[Any]) -> None:
    """The most similar existing entries, shown before the commit so a duplicate is noticed."""
    if not hits:
        return
    talk("Similar entries already in the knowledge base (is this a duplicate?):")
    for hit in hits:
        title = getattr(hit, "title", "")
        talk(f"  • {title}  [{getattr(hit, 'id', '?')}]")


def submitted(result: SubmitResult, base: str, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "id": result.entry_id,
                "type": result.entry_type,
                "path": result.path,
                "branch": result.branch,
                "commit": result.commit,
                "base": result.base,
                "pushed": result.pushed,
                "pr_url": result.pr_url,
                "pr_command": result.pr_command,
                "pii_override": result.override,
                "accepted": [finding.as_dict() for finding in result.accepted],
                "not_scanned": result.unscanned,
                "similar": [getattr(hit, "id", None) for hit in result.similar],
            }
        )
        return
    for finding in result.accepted:
        warn(f"{finding} — shared anyway: {(result.override or {}).get('reason', 'pii_override')}")
    for path in result.unscanned:
        note(f"{path}: cacop cannot read it; shared on the reason in its unscanned_override")
    emit(f"{result.path} is on the branch {result.branch} (from {result.base})")
    if result.unseen_base:
        note(
            f"no copy of the shared branch was ever fetched, so {result.branch} was made on "
            f"your local {result.base}: it also carries {result.unseen_base} commit(s) the "
            "remote has not seen (all checked by the gate)"
        )
    if not result.pushed:
        if result.offline and not result.unseen_base:
            note("the remote did not answer; the branch was made from the last copy fetched")
        emit(f"not pushed; to send it for review: cacop submit {result.entry_id}")
        return
    if result.pr_command:
        emit(result.pr_command)
    if result.pr_url:
        emit(f"open the pull request: {result.pr_url}")
    elif not result.pr_command:
        emit(
            f"pushed to {result.remote}. Open a pull request from {result.branch} into "
            f"{base} on your forge's website (or ask the maintainers to merge it)"
        )


def _arrival_document(item: Arrival) -> dict[str, str]:
    return item.as_dict()


def _arrivals(heading: str, items: list[Arrival]) -> None:
    if not items:
        return
    emit(heading, "bold")
    grouped: dict[tuple[str, str], list[Arrival]] = defaultdict(list)
    for item in items:
        grouped[(item.site, item.entry_type)].append(item)
    for (site, entry_type), group in sorted(grouped.items()):
        new = sum(item.status == "new" for item in group)
        emit(f"  {site} — {entry_type}: {new} new, {len(group) - new} updated")
        for item in group:
            mark = "+" if item.status == "new" else "~"
            emit(f"    {mark} {item.title}  [{item.entry_id}]")


def _for_site(site: str, rfis: list[Arrival], responses: list[Arrival]) -> None:
    if rfis:
        emit(f"New RFIs addressed to {site}:", "bold")
        for item in rfis:
            emit(f"  ? {item.title}  [{item.entry_id}] from {item.site}")
    if responses:
        emit(f"New responses to {site}'s RFIs:", "bold")
        for item in responses:
            emit(f"  ! {item.title}  [{item.entry_id}] from {item.site}")


def synced(result: SyncResult, site: str, as_json: bool) -> None:
    """Show what a sync did, and why a push did not happen."""
    if as_json:
        print_json(
            {
                "branch": result.branch,
                "upstream": result.upstream,
                **_incoming_document(result),
                "merged_edits": result.integration.merged_edits,
                "to_push": result.to_push,
                "pushed": result.pushed,
                "push_refused": [finding.as_dict() for finding in result.push_refused],
                "push_failure": result.push_failure,
                "unscanned_allowed": [finding.as_dict() for finding in result.unscanned_allowed],
                "unscanned_reason": result.unscanned_reason,
            }
        )
    else:
        emit(f"{result.branch} ← {result.upstream}: {result.integration.how}")
        _arrivals("Arrived:", result.arrived)
        _for_site(site, result.rfis_for_us, result.responses_for_us)
        _settings_arrivals(result)
        for name in result.integration.merged_edits:
            note(f"{name}: your uncommitted edits were merged with what arrived (not staged)")
        if not result.arrived and result.integration.how == "up to date":
            emit("nothing new from other sites")
        if result.pushed:
            _sent_anyway(result.unscanned_allowed, result.unscanned_reason)
            emit(f"sent {result.to_push} commit(s) to {result.upstream}")
        elif result.to_push and not result.push_refused and not result.push_failure:
            emit(f"{result.to_push} local commit(s) not pushed (--no-push)")
    if result.push_refused:
        talk(f"error: the push was refused: {len(result.push_refused)} problem(s)", "bold red")
        for finding in result.push_refused:
            talk(f"  {finding}", "red")
        talk(
            "hint: your commits are kept here and nothing left. Remove what is listed in a "
            "new commit AND out of the history (e.g. `git rebase -i`), then sync again"
            + (
                "; a file cacop cannot read may be sent after you checked it yourself, with "
                "--allow-unscanned 'REASON'"
                if any(finding.category == "unscanned" for finding in result.push_refused)
                else ""
            ),
            "yellow",
        )
    elif result.push_failure:
        talk(f"error: the push was rejected: {result.push_failure}", "bold red")
        talk("hint: your commits are kept here; run `cacop sync` again", "yellow")


def _sent_anyway(allowed: list[Finding], reason: str | None) -> None:
    """The files cacop could not read that leave with --allow-unscanned, and the reason
    (the same line for sync, bundle create and check-share)."""
    for finding in allowed:
        warn(f"{finding} — sent anyway: {reason}")


def bundle_created(result: BundleCreated) -> None:
    _sent_anyway(result.unscanned_allowed, result.unscanned_reason)
    emit(str(result.path))
    since = f" after {result.since}" if result.since else ""
    note(
        f"{result.commits} commit(s) of {result.branch}{since}; the other site runs "
        f"`cacop bundle apply {result.path.name}`"
    )


def _incoming_document(result: SyncResult | BundleApplied) -> dict[str, object]:
    """What sync and bundle apply both report: how the branch moved and what arrived."""
    return {
        "how": result.integration.how,
        "before": result.integration.before,
        "after": result.integration.after,
        "arrived": [_arrival_document(item) for item in result.arrived],
        "rfis_for_site": [_arrival_document(item) for item in result.rfis_for_us],
        "responses_for_site": [_arrival_document(item) for item in result.responses_for_us],
        "settings_arrived": [item.as_dict() for item in result.settings_arrived],
    }


def _settings_arrivals(result: SyncResult | BundleApplied) -> None:
    """Name every settings, schema, CI or hook file that arrived: they change the rules."""
    if result.settings_arrived:
        emit("Settings, schema, CI or hook files that arrived (read them):", "bold")
        for item in result.settings_arrived:
            emit(f"  {item.status:8} {item.path}")


def bundle_applied(result: BundleApplied, site: str, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "bundle": str(result.path),
                "branch": result.branch,
                **_incoming_document(result),
            }
        )
        return
    emit(f"{result.branch} ← {result.path.name}: {result.integration.how}")
    _arrivals("Arrived:", result.arrived)
    _for_site(site, result.rfis_for_us, result.responses_for_us)
    _settings_arrivals(result)


def share_checked(result: ShareCheck, as_json: bool) -> None:
    """Findings on stdout, one a line (path:line: kind: message); a summary on stderr."""
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "range": result.range,
                "commits": result.commits,
                "findings": [finding.as_dict() for finding in result.findings],
                "unscanned_allowed": [finding.as_dict() for finding in result.unscanned_allowed],
                "unscanned_reason": result.unscanned_reason,
            }
        )
    else:
        for finding in result.findings:
            emit(str(finding))
    if result.ok:
        _sent_anyway(result.unscanned_allowed, result.unscanned_reason)
    if result.ok:
        note(f"{result.range}: {result.commits} commit(s) checked; nothing that may not leave")
        return
    talk(
        f"error: {result.range}: {len(result.findings)} problem(s) in {result.commits} "
        "commit(s); they may not leave this clone",
        "bold red",
    )
    talk(
        "hint: remove what is listed in a new commit AND out of the history (e.g. "
        "`git rebase -i`); only entries at or below share.max_tlp may leave",
        "yellow",
    )


def hook_installed(result: HookInstalled) -> None:
    emit(str(result.path))
    if result.status == "chained":
        note("your own pre-push hook is now pre-push.local beside it; it still runs first")
    note(f"pre-push hook {result.status}: `git push` now runs `cacop check-share` first")
