"""Search commands: search, index, similar."""

from __future__ import annotations

import typer

from ..models import TLP_ORDER, TOPICS, TYPES
from . import (
    JSON_OPTION,
    KB_OPTION,
    check_date,
    check_site,
    check_status,
    check_tlp,
    check_topic,
    check_type,
    complete_ids,
    complete_sites,
    complete_tlps,
    complete_topics,
    complete_types,
    open_kb,
    tell_if_empty,
)

QUERY_HELP = (
    'Words (all must appear), "a phrase", field:value (title: tag: topic: site: type: '
    "author: created: …), AND / OR / NOT, -word, ( ), prefix*. Empty with filters: list matches."
)


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search(
        ctx: typer.Context,
        query: str = typer.Argument("", metavar="QUERY", help=QUERY_HELP),
        entry_type: str | None = typer.Option(
            None, "--type", help=f"One of: {', '.join(TYPES)}.", autocompletion=complete_types
        ),
        site: str | None = typer.Option(
            None, "--site", help="Only this site (slug).", autocompletion=complete_sites
        ),
        topic: str | None = typer.Option(
            None, "--topic", help=f"One of: {', '.join(TOPICS)}.", autocompletion=complete_topics
        ),
        tag: str | None = typer.Option(None, "--tag", help="Only entries with this tag."),
        status: str | None = typer.Option(None, "--status", help="e.g. active, open, answered."),
        tlp: str | None = typer.Option(
            None, "--tlp", help=f"One of: {', '.join(TLP_ORDER)}.", autocompletion=complete_tlps
        ),
        author: str | None = typer.Option(None, "--author", help="Words of an author's name."),
        since: str | None = typer.Option(
            None, "--since", metavar="DATE", help="Created or updated on or after YYYY-MM-DD."
        ),
        until: str | None = typer.Option(
            None, "--until", metavar="DATE", help="Created on or before YYYY-MM-DD."
        ),
        limit: int = typer.Option(10, "--limit", "-n", min=1, max=1000, help="Results to show."),
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """Ranked full-text search, with highlighted snippets; brings the index up to date first."""
        from .. import search as core
        from ..entries import has_entries
        from ..render import search as view

        knowledge_base = open_kb(ctx, kb)
        with view.progress("updating the search index") as progress:
            result = core.search(
                knowledge_base, query, type=check_type(entry_type),
                site=check_site(knowledge_base, site), topic=check_topic(topic), tag=tag,
                status=check_status(status), tlp=check_tlp(tlp), author=author,
                since=check_date(since, "--since"), until=check_date(until, "--until"), limit=limit,
                facets=not as_json, progress=progress,
            )  # fmt: skip
        empty = not result.total and not has_entries(knowledge_base.root)
        if empty:  # "try another word" helps nobody in a KB with no entries
            result.suggestion = None
        view.results(result, as_json)
        if empty:
            view.empty_kb()

    @app.command("index")
    def index(
        ctx: typer.Context,
        rebuild: bool = typer.Option(False, "--rebuild", help="Start from nothing."),
        kb: str | None = KB_OPTION,
    ) -> None:
        """Bring the search index up to date with the files (only what changed), or rebuild it."""
        from .. import search as core
        from ..render import search as view

        knowledge_base = open_kb(ctx, kb)
        with view.progress("indexing entries") as progress:
            stats = (core.rebuild if rebuild else core.refresh)(knowledge_base, progress)
        view.index_stats(stats)
        tell_if_empty(knowledge_base)

    @app.command("similar")
    def similar(
        ctx: typer.Context,
        entry_id: str = typer.Argument(
            ...,
            metavar="ID",
            help="The entry's id, a unique start of it, or its title.",
            autocompletion=complete_ids,
        ),
        limit: int = typer.Option(5, "--limit", "-n", min=1, max=100, help="Entries to show."),
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """The entries most like one entry: has anyone done this before?"""
        from .. import search as core
        from ..render import search as view

        knowledge_base = open_kb(ctx, kb)
        view.similar(entry_id, core.similar(knowledge_base, entry_id, limit), as_json)
