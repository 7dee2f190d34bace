"""Output: Rich for people (stdout data, stderr talk), JSON for --json.

Everything that came from an entry passes through `clean()` before it is printed:
control characters go (keeping newline and tab), direction overrides are shown escaped,
and text is wrapped in `Text` so Rich markup stays literal.

Rich's colour and layout are for terminals only (`terminal()` decides as Rich does). A
stream that is a pipe or a file gets the same lines as plain text, without Rich's
wrapping or boxes, so `cacop show ID > entry.md` or `cacop search x | grep` get text
they can use, and Rich (~30 ms of imports) never loads.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from contextlib import suppress
from functools import cache
from typing import IO, TYPE_CHECKING, Any

from ..models import (  # FIRST's TLP 2.0 colours and words: data the site uses too
    TLP_BACKGROUND,
    TLP_COLOURS,
    TLP_MEANING,
    clean,  # entry text made safe for a terminal (in models: the index makes list lines)
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


def text(value: Any, style: str = "") -> Text:
    """A Rich Text of entry data: cleaned, and never parsed as markup."""
    from rich.text import Text

    return Text(clean(value), style=style)


@cache
def out() -> Console:
    """The console for data (stdout). A reader that goes away (`| head`) is not an error."""
    from rich.console import Console

    class _Stdout(Console):
        def on_broken_pipe(self) -> None:
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(0)

    # No file given: Rich writes to whatever sys.stdout is then (the pager's holder, too).
    return _Stdout(highlight=False, soft_wrap=False)


@cache
def err() -> Console:
    """The console for talk: progress, warnings and errors (stderr)."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True)  # one message, one line


def tolerate_narrow_encodings() -> None:
    """Let stdout print what its encoding cannot hold as '?' instead of failing the command.

    Python writes a pipe or file in the locale's encoding: cp1252 on Windows, ASCII where
    PYTHONIOENCODING says so. Entries are UTF-8 (an em dash in a title is enough), and a
    listing that stops half-way with UnicodeEncodeError helps nobody. UTF-8 streams are
    unaffected (cacop never prints the lone surrogates that 'strict' would refuse there).
    """
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and getattr(sys.stdout, "errors", None) == "strict":
        with suppress(ValueError, OSError):  # closed, or not reconfigurable after all
            reconfigure(errors="replace")


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout; non-ASCII escaped so no control byte gets out."""
    sys.stdout.write(json.dumps(document, ensure_ascii=True, indent=2, default=str) + "\n")
    sys.stdout.flush()


def terminal(stream: IO[str]) -> bool:
    """Is `stream` a terminal? Decided as Rich decides it: TTY_COMPATIBLE=0/1, then
    FORCE_COLOR (set and not empty), then the stream's own isatty()."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def plain_lines(lines: Iterable[str], stream: IO[str] | None = None, *, safe: bool = False) -> None:
    """Lines of text, cleaned (unless the caller made them `safe` with clean() already), on
    stdout (or `stream`): the view for pipes and files."""
    target = sys.stdout if stream is None else stream
    lines = list(lines)
    text = "".join(f"{line}\n" for line in lines)
    if not safe and clean(text) is not text:  # something to clean: line by line, as always
        text = "".join(clean(line) + "\n" for line in lines)  # (a line's own \r is its own)
    target.write(text)  # one search of the whole text, not one a line (50,000 at `list`)
    target.flush()


def packed(
    parts: Iterable[Text],
    width: int,
    indent: int = 0,
    separator: str = " · ",
    lead: str | Text = "",
) -> Text:
    """Parts joined by `separator` after `lead` (else `indent` spaces), broken onto lines
    indented by `indent` only between parts: facets or details that never break inside a
    word or an id."""
    from rich.text import Text

    if isinstance(lead, Text):
        result = lead.copy()
    else:
        result = Text(lead or " " * indent, style="dim" if lead else "")
    used, first = len(result.plain), True
    for part in parts:
        size = len(part.plain)
        if not first and used + len(separator) + size > width:
            result.append(separator.rstrip() + "\n" + " " * indent)
            used = indent
        elif not first:
            result.append(separator)
            used += len(separator)
        result.append_text(part)
        used += size
        first = False
    return result


def emit(message: Any, style: str = "") -> None:
    """One line of data on stdout, never wrapped: styled on a terminal, plain elsewhere."""
    if terminal(sys.stdout):
        out().print(text(message, style), soft_wrap=True)
    else:
        plain_lines([str(message)])


def emit_all(lines: Iterable[tuple[Any, str]]) -> None:
    """Lines of data (each with its style) on stdout, as emit() prints each, but in one
    write when stdout is not a terminal: a write and flush a line cost ~0.1 s at 10,000."""
    if terminal(sys.stdout):
        for message, style in lines:
            out().print(text(message, style), soft_wrap=True)
    else:
        plain_lines(str(message) for message, _ in lines)


def talk(message: Any, style: str = "") -> None:
    """One line of talk on stderr, never wrapped: styled on a terminal, plain elsewhere."""
    if sys.stderr is None:  # started with its descriptor closed: nobody to tell
        return
    if terminal(sys.stderr):
        err().print(text(message, style), soft_wrap=True)
    else:
        plain_lines([str(message)], sys.stderr)


def error(message: str, hint: str | None = None) -> None:
    talk(f"error: {message}", "bold red")
    if hint:
        talk(f"hint: {hint}", "yellow")


def warn(message: str) -> None:
    talk(f"warning: {message}", "yellow")


def note(message: str) -> None:
    talk(message, "dim")


FIRST_ENTRY = (
    "add the first with `cacop new strategy --title '…'` (or work-product, rfi), or run "
    "`cacop sync` to bring in what the community has shared"
)


def empty_kb(lead: str = "the knowledge base has no entries yet") -> None:
    """Say, on stderr, that the KB is empty and how to add its first entry."""
    talk(f"{lead}: {FIRST_ENTRY}", "bold")


# ---------------------------------------------------------------- TLP, as FIRST's TLP 2.0 shows it

SHOWN_WITH_BANNER = ("amber", "amber+strict", "red")  # `show` frames these entries


def tlp_colour(tlp: object) -> str:
    """FIRST's colour for a marking; an unknown marking is shown as RED (the strictest)."""
    return TLP_COLOURS.get(tlp if isinstance(tlp, str) else "", TLP_COLOURS["red"])


def tlp_text(tlp: object) -> Text:
    """'TLP:AMBER' in FIRST's colour on black, for a terminal."""
    from ..models import tlp_label

    return text(tlp_label(tlp), f"bold {tlp_colour(tlp)} on {TLP_BACKGROUND}")


def tlp_banner(tlp: object) -> str:
    """One line that says the marking and what it allows: 'TLP:RED — For the eyes …'."""
    from ..models import tlp_label

    meaning = TLP_MEANING.get(tlp if isinstance(tlp, str) else "", "Unknown marking.")
    return f"{tlp_label(tlp)} — {meaning}"


def emit_banner(tlp: object) -> None:
    """The banner on stdout: in FIRST's colours on a terminal, plain in a pipe."""
    if terminal(sys.stdout):
        line = tlp_text(tlp)
        line.append_text(text(tlp_banner(tlp)[len(line.plain) :], "bold"))
        out().print(line, soft_wrap=True)
    else:
        plain_lines([tlp_banner(tlp)])
