"""One function per core command. Returns plain data; raises CacopError; never prints."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from . import gitrepo
from .catalog import Catalog, entry_issue, load_catalog, read_sites
from .checks import Context, file_checks, kb_level_issues
from .config import KB
from .crosschecks import cross_findings
from .entries import (  # naming entries lives in entries; ops re-exports it for callers
    ID_RE,
    check_id,
    closest_ids,
    entry_files_by_id,
    entry_path,
    has_entries,
    iter_entry_files,
    likely_duplicates,
    locate,
    not_found_hint,
    read_entry,
    relpath,
    render_entry,
    resolve_id,
    slugify,
    write_atomic,
)
from .errors import EntryError, NotFound, Refused, UsageError
from .listing import Listing, while_checking
from .models import (
    TOPICS,
    TYPE_FOLDERS,
    TYPES,
    Entry,
    EntryDraft,
    Issue,
    Outcome,
    ValidationReport,
    has_errors,
)
from .newkb import GITLAB_CI, PRE_COMMIT, WORKFLOW, NewKB, ci_files, init_kb

# ---------------------------------------------------------------- validate


def _where(path: Path) -> Path:
    """Where a named file or folder is: its folder resolved, a file itself not followed (an
    entry that is a link is then found in the KB, and reported as a link)."""
    return path.resolve() if path.is_dir() else path.parent.resolve() / path.name


def _selected_paths(kb: KB, paths: list[Path], changed: list[str] | None) -> set[str] | None:
    if not paths and changed is None:
        return None
    selected: set[str] = set()
    names = list(changed or ())
    for given in paths:
        path = given if given.is_absolute() else Path.cwd() / given
        path = Path(*path.parts)  # normalise without resolving links
        if not path.exists():
            raise NotFound(f"{given}: no such file or folder")
        where = _where(path)
        if kb.kb_dir.resolve().is_relative_to(where):  # the KB's folder, or above it
            return None  # all of it
        if not where.is_relative_to(kb.root.resolve()):
            raise UsageError(
                f"{given} is not inside this knowledge base ({kb.root})",
                hint="name entry files or folders under kb/, or no path to check them all",
            )
        inside = [p for p in path.rglob("*") if not p.is_dir()] if path.is_dir() else [path]
        names += [relpath(_where(p), kb.root) for p in inside]
    for name in names:
        parts = Path(name).parts
        if parts[:1] != ("kb",):
            continue
        if name.endswith(".md"):
            selected.add(name)
        if len(parts) >= 4 and parts[1] == "work-products":  # an attachment: check its entry
            selected.add(f"kb/work-products/{parts[2]}.md")
    return selected


def validate(
    kb: KB,
    paths: list[Path] | None = None,
    changed_since: str | None = None,
    skip: tuple[str, ...] = (),
    cache: bool = True,
) -> ValidationReport:
    """Check the named entries, the entries changed since a revision, or the whole KB.

    Each file's own findings come from `.cacop/findings.json` where its key still matches
    (see `findings_cache`), unless `cache` is False: then everything is computed afresh
    and nothing is written, and the entries are read from their files, not the index's
    catalog. The checks across entries run every time, from the catalog.
    """
    from . import findings_cache

    changed = gitrepo.changed_since(kb.root, changed_since) if changed_since else None
    selected = _selected_paths(kb, list(paths or ()), changed)
    # Without the cache nothing derived is trusted, and no index is built (the gates check
    # temporary checkouts): every entry file is read.
    catalog = load_catalog(kb) if cache else load_catalog(kb, list(iter_entry_files(kb.root)))
    context = Context.of(catalog)
    checks = file_checks(context, skip)
    # The catalog lists every entry file, readable or not: no second walk of the folders.
    listed = [entry.rel for entry in catalog.entries] + [i.path for i in catalog.unreadable]
    files = [rel for rel in sorted(set(listed)) if selected is None or rel in selected]
    # Skipping a file check would keep findings short of some checks: computed, not kept.
    kept = None
    if cache and len(checks) == len(file_checks(context)):
        kept = findings_cache.FindingsCache.open(kb.state_dir, context)
    if cache:
        issues = findings_cache.file_findings(kb.root, files, context, checks, kept)
    else:  # the catalog has just read and parsed every file: check those entries, once
        issues = findings_cache.catalog_findings(catalog, files, checks)
    issues += cross_findings(catalog, selected, skip=skip, cross_for_all=changed is not None)
    tracked_state = gitrepo.tracked_files(kb.root, ".cacop")
    issues = kb_level_issues(catalog, tracked_state) + issues
    if "vocabulary" not in skip:
        issues = findings_cache.vocabulary_findings(kb.root, kept) + issues
    if kept is not None:
        if selected is None:
            kept.keep_only(set(listed))
        kept.save()
    issues.sort(
        key=lambda issue: (issue.path, issue.line, issue.severity, issue.message, issue.code)
    )
    return ValidationReport(issues, len(files))


def check_entry(kb: KB, path: Path) -> list[Issue]:
    """Every finding for one file, judged against the whole KB."""
    report = validate(kb, [path])
    return [issue for issue in report.issues if issue.path == relpath(path, kb.root)]


# ---------------------------------------------------------------- finding entries


def entry_id_at(kb: KB, path: Path) -> str | None:
    """The id of the entry whose file `path` is (as `locate` finds it), else None."""
    from .errors import CacopError

    try:
        found = locate(kb, path.stem)
    except CacopError:  # a file name that is no id
        return None
    if found is None or not path.is_file() or found.resolve() != path.resolve():
        return None
    return path.stem


def read_by_id(kb: KB, entry_id: str) -> Entry:
    """The entry with that id: its file, else (sent with --no-push, or waiting on review)
    its submit/<id> branch, marked pending."""
    path = locate(kb, entry_id)
    if path is None:
        from . import pending

        try:
            found = pending.read_pending(kb, entry_id)
        except EntryError as error:
            raise Refused(
                f"{pending.BRANCH_PREFIX}{entry_id}: {error.line}: {error.message}",
                hint="the entry on its submit branch cannot be read; submit it again",
            ) from error
        if found is not None:
            return found
        raise NotFound(f"no entry has the id {entry_id!r}", hint=not_found_hint(kb))
    try:
        return read_entry(path, kb.root, kb.limits)
    except EntryError as error:
        issue = entry_issue(path, kb.root, error)
        raise Refused(
            f"{issue.path}:{issue.line}: {issue.message}", hint="fix the file, then try again"
        ) from error


def responses_of(kb: KB, rfi_id: str) -> tuple[list[Entry], list[Issue]]:
    """An RFI's responses in time order, and any response files that cannot be read."""
    folder = kb.kb_dir / "rfis" / check_id(rfi_id) / "responses"
    responses, problems = [], []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else ():
        try:
            responses.append(read_entry(path, kb.root, kb.limits))
        except EntryError as error:
            problems.append(entry_issue(path, kb.root, error))
    responses.sort(key=lambda entry: (str(entry.meta.get("created", "")), entry.id))
    return responses, problems


@dataclass
class EntryView:
    """What `show` needs: the entry, its responses and its related entries' titles."""

    entry: Entry
    responses: list[Entry] = field(default_factory=list)
    related: list[tuple[str, str | None]] = field(default_factory=list)  # (id, title or None)
    problems: list[Issue] = field(default_factory=list)
    rfi_title: str | None = None
    attachments: list[str] = field(default_factory=list)  # paths relative to the KB

    @property
    def pending(self) -> str | None:
        """The submit/<id> branch the entry is read from, when it is not in the tree."""
        return self.entry.pending


def attachment_paths(entry: Entry) -> list[str]:
    """Where a work product's attachments are, relative to the KB: `<its folder>/<name>`."""
    names = entry.meta.get("attachments")
    folder = entry.rel.removesuffix(".md")
    return [
        f"{folder}/{name}"
        for name in (names if isinstance(names, list) else ())
        if isinstance(name, str)
    ]


def show(kb: KB, entry_id: str) -> EntryView:
    try:
        entry_id = resolve_id(kb, entry_id)
    except NotFound:  # not in the working tree: perhaps waiting on its submit branch
        if not ID_RE.fullmatch(entry_id):
            raise
        from . import pending

        if pending.read_pending(kb, entry_id) is None:
            raise
    entry = read_by_id(kb, entry_id)
    view = EntryView(entry, attachments=attachment_paths(entry))
    if entry.type == "rfi":  # by the id that found the file: the `id` field may be anything
        view.responses, view.problems = responses_of(kb, entry_id)
    if entry.type == "response" and isinstance(entry.meta.get("rfi"), str):
        try:
            view.rfi_title = read_by_id(kb, entry.meta["rfi"]).title
        except (NotFound, Refused, UsageError):
            view.rfi_title = None
    related = entry.meta.get("related")
    for target in related if isinstance(related, list) else ():
        title = None
        with contextlib.suppress(NotFound, Refused, UsageError):
            title = read_by_id(kb, str(target)).title
        view.related.append((str(target), title))
    return view


def entry_document(entry: Entry) -> dict[str, Any]:
    """An entry as JSON-ready data: its fields plus body and path."""
    return {**entry.meta, "body": entry.body, "path": entry.rel}


@dataclass
class EntryList:
    """`list`'s answer: the positions in `listing` of the entries chosen, newest first, and
    the files that cannot be read (the catalog's, then those on submit branches)."""

    listing: Listing
    chosen: list[int]
    unreadable: list[Issue]


def list_entries(
    kb: KB,
    *,
    entry_type: str | None = None,
    site: str | None = None,
    topic: str | None = None,
) -> EntryList:
    entry_type, topic = (value.strip().lower() if value else None for value in (entry_type, topic))
    check_choices("type", [entry_type] if entry_type else [], TYPES)  # as search says it
    check_choices("topic", [topic] if topic else [], TOPICS)
    from . import pending

    def chosen_from(listing: Listing) -> EntryList:
        waiting, unreadable = pending.pending_entries(kb, set(listing.columns["id"]))
        listing.add_pending(waiting)
        chosen = listing.newest
        if entry_type is not None:
            kinds = listing.columns["type"]
            chosen = [at for at in chosen if kinds[at] == entry_type]
        if site is not None:
            sites = listing.columns["site"]
            chosen = [at for at in chosen if sites[at] == site]
        if topic is not None:
            chosen = [at for at in chosen if topic in (listing.value("topics", at) or ())]
        return EntryList(listing, chosen, listing.unreadable + unreadable)

    return while_checking(kb, chosen_from)


# ---------------------------------------------------------------- new


def unique_id(kb: KB, site: str, title: str, *, when: dt.date) -> str:
    prefix = f"{site}-{when.year}-"
    base = f"{prefix}{slugify(title, max_length=80 - len(prefix) - 3)}"
    candidate, counter = base, 2
    while locate(kb, candidate) is not None:
        candidate, counter = f"{base}-{counter}", counter + 1
    return check_id(candidate)


def template_body(entry_type: str) -> str:
    return resources.files("cacop_cli.templates").joinpath(f"{entry_type}.md").read_text("utf-8")


def check_choices(name: str, values: list[str], allowed: tuple[str, ...]) -> None:
    for value in values:
        if value not in allowed:
            raise UsageError(f"--{name} {value!r} is not one of: {', '.join(allowed)}")


@dataclass
class NewEntry(Outcome):
    path: Path
    entry_id: str
    issues: list[Issue]  # the new file's findings; an error among them fails the command

    @property
    def ok(self) -> bool:
        return not has_errors(self.issues)


def entry_meta(kb: KB, draft: EntryDraft, *, entry_id: str, today: dt.date) -> dict[str, Any]:
    """The frontmatter of a new entry: the draft's fields, in the order the format gives them,
    with each type's defaults for what the draft leaves out."""
    meta: dict[str, Any] = {
        "id": entry_id,
        "type": draft.entry_type,
        "title": draft.title.strip(),
        "site": kb.site,
        "authors": draft.authors or [kb.analyst or gitrepo.user_name(kb.root) or "unknown analyst"],
        "created": today.isoformat(),
        "topics": list(dict.fromkeys(draft.topics)),
    }
    if draft.tags:
        meta["tags"] = list(dict.fromkeys(draft.tags))
    meta["tlp"] = draft.tlp or "green"
    if draft.entry_type == "strategy":
        meta.update(status="proposed", evidence="untested")
    elif draft.entry_type == "work-product":
        meta.update(product_type=draft.product_type or "other", attachments=draft.attachments)
        if draft.summary:
            meta["summary"] = draft.summary.strip()
    elif draft.entry_type == "rfi":
        due = draft.needed_by or (today + dt.timedelta(days=14)).isoformat()
        meta.update(
            status="open",
            priority=draft.priority or "routine",
            needed_by=due,
            to=draft.to or ["all"],
        )
    elif draft.entry_type == "response":
        meta["rfi"] = draft.rfi
    return meta


def new_entry(kb: KB, draft: EntryDraft, *, today: dt.date | None = None) -> NewEntry:
    """Write a new strategy, work product or RFI from its type's template (or the draft's
    body); the caller may open it in an editor."""
    if draft.entry_type not in TYPE_FOLDERS:
        raise UsageError(
            f"{draft.entry_type!r} is not a type you can create here",
            hint="use strategy, work-product or rfi (answer an RFI with `cacop rfi respond`)",
            field="entry_type",
        )
    today = today or dt.date.today()
    draft.check(today)
    entry_id = unique_id(kb, kb.site, draft.title, when=today)
    meta = entry_meta(kb, draft, entry_id=entry_id, today=today)
    body = draft.body if draft.body is not None else template_body(draft.entry_type)
    path = entry_path(kb.root, draft.entry_type, entry_id)
    write_atomic(path, render_entry(meta, body))
    return NewEntry(path, entry_id, [])


def sites(kb: KB) -> dict[str, dict]:
    return read_sites(kb)[0]


__all__ = [
    "GITLAB_CI", "PRE_COMMIT", "WORKFLOW", "NewKB", "ci_files",
    "Catalog", "validate", "show", "list_entries", "new_entry", "init_kb",
    "ID_RE", "closest_ids", "entry_files_by_id", "likely_duplicates", "locate",
    "not_found_hint", "resolve_id", "has_entries",
]  # fmt: skip
