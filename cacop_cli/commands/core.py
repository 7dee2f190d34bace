"""Core commands: init, new, validate, show, list."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import typer

from ..errors import UsageError
from ..models import TLP_ORDER, TOPICS, EntryDraft
from . import (
    JSON_OPTION,
    KB_OPTION,
    ask_site,
    ask_topics,
    check_site,
    check_tlp,
    check_topic,
    check_topics,
    check_type,
    complete_ids,
    complete_new_types,
    complete_sites,
    complete_tlps,
    complete_topics,
    complete_types,
    naming_flags,
    normal,
    open_kb,
    tell_if_empty,
)


def editor_command() -> str | None:
    """$VISUAL, else $EDITOR, else, on a terminal, the system's last resort as git has it
    (`notepad` on Windows, `vi` elsewhere) when it is installed; None otherwise."""
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if command:
        return command
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None
    fallback = "notepad" if os.name == "nt" else "vi"
    return fallback if shutil.which(fallback) else None


def open_editor(path: Path) -> int | None:
    """Open the editor on a file and return its exit code; None when there is none."""
    from ..gitrepo import sigint_deferred

    command = editor_command()
    if not command:
        return None
    editor: subprocess.Popen | None = None
    try:
        with sigint_deferred():  # a Ctrl-C raised inside Popen would leave the editor running
            try:
                editor = subprocess.Popen([*shlex.split(command), str(path)])
            except (OSError, ValueError) as exc:  # not found, not executable; unbalanced quotes
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                raise UsageError(
                    f"cannot start the editor {command!r}: {reason}",
                    hint=f"the entry was written to {path}: edit it yourself, then run `cacop "
                    "validate`; or set EDITOR to an editor that exists",
                ) from exc
        return editor.wait()
    except BaseException:
        if editor is not None:  # Ctrl-C: at a terminal the editor had it too; else it stops
            with contextlib.suppress(subprocess.TimeoutExpired):
                editor.wait(0.25)
            editor.kill()
            editor.wait()
        raise


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        path: Path = typer.Argument(..., metavar="PATH", help="Folder for the new knowledge base."),
        site: str = typer.Option(..., "--site", help="This clone's site slug, e.g. memphis."),
        name: str | None = typer.Option(None, "--name", help="The KB's name."),
        agency: str | None = typer.Option(None, "--agency", help="The site's agency."),
        state: str = typer.Option("XX", "--state", help="The site's two-letter state code."),
        cacop_spec: str | None = typer.Option(
            None,
            "--cacop-spec",
            envvar="CACOP_SPEC",
            metavar="SPEC",
            help="The exact cacop the KB's CI jobs install, e.g. 'cacop @ git+https://HOST/"
            "cacop.git@v1.0.0' (default: where this cacop was installed from).",
        ),
    ) -> None:
        """Create a new knowledge base repository (git, settings, schemas, CI checks)."""
        from .. import ops
        from ..render import core as view

        created = ops.init_kb(
            path, site, name=name, agency=agency, state=state.upper(), cacop_spec=cacop_spec
        )
        view.initialised(created)

    @app.command()
    def new(
        ctx: typer.Context,
        entry_type: str = typer.Argument(
            ...,
            metavar="TYPE",
            help="strategy, work-product or rfi.",
            autocompletion=complete_new_types,
        ),
        title: str = typer.Option(..., "--title", help="The entry's title."),
        topic: list[str] = typer.Option(
            [], "--topic", help=f"One of: {', '.join(TOPICS)}.", autocompletion=complete_topics
        ),
        tag: list[str] = typer.Option([], "--tag", help="A tag (lowercase slug); repeatable."),
        tlp: str = typer.Option(
            "green", "--tlp", help=f"One of: {', '.join(TLP_ORDER)}.", autocompletion=complete_tlps
        ),
        author: list[str] = typer.Option([], "--author", help="Author name (default: git's)."),
        no_edit: bool = typer.Option(False, "--no-edit", help="Do not open $EDITOR."),
        kb: str | None = KB_OPTION,
    ) -> None:
        """Create an entry from its type's template and open it in your editor."""
        from .. import ops
        from ..render import core as view

        knowledge_base = open_kb(ctx, kb)
        topic, tlp = check_topics(topic), check_tlp(tlp) or "green"
        ask_site(knowledge_base)
        if not topic and sys.stdin.isatty():
            topic = ask_topics()
        draft = EntryDraft(normal(entry_type), title, topic, tags=tag, tlp=tlp, authors=author)
        with naming_flags():
            created = ops.new_entry(knowledge_base, draft)
        edited = None if no_edit else open_editor(created.path)
        if not no_edit and edited is None:
            view.note("no $EDITOR is set: edit the file yourself, then run `cacop validate`")
        elif edited:  # git would give up here; the entry is on disk, so keep it and say so
            view.warn(f"the editor exited with code {edited}; the entry is kept as it left it")
        issues = ops.check_entry(knowledge_base, created.path)
        if edited is None:  # nobody has written the sections yet: their prompts are expected
            issues = [issue for issue in issues if issue.code != "template-prompt"]
        created = replace(created, issues=issues)
        view.created(created, written=edited is not None)
        raise typer.Exit(created.exit_code)

    @app.command()
    def validate(
        ctx: typer.Context,
        paths: list[Path] = typer.Argument(
            None, metavar="[PATH]...", help="Entries or folders (default: all)."
        ),
        changed_since: str | None = typer.Option(
            None, "--changed-since", metavar="REF", help="Only entries changed since a git ref."
        ),
        no_cache: bool = typer.Option(
            False,
            "--no-cache",
            help="Check every file afresh: read and write no kept findings in .cacop/.",
        ),
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """Check entries against the schemas and the KB's rules; exit 1 on any error."""
        from .. import ops
        from ..render import core as view

        knowledge_base = open_kb(ctx, kb)
        report = ops.validate(knowledge_base, paths or [], changed_since, cache=not no_cache)
        view.validation(report, as_json)
        if not report.checked and not paths and not changed_since:
            tell_if_empty(knowledge_base)
        raise typer.Exit(report.exit_code)

    @app.command()
    def show(
        ctx: typer.Context,
        entry_id: str = typer.Argument(
            ...,
            metavar="ID",
            help="The entry's id, a unique start of it, or its title.",
            autocompletion=complete_ids,
        ),
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """Show one entry, with an RFI's responses and the related entries."""
        from .. import ops
        from ..render import core as view

        view.entry(ops.show(open_kb(ctx, kb), entry_id), as_json)

    @app.command("list")
    def list_command(
        ctx: typer.Context,
        entry_type: str | None = typer.Option(
            None, "--type", help="Only this type.", autocompletion=complete_types
        ),
        site: str | None = typer.Option(
            None, "--site", help="Only this site.", autocompletion=complete_sites
        ),
        topic: str | None = typer.Option(
            None, "--topic", help="Only this topic.", autocompletion=complete_topics
        ),
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """List entries, newest first."""
        from .. import ops
        from ..render import core as view

        knowledge_base = open_kb(ctx, kb)
        listed = ops.list_entries(
            knowledge_base,
            entry_type=check_type(entry_type),
            site=check_site(knowledge_base, site),
            topic=check_topic(topic),
        )
        view.entry_list(listed, as_json)
        if not listed.chosen:
            tell_if_empty(knowledge_base)
