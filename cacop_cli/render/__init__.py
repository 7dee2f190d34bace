"""Output: Rich for people (stdout data, stderr talk), JSON for --json.

Everything that came from an entry passes through `clean()` before Rich sees
it: control characters go (keeping newline and tab), direction overrides are
shown escaped, and text is wrapped in `Text` so Rich markup stays literal.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def clean(value: Any) -> str:
    """Entry text made safe for a terminal: no control characters, visible bidi marks."""
    text = value if isinstance(value, str) else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    return _BIDI.sub(lambda match: f"<U+{ord(match.group()):04X}>", text)


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

    return _Stdout(file=sys.stdout, highlight=False, soft_wrap=False)


@cache
def err() -> Console:
    """The console for talk: progress, warnings and errors (stderr)."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True)  # one message, one line


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout; non-ASCII escaped so no control byte gets out."""
    sys.stdout.write(json.dumps(document, ensure_ascii=True, indent=2, default=str) + "\n")
    sys.stdout.flush()


def error(message: str, hint: str | None = None) -> None:
    console = err()
    console.print(text(f"error: {message}", "bold red"), soft_wrap=True)
    if hint:
        console.print(text(f"hint: {hint}", "yellow"), soft_wrap=True)


def warn(message: str) -> None:
    err().print(text(f"warning: {message}", "yellow"), soft_wrap=True)


def note(message: str) -> None:
    err().print(text(message, "dim"))
