"""The site's caches in `.cacop/` (the gate's findings, the rendered bodies, the search
index's parts): each sealed with this user's key by cacop_cli/sealed.py, so one that
arrived by pull or copy, or was edited, is a miss; and each stamped with what made it,
cacop's code included (`code_digest`), so a change to the code that scans, renders or
indexes cannot keep what the old code made, even without a new version number.

Layout of the payload under the seal: one line of JSON, {"stamp": …, "extra": …}, then
the value as JSON. The seal covers the text as it stands: checking it dumps nothing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

MAX_RECORD_BYTES = 1 << 30  # a larger file is not read: it was not written by a build


@cache
def code_digest() -> str:
    """The SHA-256 of cacop's version and code (every module and the site's assets): what
    turns entries into findings, pages and the search index."""
    from .. import __version__

    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(__version__.encode())
    files = [*package.rglob("*.py"), *(package / "site" / "assets").glob("*")]
    for path in sorted(files):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def read(path: Path, stamp: list) -> tuple[dict, Any]:
    """A record `write` wrote: ({} and None when it is missing, unreadable, for another
    stamp, or not sealed by this user)."""
    from ..sealed import opened

    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            return {}, None
        payload = opened(path, path.read_bytes())
        if payload is None:
            return {}, None
        head, _, text = payload.partition(b"\n")
        document = json.loads(head)
        if document["stamp"] != json.loads(json.dumps(stamp)):
            return {}, None
        extra = document.get("extra")
        return extra if isinstance(extra, dict) else {}, json.loads(text)
    except (OSError, ValueError, KeyError, TypeError):
        return {}, None


def write(path: Path, stamp: list, value: Any, extra: dict | None = None) -> None:
    """`value` under a line that holds the stamp and `extra`, sealed; nothing is written
    when there is no key to seal with, and a record that cannot be kept costs time only."""
    from ..entries import write_atomic
    from ..errors import CacopError
    from ..sealed import seal

    head = json.dumps({"stamp": stamp, "extra": extra}).encode()
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()
    sealed = seal(path, head + b"\n" + text)
    if sealed is None:
        return
    with contextlib.suppress(OSError, CacopError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, sealed.decode("ascii"))
