"""Cache files that prove this user wrote them.

Caches under `.cacop/` are derived, but some answer questions the sharing gate asks ("what
does this file say", "what did the scan find in it"). A commit can carry files into
`.cacop/` (git add -f), and a pull then writes them into the clone: a planted "nothing found"
would let personal data past the gate. So those caches are sealed with an HMAC under the
user's own key (the one that signs the index record, kept outside every KB), bound to the
cache file's name; a file whose seal does not match is a miss, and the work is done again.

Layout of a sealed file: 64 hex characters of HMAC-SHA256, a newline, then the payload.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

_MAC_CHARS = 64


def _mac(name: str, payload: bytes) -> bytes | None:
    from .errors import CacopError
    from .index.record import user_key

    try:
        key = user_key()
    except CacopError:  # no state folder to keep a key in: nothing can be trusted or kept
        return None
    return hmac.new(key, name.encode() + b"\0" + payload, hashlib.sha256).hexdigest().encode()


def seal(path: Path, payload: bytes) -> bytes | None:
    """The bytes to write at `path` for `payload`; None when there is no key to seal with."""
    mac = _mac(Path(path).name, payload)
    return None if mac is None else mac + b"\n" + payload


def opened(path: Path, sealed: bytes) -> bytes | None:
    """The payload of a sealed file read from `path`, or None if its seal is not ours."""
    mac, newline, payload = sealed[:_MAC_CHARS], sealed[_MAC_CHARS : _MAC_CHARS + 1], sealed[65:]
    if newline != b"\n":
        return None
    expected = _mac(Path(path).name, payload)
    return payload if expected is not None and hmac.compare_digest(mac, expected) else None
