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


def open_kb_to_write(ctx: typer.Context, kb: str | Path | None) -> KB:
    """open_kb for a command that writes as this analyst (new, rfi open/respond/close,
    submit): first they say which site they are, when their clone does not know."""
    knowledge_base = open_kb(ctx, kb)
    ask_site(knowledge_base)
    return knowledge_base


def tell_if_no_site(knowledge_base: KB) -> None:
    """For `status` and `whoami`: say (on stderr) that the site shown is cacop.yaml's, the
    knowledge base's, until the analyst says theirs; the next write would ask."""
    from .. import people
    from ..render import warn

    if people.sites_to_choose(knowledge_base) is not None:
        warn(
            f"you have not said which site you are: {knowledge_base.site} is cacop.yaml's, the "
            "knowledge base's; run `cacop config site SLUG` (the next write asks)"
        )


def ask_site(knowledge_base: KB) -> None:
    """On a clone with no site of this analyst's own, ask on a terminal which site they are
    (until the answer is one of kb/sites.yaml's) and keep it as `cacop config site` does;
    without a terminal, refuse (exit 2) with the command that sets it."""
    import sys

    from .. import people
    from ..errors import UsageError
    from ..render import note

    sites = people.sites_to_choose(knowledge_base)
    if sites is None:
        return
    listed = ", ".join(sites) or "SLUG"
    if not sys.stdin.isatty():
        raise UsageError(
            f"which site are you? This clone has no site of your own, and cacop.yaml's "
            f"`site: {knowledge_base.site}` is the knowledge base's, not yours",
            hint=f"run `cacop config site SLUG` once in this clone (SLUG one of: {listed}), "
            "or set CACOP_SITE",
        )
    while True:
        answer = typer.prompt(f"Which site are you? [{listed}]", err=True, prompt_suffix=" ")
        try:
            chosen = people.site_answered(answer, sites)
        except UsageError as error:
            typer.echo(f"{error.message}; try again", err=True)
            continue
        break
    note(f"set {people.keep_site(knowledge_base, chosen)} (change it: `cacop config site SLUG`)")
    if not knowledge_base.analyst:  # one question: the name git gives is the default author
        from ..gitrepo import user_name

        name = user_name(knowledge_base.root)
        said = f"{name} (git config user.name)" if name else "none set"
        note(f'your name as author: {said}; `cacop config name "NAME"` changes it')


def tell_if_empty(knowledge_base: KB, lead: str | None = None) -> bool:
    """On a KB with no entries yet (right after `cacop init`), say so and how to add the
    first one (on stderr, so `--json` output is untouched); True if it was empty."""
    from ..entries import has_entries
    from ..render import empty_kb

    if has_entries(knowledge_base.root):
        return False
    empty_kb(*([lead] if lead else []))
    return True


# ---------------------------------------------------------------- checking options
# One helper per kind of value, used by every command: case-blind, spaces and underscores
# read as hyphens, an unknown value is exit 2 with the values it could be.


def normal(value: str) -> str:
    """What someone typed, as cacop spells values: 'Gun Violence' -> 'gun-violence'."""
    return "-".join(value.strip().lower().replace("_", " ").split())


def _one_of(option: str, value: str, allowed: tuple[str, ...], what: str) -> str:
    """Every option's check words its refusal alike: `--tlp: 'x' is not a TLP marking
    (one of: …)`, exit 2."""
    from ..errors import UsageError

    chosen = normal(value)
    if chosen not in allowed:
        named = f"{option}: " if option else ""  # a prompt's answer has no option to name
        raise UsageError(f"{named}{value.strip()!r} is not {what} (one of: {', '.join(allowed)})")
    return chosen


def check_type(value: str | None, option: str = "--type") -> str | None:
    from ..models import TYPES

    return None if value is None else _one_of(option, value, TYPES, "an entry type")


def check_topic(value: str | None, option: str = "--topic") -> str | None:
    from ..models import TOPICS

    return None if value is None else _one_of(option, value, TOPICS, "a topic")


def check_topics(values: list[str], option: str = "--topic") -> list[str]:
    return [check_topic(value, option) or "" for value in values]


def check_tlp(value: str | None, option: str = "--tlp") -> str | None:
    from ..models import TLP_ORDER

    if value is None:
        return None
    return _one_of(
        option, normal(value).replace("amber-strict", "amber+strict"), TLP_ORDER, "a TLP marking"
    )


def check_status(value: str | None, option: str = "--status") -> str | None:
    from ..models import RFI_STATUSES, STRATEGY_STATUSES

    allowed = tuple(dict.fromkeys(STRATEGY_STATUSES + RFI_STATUSES))
    return None if value is None else _one_of(option, value, allowed, "a status")


def check_date(value: str | None, option: str) -> str | None:
    """A real YYYY-MM-DD day (not 2024-13-01, not 2024-02-30), as its ISO string."""
    from ..errors import UsageError
    from ..models import iso_date

    if value is None:
        return None
    date = iso_date(value)
    if date is None:
        raise UsageError(f"{option}: {value!r} is not a date", hint="write dates as YYYY-MM-DD")
    return date.isoformat()


def check_sites(
    knowledge_base: KB, values: list[str], option: str = "--site", *, allow_all: bool = False
) -> list[str]:
    """Sites of kb/sites.yaml (case-blind); unknown ones are exit 2 with the known sites.
    A KB whose kb/sites.yaml lists none takes any slug."""
    from ..catalog import read_sites
    from ..errors import UsageError

    chosen = [normal(value) for value in values]
    if not chosen:
        return chosen
    known, _, _ = read_sites(knowledge_base)
    for given, site in zip(values, chosen, strict=True):
        if known and site not in known and not (allow_all and site == "all"):
            names = (["all"] if allow_all else []) + sorted(known)
            raise UsageError(
                f"{option}: {given!r} is not a site in kb/sites.yaml",
                hint="sites: " + ", ".join(names),
            )
    return chosen


def check_site(knowledge_base: KB, value: str | None, option: str = "--site") -> str | None:
    return None if value is None else check_sites(knowledge_base, [value], option)[0]


def topics_from(answer: str) -> list[str]:
    """The topics in a typed answer: 'gun violence' is one topic; 'robbery, gun violence'
    or 'robbery burglary' are two. UsageError when one is not a topic."""
    from ..models import TOPICS

    parts = [part for part in answer.split(",") if part.strip()]
    if len(parts) == 1 and normal(parts[0]) not in TOPICS:
        parts = parts[0].split()  # words of several topics, not one topic's words
    return check_topics(parts, "") if parts else []


def ask_topics() -> list[str]:
    """Ask for the topics until the answer names known ones (Ctrl-C or Ctrl-D gives up)."""
    from ..errors import UsageError
    from ..models import TOPICS

    while True:
        answer = typer.prompt(f"Topic ({', '.join(TOPICS)})", err=True)
        try:
            chosen = topics_from(answer)
        except UsageError as error:
            typer.echo(f"{error.message}; try again", err=True)
            continue
        if chosen:
            return chosen


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
