"""`cacop site build`: the community's knowledge as a static website any colleague can
browse, search and print, holding only what may leave (site/gate.py).

The pages are built as strings (site/pages.py, site/html.py), the search index as data
(site/searchindex.py); `build` writes them into a fresh folder and only then puts it in
place of OUT, so a reader never sees half a site, and a page of an entry that has since
become AMBER cannot survive a rebuild. Never prints; the summary is returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import KB
from ..errors import ExitCode, Refused, UsageError
from ..models import TLP_BACKGROUND, TLP_COLOURS, Entry, Outcome, tlp_label, tlp_rank
from ..publish import Line, choose_line
from .gate import MAX_SITE_TLP, Attachment, Refusal

MARKER = ".cacop-site"  # in every folder `site build` wrote: it may replace that folder
SITE_RECORD = "site-files.json"  # in .cacop/: what the last build wrote where (class Written)
SITE_RECORD_FORMAT = 2
BODIES_RECORD = "site-bodies.json"  # in .cacop/: each body's HTML by its text (RenderedBodies)
BODIES_RECORD_FORMAT = 4
SEARCH_RECORD = "site-search.json"  # in .cacop/: each entry's part of the index (SearchParts)
SEARCH_RECORD_FORMAT = 5


@dataclass
class SiteBuild(Outcome):
    """What `site build` wrote and what it left out."""

    out: Path
    line: Line
    entries: int
    pages: int
    attachments: int
    refused: list[Refusal] = field(default_factory=list)
    above: int = 0
    skip_refused: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.refused or self.skip_refused

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.PROBLEMS

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "max_tlp": self.line.line,
            "entries": self.entries,
            "pages": self.pages,
            "attachments": self.attachments,
            "left_out_above_tlp": self.above,
            "refused": [refusal.as_dict() for refusal in self.refused],
            "seconds": round(self.seconds, 2),
        }


def site_line(kb: KB, max_tlp: str | None) -> Line:
    """The site's line: --max-tlp, else the effective line; never above GREEN."""
    line = choose_line(kb, max_tlp)
    if tlp_rank(line.line) > tlp_rank(MAX_SITE_TLP):
        if max_tlp is not None:
            raise UsageError(
                f"--max-tlp {line.line}: a site is read by the whole community, so it holds "
                f"at most {tlp_label(MAX_SITE_TLP)}",
                hint="use --max-tlp green or clear",
            )
        line = Line(MAX_SITE_TLP, line.effective)
    return line


def _check_out(kb: KB, out: Path) -> None:
    for inside in (kb.root / "kb", kb.root / ".git", kb.root / ".cacop"):
        if out == inside.resolve() or inside.resolve() in out.parents:
            raise UsageError(
                f"{out} is inside {inside.name}/ of the knowledge base; the next commit or "
                "submit would carry the whole site (or git would lose it)",
                hint="build it outside the KB, e.g. `cacop site build ../site` or `_site`",
            )
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; give a folder for the site")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise Refused(
            f"{out} holds files that `cacop site build` did not write; nothing was changed",
            hint="give a new or empty folder (a rebuild replaces only a folder it wrote)",
        )


def stylesheet() -> str:
    css = resources.files(__package__).joinpath("assets/site.css").read_text("utf-8")
    rules = [
        f".tlp-{tlp.replace('+', '-')} {{ background: {TLP_BACKGROUND}; color: {colour}; }}"
        for tlp, colour in TLP_COLOURS.items()
    ]
    return (
        css + "/* FIRST TLP 2.0: each label in its colour on black */\n" + "\n".join(rules) + "\n"
    )


def build(
    kb: KB,
    out: Path,
    *,
    max_tlp: str | None = None,
    skip_refused: bool = False,
    today: dt.date | None = None,
) -> SiteBuild:
    """Write the site for `kb` into `out` (replacing a site built there before)."""
    import time

    from .. import community, vocabulary
    from ..catalog import load_catalog
    from ..listing import listing_of
    from . import gate, pages, searchindex
    from .kept import code_digest

    started = time.monotonic()
    today = today or dt.date.today()
    line = site_line(kb, max_tlp)
    out = out.expanduser().resolve()
    _check_out(kb, out)
    catalog = load_catalog(kb)
    chosen = gate.select(catalog, line, today)
    published = listing_of(kb, chosen.entries)
    report = community.gaps(kb, today=today, max_tlp=line.line, listing=published, gated=True)
    names = {slug: report.site_names.get(slug, slug) for slug in report.sites}
    rendered = RenderedBodies(kb, chosen.entries)
    site = pages.Site(
        bodies=rendered,
        entries=chosen.entries,
        attachments=chosen.attachments,
        site_names=names,
        kb_name=kb.name,
        today=today,
        gaps=report,
    )
    record = Written.load(kb, out) if (out / MARKER).is_file() else None
    reuse = Reuse(record, out)
    inputs: dict[str, str] = {}  # page -> the digest of what it was made from
    made_at = f"{SITE_RECORD_FORMAT} {code_digest()} {rendered.stamp[2]} "

    def keep(name: str, key: str) -> bool:
        key = _digest((made_at + key).encode())
        inputs[name] = key
        return reuse.page(name, key)

    html_pages = pages.entry_pages(site, keep)
    made_from = pages.listings_key(site)
    listings = made_from and _digest((made_at + made_from).encode())
    if not listings or not reuse.pages(listings):
        listed = pages.listing_pages(site)
        html_pages.update(listed)
        if listings:
            inputs.update(dict.fromkeys(listed, listings))
    rendered.save()
    files: dict[str, str] = dict(html_pages)
    files["assets/site.css"] = stylesheet()
    files["assets/search.js"] = (
        resources.files(__package__).joinpath("assets/search.js").read_text("utf-8")
    )
    analysing = searchindex.analyser(vocabulary.groups(kb.root))
    parts = SearchParts(kb, analysing)
    wanted = [analysing.fields(entry, chosen.attachments) for entry in chosen.entries]
    keys = [analysing.key(fields) for fields in wanted]
    search_key = _digest(json.dumps([parts.stamp, analysing.phrases, keys]).encode())
    if not reuse.pages(search_key):
        contributions = [parts.get(key, fields) for key, fields in zip(keys, wanted, strict=True)]
        index = _patched(parts, reuse, contributions) or analysing.assemble(contributions)
        files["assets/search-index.js"] = searchindex.as_script(index)
        inputs["assets/search-index.js"] = search_key
        parts.save({"index": search_key, "order": keys})
    files[MARKER] = "Written by `cacop site build`; a rebuild replaces this folder.\n"
    inputs.update(reuse.inputs)
    copied = _write(kb, out, files, chosen.attachments, record, reuse, inputs)
    return SiteBuild(
        out=out,
        line=line,
        entries=len(chosen.entries),
        pages=len(html_pages) + sum(name.endswith(".html") for name in reuse.kept),
        attachments=copied,
        refused=chosen.refused,
        above=chosen.above,
        skip_refused=skip_refused,
        seconds=time.monotonic() - started,
    )


class RenderedBodies:
    """Each entry's body as HTML, kept by its text in `.cacop/site-bodies.json` (derived,
    JSON), so a rebuild that makes many pages (a new day, a site renamed) renders only
    changed bodies. The record (60 MB at 10,000 entries) is read only once more than
    LOAD_AFTER pages are made: a rebuild after a few edits renders those few. The HTML goes
    into pages as it is, so the record is sealed and stamped (site/kept.py): one edited,
    copied or written by other code or another markdown-it is a miss."""

    LOAD_AFTER = 16

    def __init__(self, kb: KB, entries: list[Entry]) -> None:
        from importlib.metadata import version

        from .kept import code_digest

        self.path = kb.state_dir / BODIES_RECORD
        self.stamp = [BODIES_RECORD_FORMAT, code_digest(), version("markdown-it-py")]
        self.entries = {entry.id: entry for entry in entries}
        self.known: dict[str, str] | None = None  # the record, once read
        self.made: dict[str, str] = {}  # rendered by this build
        self.asked = 0

    def get(self, entry_id: str) -> str | None:
        """The body of the entry `entry_id` as HTML (pages.Site.bodies)."""
        from .html import markdown

        entry = self.entries.get(entry_id)
        if entry is None:
            return None
        self.asked += 1
        if self.known is None and self.asked > self.LOAD_AFTER:
            from .kept import read

            _, bodies = read(self.path, self.stamp)
            self.known = bodies if isinstance(bodies, dict) else {}
        key = _body_key(entry.body)
        found = (self.known or {}).get(key)
        if not isinstance(found, str):
            found = self.made.get(key)
            if found is None:
                found = self.made[key] = markdown(entry.body)
        return found

    def save(self) -> None:
        """Once the record was read and bodies were rendered: the bodies of today's entries."""
        from .kept import write

        if self.known is None or not self.made:
            return  # unkept, a later build that makes many pages renders these few again
        current = {_body_key(entry.body) for entry in self.entries.values()}
        kept = {key: html for key, html in self.known.items() if key in current}
        kept.update((key, html) for key, html in self.made.items() if key in current)
        if kept != self.known:
            write(self.path, self.stamp, kept)


def _body_key(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


class SearchParts:
    """Each entry's part of the search index, kept by its text in `.cacop/site-search.json`
    (derived, JSON), so a rebuild analyses only changed entries and assembles the rest.
    Sealed and stamped like the rendered bodies: the page shows its titles and snippets."""

    def __init__(self, kb: KB, analysing: Any) -> None:
        from .kept import code_digest

        self.path = kb.state_dir / SEARCH_RECORD
        self.analysing = analysing
        self.stamp = [SEARCH_RECORD_FORMAT, code_digest(), analysing.phrases]
        self.known: dict[str, list] = {}
        self.used: dict[str, list] = {}
        self.loaded = False
        self.head: dict = {}

    def _load(self) -> None:
        from .kept import read

        self.loaded = True
        self.head, parts = read(self.path, self.stamp)
        if isinstance(parts, dict):
            self.known = parts

    def get(self, key: str, fields: dict[str, str]) -> list:
        if not self.loaded:
            self._load()
        found = self.known.get(key)
        if not _is_part(found):
            found = self.analysing.contribution(fields)
        self.used[key] = found
        return found

    def save(self, index: dict) -> None:
        """With the parts, which of them made the index (in order), for `_patched`."""
        from .kept import write

        if self.used.keys() != self.known.keys() or self.head != index:
            write(self.path, self.stamp, self.used, index)  # unwritten, the next analyses all


def _patched(parts: SearchParts, reuse: Reuse, contributions: list[list]) -> dict | None:
    """The index the last build wrote, with the postings of changed entries' terms redone,
    if that file is intact and the same entries stand in the same places; else None."""
    from . import searchindex

    name = "assets/search-index.js"
    made, order = parts.head.get("index"), parts.head.get("order")
    if reuse.record is None or reuse.record.inputs.get(name) != made or not made:
        return None
    if not isinstance(order, list) or len(order) != len(contributions):
        return None
    before = [parts.known.get(key) for key in order]
    if not all(_is_part(part) for part in before) or reuse.intact(name) is None:
        return None
    try:
        index = searchindex.read_script((reuse.out / name).read_text("utf-8"))
        return index and parts.analysing.patch(index, before, contributions)
    except (OSError, UnicodeError, ValueError, KeyError, IndexError, TypeError):
        return None


def _is_part(found: object) -> bool:
    return (
        isinstance(found, list)
        and len(found) == 4
        and isinstance(found[0], list)
        and isinstance(found[1], int)
        and isinstance(found[2], str)
        and isinstance(found[3], list)
        and len(found[3]) == (found[2].count(" ") + 1 if found[2] else 0)
    )


class Reuse:
    """The pages a rebuild in place may leave as they are: made from the same inputs (the
    digest the record keeps beside each) and still on disk as written."""

    def __init__(self, record: Written | None, out: Path) -> None:
        self.record = record
        self.out = out
        self.present = _present(out) if record is not None else {}  # name -> its lstat
        self.kept: dict[str, str] = {}  # name -> its digest
        self.inputs: dict[str, str] = {}  # name -> the digest of its inputs
        self.by_key: dict[str, list[str]] | None = None

    def pages(self, key: str) -> bool:
        """Keep every page made from `key`, if all of them are intact; else keep none."""
        if self.record is None:
            return False
        if self.by_key is None:
            self.by_key = {}
            for name, made in self.record.inputs.items():
                self.by_key.setdefault(made, []).append(name)
        found = {}
        for name in self.by_key.get(key, []):
            digest = self.intact(name)
            if digest is None:
                return False
            found[name] = digest
        self.kept.update(found)
        self.inputs.update(dict.fromkeys(found, key))
        return bool(found)

    def page(self, name: str, key: str) -> bool:
        """Keep the page `name` if it was made from `key` and is intact."""
        if self.record is None or self.record.inputs.get(name) != key:
            return False
        digest = self.intact(name)
        if digest is None:
            return False
        self.kept[name] = digest
        self.inputs[name] = key
        return True

    def intact(self, name: str) -> str | None:
        """The digest of `name` as the record has it, if the file is still as written."""
        assert self.record is not None
        on_disk = self.present.get(name)
        if on_disk is None:
            return None
        known = self.record.files.get(name)
        digest = known[0] if isinstance(known, list) and known else None
        if not isinstance(digest, str) or not self.record.unchanged(name, digest, on_disk):
            return None
        return digest


def _write(
    kb: KB,
    out: Path,
    files: dict[str, str],
    attachments: dict[str, list[Attachment]],
    record: Written | None,
    reuse: Reuse,
    inputs: dict[str, str],
) -> int:
    """The site into `out`: in place when `out` is the site this clone wrote last (only
    what changed is written, `kept` files are left as they are, and whatever the new site
    does not hold is removed first), else into a new folder that then takes `out`'s place."""
    in_place = record is not None and (out / MARKER).is_file()
    if reuse.kept and not in_place:
        raise AssertionError("pages kept from a site that is not rebuilt in place")
    record = record or Written(kb, out)
    try:
        if in_place:
            return _update(out, files, attachments, record, reuse.kept, reuse.present)
        return _replace(out, files, attachments, record)
    finally:
        record.inputs = {name: key for name, key in inputs.items() if name in record.files}
        record.save()


class Written:
    """What `site build` last wrote into a folder (kept in `.cacop/`, derived): each file's
    digest and the size and modification time it had, so that a rebuild rewrites only
    what changed and any file edited since is written again. Unreadable: a full build."""

    def __init__(
        self,
        kb: KB,
        out: Path,
        files: dict[str, list] | None = None,
        inputs: dict[str, str] | None = None,
    ) -> None:
        self.path = kb.state_dir / SITE_RECORD
        self.out = out
        self.files: dict[str, list] = files or {}  # name -> [digest, size, mtime_ns]
        self.inputs: dict[str, str] = inputs or {}  # name -> the digest of what made it

    @classmethod
    def load(cls, kb: KB, out: Path) -> Written | None:
        from .kept import read

        _, document = read(kb.state_dir / SITE_RECORD, _record_stamp(out))
        if isinstance(document, dict):
            files, inputs = document.get("files"), document.get("inputs", {})
            if isinstance(files, dict) and isinstance(inputs, dict):
                return cls(kb, out, files, inputs)
        return None

    def unchanged(self, name: str, digest: str, on_disk: os.stat_result | None) -> bool:
        known = self.files.get(name)
        return (
            on_disk is not None
            and isinstance(known, list)
            and known == [digest, on_disk.st_size, on_disk.st_mtime_ns]
        )

    def wrote(self, name: str, digest: str, target: Path) -> None:
        stat = target.stat()
        self.files[name] = [digest, stat.st_size, stat.st_mtime_ns]

    def save(self) -> None:
        """Sealed like the caches (site/kept.py); unwritten, the next build writes everything."""
        from .kept import write

        write(self.path, _record_stamp(self.out), {"files": self.files, "inputs": self.inputs})


def _record_stamp(out: Path) -> list:
    from .kept import code_digest

    return [SITE_RECORD_FORMAT, code_digest(), str(out)]


def _present(out: Path) -> dict[str, os.stat_result]:
    """Each file (and link) under `out` by its path in the site, with its lstat."""
    found: dict[str, os.stat_result] = {}
    waiting = [("", str(out))]
    while waiting:
        prefix, folder = waiting.pop()
        try:
            with os.scandir(folder) as listing:
                for item in listing:
                    if item.is_dir(follow_symlinks=False):
                        waiting.append((f"{prefix}{item.name}/", item.path))
                    else:
                        found[prefix + item.name] = item.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
    return found


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _attachment_digest(path: Path) -> str:
    """An attachment by its source's size and time (its bytes were read by the gate)."""
    stat = path.stat()
    return f"source:{stat.st_size}:{stat.st_mtime_ns}"


def _replace(
    out: Path, files: dict[str, str], attachments: dict[str, list[Attachment]], record: Written
) -> int:
    """Everything into a new folder beside `out`, then that folder in `out`'s place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = out.parent / f".{out.name}.building-{os.getpid()}"
    stale = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(fresh, ignore_errors=True)
    record.files = {}
    copied = 0
    try:
        for name, text in files.items():
            target = fresh / name
            target.parent.mkdir(parents=True, exist_ok=True)
            data = text.encode("utf-8")
            target.write_bytes(data)
            record.wrote(name, _digest(data), target)
        for entry_id, attached in attachments.items():
            for attachment in attached:
                name = f"{entry_id}/{attachment.name}"
                shutil.copyfile(attachment.path, fresh / name)
                record.wrote(name, _attachment_digest(attachment.path), fresh / name)
                copied += 1
        if out.exists():
            out.rename(stale)
        fresh.rename(out)
    except OSError as exc:
        record.files = {}
        shutil.rmtree(fresh, ignore_errors=True)
        if stale.exists() and not out.exists():
            stale.rename(out)
        raise UsageError(f"cannot write the site into {out}: {exc}") from exc
    shutil.rmtree(stale, ignore_errors=True)
    return copied


def _update(
    out: Path,
    files: dict[str, str],
    attachments: dict[str, list[Attachment]],
    record: Written,
    kept: dict[str, str],
    present: dict[str, os.stat_result],
) -> int:
    """Only what changed into `out`: first every file the new site does not hold goes (an
    entry withdrawn, refused or now above the line), and the search index if it changes;
    then each changed page, each changed attachment, and the search index last."""
    wanted: dict[str, tuple[str, Any]] = {name: (digest, None) for name, digest in kept.items()}
    for name, text in files.items():
        data = text.encode("utf-8")
        wanted[name] = (_digest(data), data)
    for entry_id, attached in attachments.items():
        for attachment in attached:
            name = f"{entry_id}/{attachment.name}"
            wanted[name] = (_attachment_digest(attachment.path), attachment.path)
    try:
        last = ("assets/search-index.js",)
        changed = [
            name
            for name, (digest, _) in wanted.items()
            if name not in kept and not record.unchanged(name, digest, present.get(name))
        ]
        emptied: set[Path] = set()
        for name in present:
            if name not in wanted or name in last and name in changed:
                (out / name).unlink()
                record.files.pop(name, None)
                emptied.update((out / name).parents)
        for folder in sorted(emptied, key=lambda f: len(f.parts), reverse=True):
            if out in folder.parents and not any(folder.iterdir()):
                folder.rmdir()
        for name in sorted(changed, key=lambda n: n in last):
            digest, source = wanted[name]
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.part-{os.getpid()}")
            if isinstance(source, bytes):
                partial.write_bytes(source)
            else:
                shutil.copyfile(source, partial)
            os.replace(partial, target)
            record.wrote(name, digest, target)
    except OSError as exc:
        record.files = {}
        raise UsageError(f"cannot write the site into {out}: {exc}") from exc
    return sum(len(attached) for attached in attachments.values())
