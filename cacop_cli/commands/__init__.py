"""Typer commands, one module per area. Only this package and cli.py import Typer."""

from __future__ import annotations

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
    return load_kb(chosen)
