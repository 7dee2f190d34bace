"""`cacop site serve`: a preview of a built site on 127.0.0.1 only, with Python's own
http.server (never exposed to the network: the address is fixed, not an option)."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import UsageError

HOST = "127.0.0.1"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        """The preview does not log each request to stderr."""


def server(folder: Path, port: int) -> ThreadingHTTPServer:
    """A server for `folder` on 127.0.0.1:`port` (0: any free port); not yet serving."""
    if not (folder / "index.html").is_file():
        raise UsageError(
            f"{folder} holds no site (no index.html)", hint="run `cacop site build OUT` first"
        )
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port number (0-65535)")
    handler = functools.partial(_Quiet, directory=str(folder))
    try:
        return ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {HOST}:{port}: {exc.strerror or exc}",
            hint="choose another --port (0 picks a free one)",
        ) from exc
