"""The command line: parse, call one core function, render. The one error boundary.

Commands live in `cacop_cli/commands/`, one module per area, each with a
`register(app)`; this module builds the app and turns every error into one
line, a hint and its exit code (docs/format.md, "Exit codes").
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from .errors import CacopError, ExitCode


@dataclass
class State:
    kb: str | None = None
    debug: bool = False
    no_pager: bool = False


def _debug_requested(ctx: typer.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or "--debug" in sys.argv


@contextlib.contextmanager
def _progress_bar() -> Iterator[None]:
    """Give work deep below the command (the first index build a read command starts) a
    progress bar on a terminal; Rich loads only if that work is long (render.search)."""
    from . import progress

    held: dict[str, Any] = {}

    def advance(done: int, total: int, what: str = "indexing entries") -> None:
        if held.get("what") not in (None, what):  # other work: a bar of its own
            held.pop("bar").__exit__(None, None, None)
            held.pop("what")
        if "bar" not in held:
            from .render.search import progress as bar

            held["bar"], held["what"] = bar(what), what
            held["advance"] = held["bar"].__enter__()
        held["advance"](done, total)
        if done >= total:  # done: the bar goes, and its drawing thread with it (a thread
            held.pop("bar").__exit__(None, None, None)  # running forbids a fork after)
            held.pop("what")

    token = progress.current.set(advance)
    try:
        yield
    finally:
        progress.current.reset(token)
        if "bar" in held:
            held["bar"].__exit__(None, None, None)


class CacopGroup(TyperGroup):
    """Runs commands inside the error boundary (works under CliRunner too)."""

    def invoke(self, ctx: typer.Context) -> Any:
        from . import render

        if sys.stdout is None:  # started with its descriptor closed (`cacop list >&-`)
            render.error(
                "standard output is closed, so there is nowhere to print; nothing was done",
                "send the output to a terminal, a file or a pipe (`> /dev/null` to drop it)",
            )
            ctx.exit(int(ExitCode.PROBLEMS))
        render.tolerate_narrow_encodings()
        from .render.pager import paging, wanted

        words = tuple(getattr(ctx, "_protected_args", None) or ctx.protected_args) + tuple(ctx.args)
        try:
            with paging(wanted(words[:2], bool(ctx.params.get("no_pager")))), _progress_bar():
                return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except CacopError as error:
            if _debug_requested(ctx):
                raise
            render.error(error.message, error.hint)
            ctx.exit(int(error.exit_code))
        except BrokenPipeError:  # `cacop list | head`: the reader left; that is not an error
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(int(ExitCode.OK))
        except KeyboardInterrupt:
            render.error("interrupted; nothing half-written was left behind")
            ctx.exit(int(ExitCode.INTERRUPTED))
        except Exception as error:  # the boundary: a bug, not a user error
            if _debug_requested(ctx):
                raise
            render.error(
                f"unexpected error: {type(error).__name__}: {error}",
                "rerun with --debug for the details, and report it to the cacop maintainers",
            )
            ctx.exit(int(ExitCode.PROBLEMS))


_app = typer.Typer(
    cls=CacopGroup,
    name="cacop",
    help="The PSP Crime Analysis Community of Practice knowledge base: share strategies, "
    "work products and requests for information between sites.",
    no_args_is_help=True,
    add_completion=True,  # only for the root alone (see for_command): no cost to commands
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from .version import version_line

        print(version_line())
        raise typer.Exit()


@_app.callback()
def root(
    ctx: typer.Context,
    kb: str | None = typer.Option(
        None, "--kb", metavar="PATH", help="The knowledge base (else CACOP_KB, else walk up)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for unexpected errors."),
    no_pager: bool = typer.Option(
        False, "--no-pager", help="Never page long output (else CACOP_PAGER, PAGER, less -FRX)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    ctx.obj = State(kb=kb, debug=debug, no_pager=no_pager)


# Which module of commands/ registers each command word: `cacop WORD` imports that module
# alone (each costs 1-3 ms to load; tests/test_architecture.py holds this table equal to what
# the modules register). The order is the order of `cacop --help`.
COMMAND_MODULES = {
    "core": ("init", "new", "validate", "show", "list"),
    "working": ("status", "edit", "open"),
    "search": ("search", "index", "similar"),
    "share": ("submit", "sync", "check-share", "hooks", "bundle"),
    "rfi": ("gaps", "experts", "digest", "rfi"),
    "release": ("upgrade",),
    "settings": ("config", "whoami"),
    "site": ("site",),
}
_registered: list[str] = []


def _register(*modules: str) -> None:
    """Register the commands of these modules of commands/ (each once), in table order."""
    import importlib

    for module in COMMAND_MODULES:
        if module in modules and module not in _registered:
            importlib.import_module(f".commands.{module}", __package__).register(_app)
            _registered.append(module)


def __getattr__(name: str) -> Any:
    """`cli.app`: the whole app, every command registered (tests and tools import it)."""
    if name == "app":
        _register(*COMMAND_MODULES)
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_name(info: Any) -> str:
    """A registered command's name on the command line, spelled as Typer spells it."""
    return info.name or info.callback.__name__.lower().replace("_", "-")


def _group_name(info: Any) -> str | None:
    """A registered group's name: given to add_typer, else its own Typer's (None if neither)."""
    for name in (info.name, info.typer_instance.info.name if info.typer_instance else None):
        if isinstance(name, str):
            return name
    return None


def for_command(args: list[str]) -> typer.Typer:
    """The app with only the command that `cacop ARGS` runs, or the whole app; with
    Typer's Rich help and error boxes only when standard output and error are terminals.

    Shell completion (`--install-completion`, `--show-completion`, and the shell asking
    with `_CACOP_COMPLETE` set) is added only to the root alone, so a command that runs
    pays nothing for it.

    Typer turns every registered function into a Click command on each run (inspecting
    signatures: ~13 ms for all of them, ~2 ms for one). Only the named command can run, so
    only it is built, and `cacop --version` alone needs none. Without a known command word
    (`--help`, a typo that Typer answers with "did you mean"), every command is built.

    In a pipe or a file, help and usage errors are Click's plain text, as all our other
    output is there; Typer's Rich help loads Rich's Markdown and traceback modules
    (~60-100 ms here).
    """
    import copy
    import os

    from .scan import command_word

    word = command_word(args)
    just_version = word is None and "--version" in args and not {"-h", "--help"} & set(args)
    owner = [module for module, words in COMMAND_MODULES.items() if word in words]
    if not just_version:  # a known word loads its module alone; anything else, all of them
        _register(*(owner or COMMAND_MODULES))
    commands = [info for info in _app.registered_commands if _command_name(info) == word]
    groups = [info for info in _app.registered_groups if _group_name(info) == word]
    only = copy.copy(_app)
    if commands or groups or just_version:
        only.registered_commands, only.registered_groups = commands, groups
    completing = "_CACOP_COMPLETE" in os.environ
    if (commands or groups or just_version) and not completing:
        only._add_completion = False  # --install-completion belongs to `cacop` alone
    if not just_version:  # the version alone prints no help: no need to load render
        from .render import terminal

        if not (terminal(sys.stdout) and terminal(sys.stderr)):
            only.rich_markup_mode = None
    return only


def main() -> None:
    """Console-script entry point."""
    try:
        for_command(sys.argv[1:])(prog_name="cacop")
    except KeyboardInterrupt:  # pragma: no cover - before the group could catch it
        sys.exit(int(ExitCode.INTERRUPTED))


def leave(code: int) -> None:
    """Exit with `code` once the output is written, without the interpreter's teardown
    (the console entry point calls this with the code that Typer exits with).

    Python's exit frees every module and object one by one: 15-45 ms here once Typer and
    Whoosh are loaded, more than some commands' own work, for memory the system takes back
    at once. Everything cacop writes is closed before its command returns, so only the
    standard streams are flushed here. If anything else wants the normal exit (an atexit
    handler, say GitPython's logging, or a thread still running), it gets it.
    """
    import atexit
    import os
    import threading

    callbacks = getattr(atexit, "_ncallbacks", lambda: 1)()  # CPython's count; else assume some
    if callbacks or threading.active_count() > 1:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with that descriptor closed
            continue
        try:
            stream.flush()
        except BrokenPipeError:  # `cacop … | head`: the reader left; that is not an error
            pass
        except (OSError, ValueError):  # closed, or a full disk: let Python report it
            sys.exit(code)
    os._exit(code)
