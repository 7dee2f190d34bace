"""Requests for information and the community's map: rfi open/respond/close/list, gaps,
experts and digest."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import Refused, UsageError
from ..models import TLP_ORDER, TOPICS, EntryDraft
from . import (
    JSON_OPTION,
    KB_OPTION,
    ask_site,
    check_date,
    check_sites,
    check_tlp,
    check_topics,
    complete_ids,
    complete_paths,
    complete_sites,
    complete_tlps,
    complete_topics,
    naming_flags,
    normal,
    open_kb,
    open_kb_to_write,
    tell_if_empty,
)

NOTHING_TO_MAP = "nothing to map yet, the knowledge base has no entries"

if TYPE_CHECKING:
    from ..config import KB

TODAY_OPTION = typer.Option(
    None,
    "--today",
    envvar="CACOP_TODAY",
    hidden=True,
    metavar="DATE",
    help="Compute as if today were DATE (for tests and reproducible reports).",
)
MESSAGE_OPTION = typer.Option(None, "--message", "-m", help="The text, given inline.")
FILE_OPTION = typer.Option(
    None,
    "--file",
    "-f",
    metavar="PATH",
    help="Read the text from a file ('-' for stdin).",
    autocompletion=lambda incomplete: complete_paths(incomplete),
)

MAX_TLP_OPTION = typer.Option(
    None,
    "--max-tlp",
    autocompletion=complete_tlps,
    metavar="LEVEL",
    help=f"Include entries up to this TLP ({', '.join(TLP_ORDER)}; default: share.max_tlp). "
    "Above share.max_tlp it asks first and marks the output.",
)
YES_OPTION = typer.Option(
    False, "--yes", help="Raise --max-tlp above share.max_tlp without asking (for scripts)."
)


def _max_tlp(kb: KB, max_tlp: str | None, yes: bool) -> str | None:
    """--max-tlp, once a person on a terminal agreed to go above the effective line
    (refused off a terminal unless --yes)."""
    from ..models import tlp_label
    from ..publish import choose_line

    max_tlp = check_tlp(max_tlp, "--max-tlp")
    line = choose_line(kb, max_tlp)
    if not line.raised or yes:
        return max_tlp
    above = f"--max-tlp {line.line} includes entries above {tlp_label(line.effective)}"
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise Refused(
            f"{above} (share.max_tlp); not on a terminal, so nobody could confirm it",
            hint="add --yes if the output will reach only people cleared for "
            f"{tlp_label(line.line)}",
        )
    if not typer.confirm(
        f"{above}: will only people cleared for {tlp_label(line.line)} see this?", err=True
    ):
        raise Refused(f"nothing written: {above}", hint="run it again without --max-tlp")
    return max_tlp


def _today(value: str | None) -> dt.date | None:
    checked = check_date(value, "--today")
    return dt.date.fromisoformat(checked) if checked else None


def _body(message: str | None, file: str | None, limits: dict, heading: str) -> str | None:
    """The entry body from --message or --file; None when neither was given."""
    from ..rfi import message_body, read_message_file

    if message is not None and file is not None:
        raise UsageError("give either --message or --file, not both")
    if message is not None:
        if not message.strip():
            raise UsageError("--message is empty")
        return message_body(message, heading)
    return read_message_file(file, limits) if file is not None else None


def register(app: typer.Typer) -> None:
    rfi_app = typer.Typer(
        help="Requests for information: ask every site, answer, close, list.",
        no_args_is_help=True,
    )
    app.add_typer(rfi_app, name="rfi")

    @rfi_app.command("open")
    def open_command(
        ctx: typer.Context,
        title: str = typer.Option(..., "--title", help="The question, in one line."),
        needed_by: str = typer.Option(
            ..., "--needed-by", metavar="DATE", help="When you need answers (YYYY-MM-DD)."
        ),
        priority: str = typer.Option("routine", "--priority", help="routine, priority or urgent."),
        to: list[str] = typer.Option(
            [],
            "--to",
            metavar="SITE",
            help="A site to ask (default: all).",
            autocompletion=complete_sites,
        ),
        message: str | None = MESSAGE_OPTION,
        file: str | None = FILE_OPTION,
        topic: list[str] = typer.Option(
            [],
            "--topic",
            help=f"One of: {', '.join(TOPICS)} (default: crime-analysis).",
            autocompletion=complete_topics,
        ),
        tag: list[str] = typer.Option([], "--tag", help="A tag (lowercase slug); repeatable."),
        tlp: str = typer.Option(
            "green", "--tlp", help=f"One of: {', '.join(TLP_ORDER)}.", autocompletion=complete_tlps
        ),
        author: list[str] = typer.Option([], "--author", help="Author name (default: git's)."),
        kb: str | None = KB_OPTION,
        today: str | None = TODAY_OPTION,
    ) -> None:
        """Ask other sites a question; without --message or --file, $EDITOR opens the template."""
        from .. import ops, rfi
        from ..render import rfi as view
        from .core import open_editor

        knowledge_base = open_kb(ctx, kb)
        body = _body(message, file, knowledge_base.limits, "Question")
        draft = EntryDraft(
            "rfi", title, check_topics(topic), tags=tag, tlp=check_tlp(tlp), authors=author,
            body=body, priority=normal(priority), needed_by=check_date(needed_by, "--needed-by"),
            to=check_sites(knowledge_base, to, "--to", allow_all=True),
        )  # fmt: skip
        ask_site(knowledge_base)
        with naming_flags():
            created = rfi.open_rfi(knowledge_base, draft, today=_today(today))
        created.issues = [issue for issue in created.issues if issue.code != "template-prompt"]
        if body is None:  # as `new` does: the editor's exit code 0 is an edit, not "none"
            edited = open_editor(created.path)
            if edited is None:
                view.note("no $EDITOR is set: edit the file yourself, then run `cacop validate`")
            else:
                if edited:
                    from ..render import warn

                    warn(f"the editor exited with code {edited}; the RFI is kept as it left it")
                created.issues = ops.check_entry(knowledge_base, created.path)
        view.opened(created)
        raise typer.Exit(created.exit_code)

    @rfi_app.command("respond")
    def respond_command(
        ctx: typer.Context,
        rfi_id: str = typer.Argument(
            ...,
            metavar="ID",
            help="The RFI's id, a unique start of it, or its title.",
            autocompletion=complete_ids,
        ),
        message: str | None = MESSAGE_OPTION,
        file: str | None = FILE_OPTION,
        title: str | None = typer.Option(None, "--title", help="Default: 'Re: <the RFI's title>'."),
        tlp: str | None = typer.Option(None, "--tlp", help="Default: the RFI's (never less)."),
        topic: list[str] = typer.Option([], "--topic", help="Default: the RFI's topics."),
        author: list[str] = typer.Option([], "--author", help="Author name (default: git's)."),
        kb: str | None = KB_OPTION,
        today: str | None = TODAY_OPTION,
    ) -> None:
        """Answer an RFI: writes a new response file; the RFI itself is never edited."""
        from .. import rfi
        from ..render import rfi as view

        knowledge_base = open_kb(ctx, kb)
        body = _body(message, file, knowledge_base.limits, "Answer")
        if body is None:
            raise UsageError("give the answer with --message TEXT or --file PATH")
        draft = EntryDraft(
            "response", title or "", check_topics(topic), tlp=check_tlp(tlp), authors=author,
            body=body, rfi=rfi_id,
        )  # fmt: skip
        ask_site(knowledge_base)
        with naming_flags():
            created = rfi.respond(knowledge_base, draft, today=_today(today))
        view.responded(created)
        raise typer.Exit(created.exit_code)

    @rfi_app.command("close")
    def close_command(
        ctx: typer.Context,
        rfi_id: str = typer.Argument(
            ...,
            metavar="ID",
            help="The RFI's id, a unique start of it, or its title.",
            autocompletion=complete_ids,
        ),
        kb: str | None = KB_OPTION,
    ) -> None:
        """Close your own site's RFI (changes only its status field)."""
        from .. import rfi
        from ..render import rfi as view

        view.closed(rfi.close(open_kb_to_write(ctx, kb), rfi_id))

    @rfi_app.command("list")
    def list_command(
        ctx: typer.Context,
        open_only: bool = typer.Option(False, "--open", help="Only RFIs not closed."),
        overdue: bool = typer.Option(
            False, "--overdue", help="Only RFIs past needed_by, not closed."
        ),
        to_me: bool = typer.Option(False, "--to-me", help="Only RFIs other sites sent to yours."),
        mine: bool = typer.Option(False, "--mine", help="Only your site's RFIs."),
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
        today: str | None = TODAY_OPTION,
    ) -> None:
        """List RFIs with priority, due date, days left or overdue, and responses."""
        from .. import rfi
        from ..render import rfi as view

        knowledge_base = open_kb(ctx, kb)
        listing = rfi.list_rfis(
            knowledge_base, open_only=open_only, overdue=overdue, to_me=to_me, mine=mine,
            today=_today(today),
        )  # fmt: skip
        view.listing(listing, as_json)
        if not listing.rows:
            tell_if_empty(knowledge_base)

    @app.command()
    def gaps(
        ctx: typer.Context,
        by_type: bool = typer.Option(False, "--by-type", help="Also one matrix per entry type."),
        html: Path | None = typer.Option(
            None, "--html", metavar="FILE", help="Write a self-contained page with the heatmap."
        ),
        max_tlp: str | None = MAX_TLP_OPTION,
        yes: bool = YES_OPTION,
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
        today: str | None = TODAY_OPTION,
    ) -> None:
        """Map what the community knows: a topic × site heatmap, then what needs action."""
        from .. import community
        from ..render import community as view

        knowledge_base = open_kb(ctx, kb)
        line = _max_tlp(knowledge_base, max_tlp, yes)
        report = community.gaps(knowledge_base, by_type, today=_today(today), max_tlp=line)
        if html is None:
            view.gaps(report, as_json)
        else:
            page = view.gaps_html(report, knowledge_base.name, html.expanduser().absolute().parent)
            written = community.save_page(html, page)
            if as_json:
                view.gaps(report, as_json)
                view.note(f"wrote {written}")
            else:
                view.page_written(written)
        tell_if_empty(knowledge_base, NOTHING_TO_MAP)

    @app.command()
    def experts(
        ctx: typer.Context,
        query: str = typer.Argument(
            ..., metavar="QUERY", help="What you want to ask about, as for `search`."
        ),
        top: int = typer.Option(10, "--top", help="How many people and sites to list."),
        max_tlp: str | None = MAX_TLP_OPTION,
        yes: bool = YES_OPTION,
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
        today: str | None = TODAY_OPTION,
    ) -> None:
        """Who to ask: authors and sites ranked by their matching entries, recent work first."""
        from .. import community
        from ..entries import has_entries
        from ..render import community as view

        knowledge_base = open_kb(ctx, kb)
        line = _max_tlp(knowledge_base, max_tlp, yes)
        report = community.experts(
            knowledge_base, query, top=top, today=_today(today), max_tlp=line
        )
        empty = not report.matched and not has_entries(knowledge_base.root)
        if as_json or not empty:  # else "try broader words" would mislead
            view.experts(report, as_json)
        if empty:
            view.empty_kb(NOTHING_TO_MAP)

    @app.command()
    def digest(
        ctx: typer.Context,
        since: str | None = typer.Option(
            None, "--since", metavar="DATE", help="From this date (default: seven days ago)."
        ),
        max_tlp: str | None = MAX_TLP_OPTION,
        yes: bool = YES_OPTION,
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
        today: str | None = TODAY_OPTION,
    ) -> None:
        """What was added, answered and closed since a date, as Markdown for the newsletter."""
        from .. import digest as digests
        from ..render import community as view

        start = check_date(since, "--since")
        start = dt.date.fromisoformat(start) if start else None
        knowledge_base = open_kb(ctx, kb)
        line = _max_tlp(knowledge_base, max_tlp, yes)
        result = digests.digest(knowledge_base, start, today=_today(today), max_tlp=line)
        view.digest(result, as_json)
        if not (result.added or result.answered or result.closed):
            tell_if_empty(knowledge_base)
