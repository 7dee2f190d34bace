"""cacop: a command-line knowledge base for crime analysts."""

from __future__ import annotations

__version__ = "0.1.0"

# Objects allocated (net) between two collections of Python's youngest generation; the
# default, 700, runs ~60 collections in a search here (~15 ms, all of it spent scanning
# modules and objects that live until the command ends) and none at this threshold.
# Longer commands are still collected, every 50,000 objects (as mypy raises it too).
GC_YOUNGEST = 50_000


def main() -> None:
    """Console-script entry point: Ctrl-C while cacop is still loading is exit 130 too."""
    import gc
    import sys

    gc.set_threshold(GC_YOUNGEST, *gc.get_threshold()[1:])
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
