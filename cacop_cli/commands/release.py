"""Keeping a knowledge base in step with the cacop that reads it: upgrade."""

from __future__ import annotations

import typer

from . import KB_OPTION, open_kb


def register(app: typer.Typer) -> None:
    @app.command()
    def upgrade(ctx: typer.Context, kb: str | None = KB_OPTION) -> None:
        """Rewrite this knowledge base's files into the format this cacop writes."""
        from .. import release
        from ..render import release as view

        knowledge_base = open_kb(ctx, kb)
        view.upgraded(release.upgrade(knowledge_base.root, knowledge_base.settings))
