"""cacop: a command-line knowledge base for crime analysts."""

from __future__ import annotations

__version__ = "0.1.0"


def main() -> None:
    """Console-script entry point: Ctrl-C while cacop is still loading is exit 130 too."""
    import sys

    from . import scan

    scan.start_early(sys.argv[1:])  # on the second core, while the CLI loads
    try:
        from .cli import leave
        from .cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; nothing was changed\n")
        raise SystemExit(130) from None
    try:
        run()
    except SystemExit as leaving:  # Typer always leaves this way
        if isinstance(leaving.code, int | None):
            leave(leaving.code or 0)
        raise
