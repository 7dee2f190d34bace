"""The community's knowledge as a website: site build, site serve."""

from __future__ import annotations

from pathlib import Path

import typer

from . import JSON_OPTION, KB_OPTION, open_kb
from .rfi import TODAY_OPTION
from .rfi import _today as parse_today  # --today, read as the other commands read it


def register(app: typer.Typer) -> None:
    site_app = typer.Typer(
        help="A static website of what may leave: build it, preview it.", no_args_is_help=True
    )
    app.add_typer(site_app, name="site")

    @site_app.command("build")
    def build_command(
        ctx: typer.Context,
        out: Path = typer.Argument(..., metavar="OUT", help="The folder to write the site into."),
        max_tlp: str | None = typer.Option(
            None,
            "--max-tlp",
            metavar="LEVEL",
            help="Publish entries up to this TLP (clear or green; default: share.max_tlp, "
            "at most green).",
        ),
        skip_refused: bool = typer.Option(
            False,
            "--skip-refused",
            help="Exit 0 even when the gate left entries out (they are still left out).",
        ),
        today: str | None = TODAY_OPTION,
        kb: str | None = KB_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Write a static site (pages, search, map) of the entries that may leave."""
        from .. import site
        from ..render import site as view

        result = site.build(
            open_kb(ctx, kb), out, max_tlp=max_tlp, skip_refused=skip_refused,
            today=parse_today(today),
        )  # fmt: skip
        view.built(result, as_json)
        raise typer.Exit(result.exit_code)

    @site_app.command("serve")
    def serve_command(
        ctx: typer.Context,
        out: Path | None = typer.Argument(
            None, metavar="[OUT]", help="A built site (default: build one now, in a temp folder)."
        ),
        port: int = typer.Option(8000, "--port", help="The port on 127.0.0.1 (0: any free)."),
        kb: str | None = KB_OPTION,
    ) -> None:
        """Preview a site on 127.0.0.1 (only this computer can open it)."""
        import contextlib
        import tempfile

        from .. import site
        from ..render import site as view
        from ..site.serve import server

        with contextlib.ExitStack() as cleanup:
            if out is None:  # a preview of the site as it would be built now
                folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cacop-site-"))
                out = Path(folder) / "site"
                view.built(site.build(open_kb(ctx, kb), out), as_json=False)
            httpd = server(out.expanduser().resolve(), port)
            host, bound = httpd.server_address[:2]
            view.serving(f"http://{host}:{bound}/", str(out))
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a preview ends
                httpd.serve_forever()
            httpd.server_close()
