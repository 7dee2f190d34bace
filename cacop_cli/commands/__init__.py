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
    None,
    "--kb",
    metavar="PATH",
    help="The knowledge base (else CACOP_KB, else walk up).",
    autocompletion=lambda incomplete: complete_paths(incomplete),
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


# ---------------------------------------------------------------- shell completion
# These run only when the shell asks (`_CACOP_COMPLETE` set): they read folder names and
# kb/sites.yaml, never an entry, and answer nothing rather than fail.


def _completion_root(ctx: typer.Context) -> Path | None:
    import os

    from ..scan import find_kb

    chosen = ctx.params.get("kb") or ctx.find_root().params.get("kb")
    try:
        found = find_kb(chosen or os.environ.get("CACOP_KB"), os.getcwd())
    except OSError:
        return None
    return Path(found) if found else None


def complete_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    """Entry ids, from the names of the entry files."""
    from ..entries import iter_entry_files

    root = _completion_root(ctx)
    if root is None:
        return []
    try:
        return sorted({path.stem for path in iter_entry_files(root)})
    except OSError:
        return []


def complete_paths(incomplete: str) -> list[str]:
    """Files and folders that start with what was typed (folders end in '/')."""
    import os

    folder, _, start = incomplete.rpartition("/")
    base = folder + "/" if folder or incomplete.startswith("/") else ""
    try:
        names = sorted(os.scandir(folder or ("/" if incomplete.startswith("/") else ".")), key=str)
    except OSError:
        return []
    return [
        f"{base}{item.name}{'/' if item.is_dir() else ''}"
        for item in names
        if item.name.startswith(start) and (start.startswith(".") or not item.name.startswith("."))
    ]


def complete_ids_or_paths(ctx: typer.Context, incomplete: str) -> list[str]:
    return complete_ids(ctx, incomplete) + complete_paths(incomplete)


def complete_types() -> list[str]:
    from ..models import TYPES

    return list(TYPES)


def complete_new_types() -> list[str]:
    return ["strategy", "work-product", "rfi"]


def complete_topics() -> list[str]:
    from ..models import TOPICS

    return list(TOPICS)


def complete_tlps() -> list[str]:
    from ..models import TLP_ORDER

    return list(TLP_ORDER)


def complete_sites(ctx: typer.Context) -> list[str]:
    """The sites of kb/sites.yaml (its keys)."""
    from .. import yamlsafe
    from ..config import read_settings

    root = _completion_root(ctx)
    if root is None:
        return []
    try:
        document = yamlsafe.load(read_settings(root / "kb" / "sites.yaml"))
    except Exception:  # noqa: BLE001 - a completion answers nothing rather than fail
        return []
    return sorted(map(str, document.value)) if isinstance(document.value, dict) else []
