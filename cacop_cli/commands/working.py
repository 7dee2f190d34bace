"""Your own work: status, edit, open."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from ..errors import CacopError
from . import JSON_OPTION, KB_OPTION, open_kb, tell_if_no_site


def launch(path: Path) -> None:
    """Open a file with the system's opener: `os.startfile` on Windows, `open` on macOS,
    `xdg-open` elsewhere. CacopError when the opener is missing or fails."""
    if sys.platform == "win32":
        try:
            os.startfile(path)  # type: ignore[attr-defined]  # noqa: S606
        except OSError as exc:
            raise CacopError(f"cannot open {path}: {exc.strerror or exc}") from exc
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    try:
        finished = subprocess.run(
            [opener, str(path)], stdin=subprocess.DEVNULL, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CacopError(
            f"cannot start {opener} to open {path}: {getattr(exc, 'strerror', None) or exc}",
            hint=f"open the file yourself: {path}",
        ) from exc
    if finished.returncode != 0:
        raise CacopError(
            f"{opener} could not open {path} (exit code {finished.returncode})",
            hint=f"open the file yourself: {path}",
        )


def register(app: typer.Typer) -> None:
    @app.command()
    def status(ctx: typer.Context, as_json: bool = JSON_OPTION, kb: str | None = KB_OPTION) -> None:
        """What is pending for you: unshared entries, submissions, RFIs to answer, answers."""
        from ..render import working as view
        from ..share.status import status as pending_status

        knowledge_base = open_kb(ctx, kb)
        tell_if_no_site(knowledge_base)
        view.status(pending_status(knowledge_base), as_json)

    @app.command()
    def edit(
        ctx: typer.Context,
        entry_id: str = typer.Argument(..., metavar="ID", help="The entry's id."),
        kb: str | None = KB_OPTION,
    ) -> None:
        """Open an entry in your editor, then check it and set its `updated` date."""
        from .. import editing
        from ..render import working as view
        from .core import open_editor

        knowledge_base = open_kb(ctx, kb)
        started = editing.start_edit(knowledge_base, entry_id)
        code = open_editor(started.path)
        if code is None:
            view.note(f"no $EDITOR is set: edit {started.path} yourself, then run `cacop validate`")
        elif code:  # as `new` does: the file is as the editor left it
            view.warn(f"the editor exited with code {code}; the entry is kept as it left it")
        result = editing.finish_edit(knowledge_base, started)
        view.edited(result)
        raise typer.Exit(result.exit_code)

    @app.command("open")
    def open_command(
        ctx: typer.Context,
        entry_id: str = typer.Argument(..., metavar="ID", help="The entry's id."),
        file: str | None = typer.Argument(
            None, metavar="[FILE]", help="The attachment (needed when there are several)."
        ),
        kb: str | None = KB_OPTION,
    ) -> None:
        """Open an entry's attachment with the system's opener."""
        from .. import editing
        from ..render import working as view

        target = editing.attachment_to_open(open_kb(ctx, kb), entry_id, file)
        launch(target)
        view.opened(target)
