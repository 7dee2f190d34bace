"""Typer commands, one module per area. Only this package and cli.py import Typer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the core loads only when a command runs, not for --help or --version
    from ..config import KB

KB_OPTION = typer.Option(
    None, "--kb", metavar="PATH", help="The knowledge base (else CACOP_KB, else walk up)."
)
JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def open_kb(ctx: typer.Context, kb: str | Path | None) -> KB:
    """The KB named on this command, else on the root command, else found."""
    from ..config import load_kb

    chosen = kb or (ctx.find_root().obj.kb if ctx.find_root().obj else None)
    knowledge_base = load_kb(chosen)
    if knowledge_base.notices:
        from ..render import warn

        for notice in knowledge_base.notices:
            warn(notice)
    return knowledge_base


def tell_if_empty(knowledge_base: KB, lead: str | None = None) -> bool:
    """On a KB with no entries yet (right after `cacop init`), say so and how to add the
    first one (on stderr, so `--json` output is untouched); True if it was empty."""
    from ..entries import has_entries
    from ..render import empty_kb

    if has_entries(knowledge_base.root):
        return False
    empty_kb(*([lead] if lead else []))
    return True


FLAGS = {  # a draft's field -> the option that gives it
    "title": "--title",
    "topics": "--topic",
    "tags": "--tag",
    "tlp": "--tlp",
    "authors": "--author",
    "priority": "--priority",
    "needed_by": "--needed-by",
    "to": "--to",
    "product_type": "--product-type",
    "summary": "--summary",
    "allow_personal_data": "--allow-personal-data",
    "allow_unscanned": "--allow-unscanned",
}


@contextlib.contextmanager
def naming_flags() -> Iterator[None]:
    """Core errors speak of the data ("the title is empty"); here they gain the option that
    gave it ("--title: the title is empty"). The exit code stays the error's own."""
    from ..errors import CacopError

    try:
        yield
    except CacopError as error:
        flag = FLAGS.get(error.field or "")
        if flag:
            error.message = f"{flag}: {error.message}"
            error.args = (error.message,)
        raise
