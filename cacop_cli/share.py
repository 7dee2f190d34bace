"""Sharing between sites: `submit`, `sync` and offline bundles, over real git.

Nothing here touches the user's working tree unless that is the job:
`submit` builds its commit in a temporary checkout and only adds a branch;
`sync` rebases in a temporary checkout and then moves the user's branch the way
`git reset --keep` does (uncommitted edits stay byte for byte, or nothing
happens). Every step that changes the clone runs with Ctrl-C held back, so an
interruption lands before or after it, never in between.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import gates, gitrepo, ops
from .config import KB
from .entries import check_id, parse_text, read_entry, relpath, write_atomic
from .errors import (
    CacopError,
    EntryError,
    GitError,
    MissingBranch,
    NotFound,
    Refused,
    UsageError,
)
from .gates import Finding
from .models import PRODUCT_TYPES, TLP_ORDER, TOPICS, Entry

_ENTRY_PATH = re.compile(
    r"^kb/(?:strategies|work-products|rfis)/[^/]+\.md$|^kb/rfis/[^/]+/responses/[^/]+\.md$"
)
_ATTACHMENT_PATH = re.compile(r"^kb/work-products/(?P<id>[^/]+)/[^/]+$")


class GateRefused(Refused):
    """Something may not leave (or come in): carries every finding, each with file and line."""

    def __init__(self, action: str, findings: list[Finding], hint: str | None = None) -> None:
        lines = "\n".join(f"  {finding}" for finding in gates.cap_per_file(findings))
        super().__init__(f"{action}: {len(findings)} problem(s)\n{lines}", hint or _hint(findings))
        self.findings = findings


def _hint(findings: list[Finding]) -> str:
    categories = {finding.category for finding in findings}
    hints = []
    if gates.INVALID in categories:
        hints.append("fix what `cacop validate` reports")
    if gates.TLP in categories:
        hints.append("only entries marked at or below share.max_tlp in cacop.yaml may leave")
    if gates.SECRET in categories:
        hints.append("remove passwords and keys (and change them: they are exposed)")
    if gates.PERSONAL in categories:
        hints.append(
            "remove the personal data; if it must be shared (e.g. it is public record), run "
            "the same `cacop submit` with --allow-personal-data 'REASON', which records the "
            "reason in the entry"
        )
    return "; ".join(hints) + ". Nothing was shared."


# ---------------------------------------------------------------- helpers


def _similar(kb: KB, title: str, body: str, exclude: str) -> list[Any]:
    """The three most similar existing entries, when search exists; [] otherwise."""
    try:
        from . import search  # built beside this module; may not exist yet

        found = search.similar_to_text(kb, title, body, limit=4)
    except (ImportError, AttributeError, CacopError, OSError):
        return []
    return [hit for hit in found if getattr(hit, "id", None) != exclude][:3]


def refresh_index(kb: KB) -> bool:
    """Bring the search index up to date after files changed, when search exists."""
    try:
        from . import search

        refresh = search.refresh
    except (ImportError, AttributeError):
        return False
    try:
        refresh(kb)
    except (CacopError, OSError):
        return False
    return True


def _worktree_kb(kb: KB, place: Path) -> KB:
    return dataclasses.replace(kb, root=place)


# ---------------------------------------------------------------- pull-request links


def parse_remote(url: str) -> tuple[str, str] | None:
    """(host, owner/repo path) of an https or ssh remote address; None for a local path."""
    scp = re.fullmatch(r"(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)", url)
    web = re.fullmatch(
        r"(?:https?|ssh|git)://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+)", url
    )
    match = web or (scp if "://" not in url else None)
    if not match:
        return None
    path = match.group("path").strip("/").removesuffix(".git").strip("/")
    return (match.group("host").lower(), path) if path else None


def forge_of(host: str) -> str | None:
    if host == "github.com" or host.startswith("github.") or ".github." in host:
        return "github"
    if "gitlab" in host:
        return "gitlab"
    if host in ("bitbucket.org", "www.bitbucket.org") or host.startswith("bitbucket."):
        return "bitbucket"
    if host in ("codeberg.org", "gitea.com") or host.startswith(("gitea.", "forgejo.")):
        return "gitea"
    return None


def compare_url(url: str, base: str, branch: str) -> str | None:
    """The forge's page for opening a pull (merge) request from branch into base."""
    parsed = parse_remote(url)
    if parsed is None:
        return None
    host, path = parsed
    forge = forge_of(host)
    head, into = quote(branch, safe="/"), quote(base, safe="/")
    if forge in ("github", "gitea"):
        suffix = "?expand=1" if forge == "github" else ""
        return f"https://{host}/{path}/compare/{into}...{head}{suffix}"
    if forge == "gitlab":
        return (
            f"https://{host}/{path}/-/merge_requests/new?merge_request%5Bsource_branch%5D={head}"
            f"&merge_request%5Btarget_branch%5D={into}"
        )
    if forge == "bitbucket":
        return f"https://{host}/{path}/pull-requests/new?source={head}&dest={into}"
    return None


def _open_with_gh(root: Path, branch: str, base: str, title: str, body: str) -> str | None:
    """`gh pr create`; its output (the PR's address), or None when gh is not installed."""
    import subprocess

    gh = shutil.which("gh")
    if gh is None:
        return None
    try:
        result = subprocess.run(
            [
                gh,
                "pr",
                "create",
                "--head",
                branch,
                "--base",
                base,
                "--title",
                title,
                "--body",
                body,
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=gitrepo.network_timeout(),
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"gh pr create did not work: {exc}"
    output = (result.stdout or result.stderr).strip()
    return output if result.returncode == 0 else f"gh pr create did not work: {output}"


# ---------------------------------------------------------------- submit


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
    similar: list[Any] = field(default_factory=list)
    offline: bool = False  # --no-push and the remote did not answer


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
        if name.startswith((".", "-")) or any(ord(char) < 32 for char in name):
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
    template = ops.template_body("work-product")
    if summary:
        template = template.replace(
            "Who this is for and the decision it supports.", summary.strip(), 1
        )
    listing = "\n".join(f"- [{name}]({entry_id}/{quote(name)})" for name in names)
    return "\n" + template.rstrip("\n") + f"\n\n## Attachments\n\n{listing}\n"


def submit_files(
    kb: KB,
    files: list[Path],
    title: str,
    topics: list[str],
    product_type: str = "other",
    tlp: str = "green",
    summary: str | None = None,
    tags: list[str] | None = None,
    authors: list[str] | None = None,
    push: bool = True,
    open_pr: bool = False,
    allow_personal_data: str | None = None,
    on_similar: Callable[[list[Any]], None] | None = None,
    today: dt.date | None = None,
) -> SubmitResult:
    """Share files as a new work product: a branch submit/<id>, pushed, with a PR link."""
    if not title.strip():
        raise UsageError("the title is empty; give --title 'What this is about'")
    if not topics:
        raise UsageError("give at least one --topic", hint="topics: " + ", ".join(TOPICS))
    ops.check_choices("topic", topics, TOPICS)
    ops.check_choices("product-type", [product_type], PRODUCT_TYPES)
    ops.check_choices("tlp", [tlp], TLP_ORDER)
    attachments = _check_files(kb, files)
    today = today or dt.date.today()

    def prepare(place: Path) -> _Prepared:
        tree = _worktree_kb(kb, place)
        names = [name for _, name in attachments]
        created = ops.new_entry(
            tree,
            "work-product",
            title,
            topics,
            tags,
            tlp,
            authors or None,
            extra={
                "product_type": product_type,
                "attachments": names,
                "summary": summary.strip() if summary else None,
            },
            body="",
            today=today,
        )
        entry_id = created.entry_id
        if ops.locate(kb, entry_id) is not None or gitrepo.branch_exists(
            kb.root, f"submit/{entry_id}"
        ):
            raise Refused(
                f"{entry_id!r} already exists here (an entry or a submit/{entry_id} branch)",
                hint=f"to send that one, run `cacop submit {entry_id}`; else choose another title",
            )
        text = created.path.read_text("utf-8")
        write_atomic(created.path, text + _work_product_body(summary, names, entry_id))
        folder = created.path.parent / entry_id
        for source, name in attachments:
            _copy_regular(source, folder / name, kb.limits["attachment_bytes"])
        return _Prepared(entry_id)

    return _submit(kb, prepare, None, push, open_pr, allow_personal_data, on_similar, today)


def submit_entry(
    kb: KB,
    entry_id: str,
    push: bool = True,
    open_pr: bool = False,
    allow_personal_data: str | None = None,
    on_similar: Callable[[list[Any]], None] | None = None,
    today: dt.date | None = None,
) -> SubmitResult:
    """Share an existing entry of any type (including an RFI response) on submit/<id>."""
    check_id(entry_id)
    source = ops.locate(kb, entry_id)
    if source is None and not gitrepo.branch_exists(kb.root, f"submit/{entry_id}"):
        raise NotFound(
            f"no entry has the id {entry_id!r}",
            hint="`cacop list` shows every id; to share files, give them with --title",
        )

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

    return _submit(kb, prepare, entry_id, push, open_pr, allow_personal_data, on_similar, today)


def _base_commit(kb: KB, push: bool) -> tuple[str, str, bool]:
    """(commit, its name, offline) to branch from: the upstream branch, fetched when it answers."""
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
            return commit, name, offline
    raise GitError("this repository has no commits yet", hint="commit something first")


def _submit(
    kb: KB,
    prepare: Callable[[Path], _Prepared],
    known_id: str | None,
    push: bool,
    open_pr: bool,
    allow_personal_data: str | None,
    on_similar: Callable[[list[Any]], None] | None,
    today: dt.date | None,
) -> SubmitResult:
    gitrepo.require_repository(kb.root, "share")
    today = today or dt.date.today()
    if allow_personal_data is not None and len(allow_personal_data.strip()) < 10:
        raise UsageError(
            "--allow-personal-data needs a real reason (10 characters or more); it is recorded "
            "in the entry for the reviewers"
        )
    gitrepo.check_branch_name(kb.root, kb.branch)
    if push:
        gitrepo.remote_urls(kb.root, kb.remote)
    base, base_name, offline = _base_commit(kb, push)
    existing_tip = None
    if known_id is not None:
        existing_tip = gitrepo.rev_parse(kb.root, f"refs/heads/submit/{known_id}")
    made: tuple[str, str, str | None] | None = None  # (branch, commit, where it was)
    try:
        with gitrepo.worktree(kb.root, existing_tip or base) as place:
            prepared = prepare(place)
            branch = gitrepo.check_branch_name(kb.root, f"submit/{prepared.entry_id}")
            tree = _worktree_kb(kb, place)
            entry_file = ops.locate(tree, prepared.entry_id)
            if entry_file is None:
                raise NotFound(f"the branch {branch} does not hold the entry {prepared.entry_id}")
            entry, accepted, unscanned, override = _gate_entry(
                tree, entry_file, allow_personal_data, today
            )
            similar = _similar(kb, entry.title, entry.body, entry.id)
            if on_similar is not None:
                on_similar(similar)
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
            offline=offline,
        )
        if push:
            _push_branch(kb, result)
            made = None
            if open_pr:
                body = f"Shares the {entry.type} `{entry.id}` from {kb.site}."
                result.pr_command = _open_with_gh(kb.root, branch, kb.branch, entry.title, body)
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


def _push_branch(kb: KB, result: SubmitResult) -> None:
    outcome = gitrepo.push(kb.root, kb.remote, f"refs/heads/{result.branch}", result.branch)
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


def _gate_entry(
    kb: KB, path: Path, allow_reason: str | None, today: dt.date
) -> tuple[Entry, list[Finding], list[str], dict[str, Any] | None]:
    """Every gate before a commit: validity, TLP, personal data and secrets.

    Returns (entry, accepted personal-data findings, attachments not scanned, override).
    Raises GateRefused listing every reason. With a reason, personal data is let through
    and the override (reason, who, when, which kinds) is written into the entry first.
    """
    findings, unscanned, entry = _entry_findings(kb, path, today)
    blocking, accepted = gates.apply_override(findings, entry.meta.get("pii_override"))
    personal = [finding for finding in blocking if finding.category == gates.PERSONAL]
    override = None
    if personal and allow_reason is not None:
        override = {
            "reason": allow_reason.strip(),
            "by": gitrepo.user_name(kb.root) or ", ".join(map(str, entry.meta.get("authors", []))),
            "date": today.isoformat(),
            "kinds": gates.kinds_of(personal + accepted),
        }
        write_atomic(path, record_override(path.read_text("utf-8"), override))
        findings, unscanned, entry = _entry_findings(kb, path, today)
        blocking, accepted = gates.apply_override(findings, entry.meta.get("pii_override"))
    if blocking:
        raise GateRefused("nothing was shared", blocking)
    return entry, accepted, unscanned, override


def _entry_findings(kb: KB, path: Path, today: dt.date) -> tuple[list[Finding], list[str], Entry]:
    rel = relpath(path, kb.root)
    try:
        entry = read_entry(path, kb.root, kb.limits)
    except EntryError as error:
        raise GateRefused(
            "nothing was shared",
            [Finding(gates.INVALID, error.code, rel, error.line, error.message)],
        ) from error
    report = ops.validate(kb, [path])
    folder = rel[:-3] + "/"
    findings = [
        Finding(gates.INVALID, issue.code, issue.path, issue.line, issue.message)
        for issue in report.issues
        if issue.severity == "error" and (issue.path == rel or issue.path.startswith(folder))
    ]
    tlp = gates.tlp_finding(entry.meta.get("tlp"), kb.max_tlp, rel, entry.line_of("tlp"))
    findings += [tlp] if tlp else []
    findings += gates.scan(path.read_text("utf-8"), rel, today, kb.email_allowlist)
    unscanned = []
    names = entry.meta.get("attachments") if entry.type == "work-product" else None
    for name in names if isinstance(names, list) else ():
        attachment = path.parent / path.stem / str(name)
        if "/" in str(name) or not attachment.is_file() or attachment.is_symlink():
            continue
        text = gates.as_text(attachment.read_bytes())
        if text is None:
            unscanned.append(relpath(attachment, kb.root))
        else:
            findings += gates.scan(text, relpath(attachment, kb.root), today, kb.email_allowlist)
    return findings, unscanned, entry


def record_override(text: str, override: dict[str, Any]) -> str:
    """The entry's text with its pii_override block set; no other byte changes."""
    from . import yamlsafe

    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    closing = next(
        number for number, line in enumerate(lines) if number > 0 and line.rstrip() == "---"
    )
    start = next((n for n in range(1, closing) if lines[n].startswith("pii_override:")), None)
    if start is not None:
        end = start + 1
        while end < closing and lines[end][:1] in (" ", "\t"):
            end += 1
        del lines[start:end]
        closing -= end - start
    block = yamlsafe.dump({"pii_override": override}).replace("\n", newline)
    if closing > 0 and not lines[closing - 1].endswith("\n"):
        lines[closing - 1] += newline
    lines.insert(closing, block)
    return "".join(lines)


# ---------------------------------------------------------------- gates over commits


def gate_commits(kb: KB, commits: list[str], today: dt.date | None = None) -> list[Finding]:
    """TLP, personal data and secrets in every file each commit adds or changes.

    Each commit counts on its own, so an entry marked red and deleted later in the same
    unpushed history still blocks: the push would carry it.
    """
    today = today or dt.date.today()
    root = kb.root
    seen: set[tuple[str, int, str, str]] = set()
    blocking: list[Finding] = []
    for commit in commits:
        for change in gitrepo.commit_changes(root, commit):
            if change.status == "D" or set(change.blob) == {"0"}:
                continue
            data = gitrepo.read_blob(root, change.blob, limit=gates.TEXT_SCAN_BYTES)
            text = gates.as_text(data) if data is not None else None
            found: list[Finding] = []
            override = None
            in_kb = change.path.startswith("kb/")
            if _ENTRY_PATH.match(change.path):
                meta = _meta_of(text)
                line = _field_line(text, "tlp")
                if meta is None:
                    found.append(
                        Finding(
                            gates.TLP,
                            "unreadable",
                            change.path,
                            1,
                            "cannot be read, so its TLP marking is unknown",
                        )
                    )
                else:
                    tlp = gates.tlp_finding(meta.get("tlp"), kb.max_tlp, change.path, line)
                    found += [tlp] if tlp else []
                    override = meta.get("pii_override")
            attachment = _ATTACHMENT_PATH.match(change.path)
            if attachment:
                owner = gitrepo.read_file_at(
                    root, commit, f"kb/work-products/{attachment['id']}.md"
                )
                meta = _meta_of(gates.as_text(owner) if owner else None)
                override = meta.get("pii_override") if meta else None
            if text is not None:
                found += (
                    gates.personal_data(text, change.path, today, kb.email_allowlist)
                    if in_kb
                    else []
                )
                found += gates.secrets(text, change.path)
            found, _ = gates.apply_override(found, override)
            for finding in found:
                key = (finding.path, finding.line, finding.kind, finding.message)
                if key not in seen:
                    seen.add(key)
                    blocking.append(
                        dataclasses.replace(
                            finding, message=f"{finding.message} (commit {commit[:8]})"
                        )
                    )
    return blocking


def _meta_of(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        meta, _ = parse_text(text)
    except EntryError:
        return None
    return meta


def _field_line(text: str | None, name: str) -> int:
    for number, line in enumerate((text or "").splitlines(), 1):
        if line.startswith(f"{name}:"):
            return number
    return 1


# ---------------------------------------------------------------- bringing work in


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
        raise GitError("this branch has no commits yet")
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
    merged = _move_branch(kb, before, new_head, source)
    return Integration(before, new_head, how, merged)


def _move_branch(kb: KB, before: str, after: str, source: str) -> list[str]:
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
    merged = _merge_uncommitted(kb, clashing, after, source) if clashing else {}
    index_entries = (
        gitrepo.git_ok(root, "ls-files", "-s", "-z", "--", *clashing) if clashing else ""
    )
    backup = {name: (root / name).read_bytes() for name in clashing}
    aside = Path(tempfile.mkdtemp(prefix="cacop-sync-", dir=gitrepo.git_dir(root)))
    try:
        with gitrepo.sigint_deferred():
            for number, name in enumerate(same):  # byte-identical to what arrives
                os.replace(root / name, aside / str(number))
            if clashing:  # set the edits aside: their merged text is written back below
                gitrepo.git_ok(root, "checkout", "--quiet", "HEAD", "--", *clashing)
            reason = gitrepo.move_branch_keeping_work(root, branch, after)
            if reason is not None:
                for number, name in enumerate(same):
                    os.replace(aside / str(number), root / name)
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


def _clash(source: str, names: list[str]) -> GitError:
    return GitError(
        f"what arrived from {source} clashes with your uncommitted work in: " + ", ".join(names),
        hint="nothing was changed here. Commit your edits (`git commit`) or copy them "
        "elsewhere, then sync again",
    )


def _merge_uncommitted(kb: KB, clashing: list[str], after: str, source: str) -> dict[str, bytes]:
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
        if change.status == "D" or not _ENTRY_PATH.match(change.path):
            continue
        data = gitrepo.read_blob(kb.root, change.blob, limit=kb.limits["entry_bytes"])
        meta = _meta_of(gates.as_text(data) if data is not None else None) or {}
        folder = change.path.split("/")[1]
        guessed = {"strategies": "strategy", "work-products": "work-product"}.get(folder, "rfi")
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


def _for_this_site(kb: KB, tip: str, arrived: list[Arrival]) -> tuple[list[Arrival], list[Arrival]]:
    """(new RFIs addressed to this site, new responses to this site's RFIs)."""
    rfis, responses = [], []
    for item in arrived:
        if item.status != "new" or item.site == kb.site:
            continue
        data = gitrepo.read_file_at(kb.root, tip, item.path)
        meta = _meta_of(gates.as_text(data) if data else None) or {}
        if item.entry_type == "rfi":
            to = meta.get("to")
            if isinstance(to, list) and (kb.site in to or "all" in to):
                rfis.append(item)
        elif item.entry_type == "response" and isinstance(meta.get("rfi"), str):
            rfi_path = f"kb/rfis/{meta['rfi']}.md"
            rfi_data = gitrepo.read_file_at(kb.root, tip, rfi_path)
            rfi_meta = _meta_of(gates.as_text(rfi_data) if rfi_data else None) or {}
            if rfi_meta.get("site") == kb.site:
                responses.append(item)
    return rfis, responses


# ---------------------------------------------------------------- sync


@dataclass
class SyncResult:
    branch: str
    upstream: str
    integration: Integration
    arrived: list[Arrival] = field(default_factory=list)
    rfis_for_us: list[Arrival] = field(default_factory=list)
    responses_for_us: list[Arrival] = field(default_factory=list)
    to_push: int = 0
    pushed: bool = False
    push_refused: list[Finding] = field(default_factory=list)
    push_failure: str | None = None
    index_refreshed: bool = False


def _check_state(kb: KB) -> str:
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


def sync(kb: KB, push: bool = True, today: dt.date | None = None) -> SyncResult:
    """Bring in what other sites shared; send out this clone's commits unless push=False."""
    branch = _check_state(kb)
    upstream = gitrepo.upstream_of(kb.root, branch)
    if upstream is None:
        gitrepo.remote_urls(kb.root, kb.remote)  # no shared repository at all: say that first
        raise GitError(
            f"the branch {branch!r} does not follow a shared branch (no upstream)",
            hint=f"`git branch --set-upstream-to={kb.remote}/{kb.branch}` links it to the "
            "shared one; then sync again",
        )
    source = f"{upstream.remote}/{upstream.branch}" if upstream.remote != "." else upstream.branch
    if upstream.remote != ".":
        gitrepo.fetch(
            kb.root, upstream.remote, upstream.branch,
            fix=f"follow the shared branch: `git branch --set-upstream-to={upstream.remote}/"
            "BRANCH`",
        )  # fmt: skip
    tip = gitrepo.rev_parse(kb.root, upstream.ref)
    integration = integrate(kb, tip, source)
    result = SyncResult(branch, source, integration)
    if tip is not None and integration.how != "up to date":
        base = gitrepo.merge_base(kb.root, integration.before, tip)
        result.arrived = arrivals(kb, base, tip)
        result.rfis_for_us, result.responses_for_us = _for_this_site(kb, tip, result.arrived)
    if integration.before != integration.after:
        result.index_refreshed = refresh_index(kb)
    commits = gitrepo.commits_between(kb.root, tip, integration.after)
    result.to_push = len(commits)
    if push and commits and upstream.remote != ".":
        result.push_refused = gate_commits(kb, commits, today)
        if not result.push_refused:
            outcome = gitrepo.push(
                kb.root, upstream.remote, f"refs/heads/{branch}", upstream.branch
            )
            said = "; ".join(outcome.remote_messages[-3:])
            if outcome.ok:
                result.pushed = True
            else:
                result.push_failure = outcome.summary + (f" ({said})" if said else "")
    return result


# ---------------------------------------------------------------- bundles


@dataclass
class BundleCreated:
    path: Path
    branch: str
    commits: int
    since: str | None


def bundle_create(kb: KB, target: Path, since: str | None = None) -> BundleCreated:
    """A git bundle of this branch (or of what came after `since`), gated like a push."""
    branch = _check_state(kb)
    since_commit = None
    if since is not None:
        since_commit = gitrepo.rev_parse(kb.root, since)
        if since_commit is None:
            raise UsageError(f"--since {since!r} is not a commit git knows here")
    commits = gitrepo.commits_between(kb.root, since_commit, f"refs/heads/{branch}")
    if not commits:
        raise Refused(f"nothing to bundle: {branch} has no commits after {since}")
    blocking = gate_commits(kb, commits)
    if blocking:
        raise GateRefused("no bundle was made", blocking)
    path = target if target.is_absolute() else Path.cwd() / target
    if path.is_dir():
        raise UsageError(f"{target} is a folder; give a file name for the bundle")
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        gitrepo.bundle_create(kb.root, partial, f"refs/heads/{branch}", since_commit)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return BundleCreated(path, branch, len(commits), since)


@dataclass
class BundleApplied:
    path: Path
    branch: str
    integration: Integration
    arrived: list[Arrival] = field(default_factory=list)
    rfis_for_us: list[Arrival] = field(default_factory=list)
    responses_for_us: list[Arrival] = field(default_factory=list)
    index_refreshed: bool = False


def bundle_apply(kb: KB, source: Path) -> BundleApplied:
    """Bring in a bundle from another site, after validating what it holds."""
    branch = _check_state(kb)
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
            report = ops.validate(_worktree_kb(kb, place))
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
    result = BundleApplied(path, branch, integration)
    if integration.how != "up to date":
        base = gitrepo.merge_base(kb.root, integration.before, tip)
        result.arrived = arrivals(kb, base, tip)
        result.rfis_for_us, result.responses_for_us = _for_this_site(kb, tip, result.arrived)
        result.index_refreshed = refresh_index(kb)
    return result
