"""`cacop site build`: the community's knowledge as a static website any colleague can
browse, search and print, holding only what may leave (site/gate.py).

The pages are built as strings (site/pages.py, site/html.py), the search index as data
(site/searchindex.py); `build` writes them into a fresh folder and only then puts it in
place of OUT, so a reader never sees half a site, and a page of an entry that has since
become AMBER cannot survive a rebuild. Never prints; the summary is returned.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import KB
from ..errors import ExitCode, Refused, UsageError
from ..models import TLP_BACKGROUND, TLP_COLOURS, Outcome, tlp_label, tlp_rank
from ..publish import Line, choose_line
from .gate import MAX_SITE_TLP, Attachment, Refusal

MARKER = ".cacop-site"  # in every folder `site build` wrote: it may replace that folder


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
    from ..catalog import Catalog, load_catalog
    from . import gate, pages, searchindex

    started = time.monotonic()
    today = today or dt.date.today()
    line = site_line(kb, max_tlp)
    out = out.expanduser().resolve()
    _check_out(kb, out)
    catalog = load_catalog(kb)
    chosen = gate.select(catalog, line, today)
    published = Catalog(kb, chosen.entries, [], catalog.sites)
    report = community.gaps(kb, today=today, max_tlp=line.line, catalog=published, gated=True)
    names = {slug: report.site_names.get(slug, slug) for slug in report.sites}
    site = pages.Site(
        entries=chosen.entries,
        attachments=chosen.attachments,
        site_names=names,
        kb_name=kb.name,
        today=today,
        gaps=report,
    )
    html_pages = pages.all_pages(site)
    index = searchindex.build(chosen.entries, chosen.attachments, vocabulary.groups(kb.root))
    files: dict[str, str] = dict(html_pages)
    files["assets/site.css"] = stylesheet()
    files["assets/search.js"] = (
        resources.files(__package__).joinpath("assets/search.js").read_text("utf-8")
    )
    files["assets/search-index.js"] = searchindex.as_script(index)
    files[MARKER] = "Written by `cacop site build`; a rebuild replaces this folder.\n"
    copied = _write(out, files, chosen.attachments)
    return SiteBuild(
        out=out,
        line=line,
        entries=len(chosen.entries),
        pages=len(html_pages),
        attachments=copied,
        refused=chosen.refused,
        above=chosen.above,
        skip_refused=skip_refused,
        seconds=time.monotonic() - started,
    )


def _write(out: Path, files: dict[str, str], attachments: dict[str, list[Attachment]]) -> int:
    """Everything into a new folder beside `out`, then that folder in `out`'s place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = out.parent / f".{out.name}.building-{os.getpid()}"
    stale = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(fresh, ignore_errors=True)
    copied = 0
    try:
        for name, text in files.items():
            target = fresh / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")
        for entry_id, attached in attachments.items():
            for attachment in attached:
                shutil.copyfile(attachment.path, fresh / entry_id / attachment.name)
                copied += 1
        if out.exists():
            out.rename(stale)
        fresh.rename(out)
    except OSError as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        if stale.exists() and not out.exists():
            stale.rename(out)
        raise UsageError(f"cannot write the site into {out}: {exc}") from exc
    shutil.rmtree(stale, ignore_errors=True)
    return copied
