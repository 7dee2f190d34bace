"""Who I am and where the line is: config, whoami."""

from __future__ import annotations

import typer

from . import JSON_OPTION, KB_OPTION, check_site, open_kb, tell_if_no_site


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config_command(
        ctx: typer.Context,
        key: str | None = typer.Argument(None, metavar="KEY", help="site, name or max-tlp."),
        value: str | None = typer.Argument(None, metavar="VALUE", help="The new value."),
        user: bool = typer.Option(False, "--user", help="Keep it for every clone of this user."),
        confirm: bool = typer.Option(
            False, "--confirm", help="max-tlp: accept the line cacop.yaml now sets."
        ),
        kb: str | None = KB_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Set this clone's (or with --user, your) site, name or max-tlp; alone, list them."""
        from .. import config
        from ..render import settings as view

        knowledge_base = open_kb(ctx, kb)
        if key is None:
            view.identity(config.identity(knowledge_base), as_json)
            return
        if key == "site" and value:  # a site of kb/sites.yaml, as every --site is
            value = check_site(knowledge_base, value, "site")
        view.changed(config.change_setting(knowledge_base, key, value, user, confirm))

    @app.command()
    def whoami(ctx: typer.Context, kb: str | None = KB_OPTION, as_json: bool = JSON_OPTION) -> None:
        """Show your site, name and the effective max TLP, and where each came from."""
        from .. import config
        from ..render import settings as view

        knowledge_base = open_kb(ctx, kb)
        tell_if_no_site(knowledge_base)
        view.identity(config.identity(knowledge_base), as_json)
