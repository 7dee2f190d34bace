"""Sharing commands: submit, sync, check-share, hooks install, bundle create|apply."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..errors import UsageError
from ..models import TLP_ORDER, TOPICS, EntryDraft
from . import (
    JSON_OPTION,
    KB_OPTION,
    check_tlp,
    check_topics,
    complete_ids_or_paths,
    complete_tlps,
    complete_topics,
    naming_flags,
    normal,
    open_kb,
    open_kb_to_write,
)

if TYPE_CHECKING:
    from ..config import KB

bundle_app = typer.Typer(
    name="bundle",
    help="Exchange work as a file, for sites whose network cannot reach the shared repository.",
    no_args_is_help=True,
)
UNSCANNED_OPTION = typer.Option(
    None,
    "--allow-unscanned",
    metavar="REASON",
    help="Send files cacop cannot read (images, archives) after checking them yourself.",
)
hooks_app = typer.Typer(
    name="hooks",
    help="Git hooks that guard plain `git push` with the sharing gate.",
    no_args_is_help=True,
)


def _similar_check(knowledge_base: KB, title: str | None, items: list[str], yes: bool) -> Any:
    """What submit does with the most similar entries, before it commits: shows them, and on
    a terminal, when one looks like a duplicate, asks whether to go on (--yes does not ask)."""
    import sys

    from .. import ops
    from ..errors import CacopError, Refused
    from ..render import share as view

    if title is None and len(items) == 1:
        try:
            title = ops.read_by_id(knowledge_base, ops.resolve_id(knowledge_base, items[0])).title
        except CacopError:
            title = None  # a branch made earlier, or a file the gate will judge

    def on_similar(hits: list) -> None:
        view.similar(hits)
        twins = ops.likely_duplicates(title, hits) if title else []
        if not twins or yes or not (sys.stdin.isatty() and sys.stderr.isatty()):
            return
        if not typer.confirm(f"{twins[0].id} looks like the same entry; share anyway?", err=True):
            raise Refused(
                "nothing was shared: it looks like a duplicate",
                hint=f"see `cacop show {twins[0].id}`; add --yes to share it anyway",
            )

    return on_similar


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app."""

    @app.command()
    def submit(
        ctx: typer.Context,
        items: list[str] = typer.Argument(
            ...,
            metavar="FILE… | ID",
            help="Files to share as a new work product, or an entry id.",
            autocompletion=complete_ids_or_paths,
        ),
        title: str | None = typer.Option(None, "--title", help="Title of the new work product."),
        topic: list[str] = typer.Option(
            [], "--topic", help=f"One of: {', '.join(TOPICS)}.", autocompletion=complete_topics
        ),
        product_type: str = typer.Option(
            "other", "--product-type", help="bulletin, problem-profile, map, template, sop, …"
        ),
        tlp: str | None = typer.Option(
            None,
            "--tlp",
            help=f"One of: {', '.join(TLP_ORDER)} (default green).",
            autocompletion=complete_tlps,
        ),
        summary: str | None = typer.Option(None, "--summary", help="One or two sentences."),
        tag: list[str] = typer.Option([], "--tag", help="A tag (lowercase slug); repeatable."),
        author: list[str] = typer.Option([], "--author", help="Author name (default: git's)."),
        no_push: bool = typer.Option(False, "--no-push", help="Make the branch; do not push it."),
        open_pr: bool = typer.Option(
            False, "--open-pr", help="Open the PR with `gh`, if installed."
        ),
        allow_personal_data: str | None = typer.Option(
            None,
            "--allow-personal-data",
            metavar="REASON",
            help="Share despite personal data; the reason is recorded in the entry.",
        ),
        allow_unscanned: str | None = typer.Option(
            None,
            "--allow-unscanned",
            metavar="REASON",
            help="Share attachments cacop cannot read; the reason is recorded in the entry.",
        ),
        yes: bool = typer.Option(
            False, "--yes", "-y", help="Do not ask when a similar entry looks like a duplicate."
        ),
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """Share files as a new work product, or an existing entry, on a branch for review."""
        from .. import share
        from ..render import share as view

        knowledge_base = open_kb_to_write(ctx, kb)
        sending = share.Sending(
            push=not no_push,
            open_pr=open_pr,
            allow_personal_data=allow_personal_data,
            allow_unscanned=allow_unscanned,
            on_similar=_similar_check(knowledge_base, title, items, yes),
        )
        if title is None:
            entry_id = items[0] if len(items) == 1 else None
            if entry_id is not None and Path(entry_id).is_file():  # an entry's own file
                from .. import ops

                entry_id = ops.entry_id_at(knowledge_base, Path(entry_id))
            if entry_id is None:
                raise UsageError(
                    "to share files, give --title and --topic; to share an entry, give its id "
                    "or its file"
                )
            with naming_flags():
                result = share.submit_entry(knowledge_base, entry_id, sending)
        else:
            draft = EntryDraft(
                "work-product", title, check_topics(topic), tags=tag, tlp=check_tlp(tlp),
                authors=author, product_type=normal(product_type), summary=summary,
            )  # fmt: skip
            with naming_flags():
                result = share.submit_files(
                    knowledge_base, [Path(item) for item in items], draft, sending
                )
        view.submitted(result, knowledge_base.branch, as_json)

    @app.command()
    def sync(
        ctx: typer.Context,
        no_push: bool = typer.Option(False, "--no-push", help="Only bring work in."),
        allow_unscanned: str | None = UNSCANNED_OPTION,
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """Bring in what other sites shared and send out this clone's commits."""
        from ..render import share as view
        from ..share.sync import sync as bring_in

        knowledge_base = open_kb(ctx, kb)
        result = bring_in(knowledge_base, push=not no_push, allow_unscanned=allow_unscanned)
        view.synced(result, knowledge_base.site, as_json)
        raise typer.Exit(result.exit_code)

    @app.command("check-share")
    def check_share(
        ctx: typer.Context,
        revisions: str | None = typer.Argument(
            None,
            metavar="[RANGE]",
            help="Commits to check, e.g. origin/main..HEAD (default: what the shared branch "
            "lacks; all of HEAD when there is none).",
        ),
        stdin_pre_push: bool = typer.Option(
            False, "--stdin-pre-push", help="Read the lines git gives a pre-push hook."
        ),
        allow_unscanned: str | None = UNSCANNED_OPTION,
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """Check commits with the sharing gate (TLP, personal data, secrets); exit 1 on any."""
        import sys

        from .. import share
        from ..render import share as view

        knowledge_base = open_kb(ctx, kb)
        if stdin_pre_push:
            if revisions is not None:
                raise UsageError("give a RANGE or --stdin-pre-push, not both")
            result = share.check_pre_push(
                knowledge_base, sys.stdin.read(), allow_unscanned=allow_unscanned
            )
        else:
            result = share.check_range(knowledge_base, revisions, allow_unscanned=allow_unscanned)
        view.share_checked(result, as_json)
        raise typer.Exit(result.exit_code)

    @hooks_app.command("install")
    def hooks_install(
        ctx: typer.Context,
        force: bool = typer.Option(
            False, "--force", help="Move a pre-push hook of your own to pre-push.local first."
        ),
        kb: str | None = KB_OPTION,
    ) -> None:
        """Install the pre-push hook that runs `cacop check-share` on every `git push`."""
        from .. import share
        from ..render import share as view

        view.hook_installed(share.install_hook(open_kb(ctx, kb).root, force=force))

    app.add_typer(hooks_app)

    @bundle_app.command("create")
    def bundle_create(
        ctx: typer.Context,
        file: Path = typer.Argument(..., metavar="FILE", help="The bundle file to write."),
        since: str | None = typer.Option(
            None, "--since", metavar="REF", help="Only commits after this one (the last bundle)."
        ),
        allow_unscanned: str | None = UNSCANNED_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """Write this branch's commits to a file, with the same gates as a push."""
        from .. import share
        from ..render import share as view

        made = share.bundle_create(open_kb(ctx, kb), file, since, allow_unscanned=allow_unscanned)
        view.bundle_created(made)

    @bundle_app.command("apply")
    def bundle_apply(
        ctx: typer.Context,
        file: Path = typer.Argument(..., metavar="FILE", help="A bundle from another site."),
        as_json: bool = JSON_OPTION,
        kb: str | None = KB_OPTION,
    ) -> None:
        """Bring in a bundle from another site, after validating what it holds."""
        from .. import share
        from ..render import share as view

        knowledge_base = open_kb(ctx, kb)
        view.bundle_applied(share.bundle_apply(knowledge_base, file), knowledge_base.site, as_json)

    app.add_typer(bundle_app)
