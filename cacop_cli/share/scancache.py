"""What the gate found in a file, kept by the file's content so that no file is scanned
twice: the entry gate and the commit gate of one `submit` read the same attachments, and a
second `sync` or `check-share` reads the same blobs again.

A result is keyed on the SHA-256 of the bytes and on everything else the findings depend on:
the file's name (it decides how the bytes are read), the line (`max_tlp`), the e-mail
allowlist, the day (ages of dates of birth), and the versions of the scan, of text
extraction, of cacop and of detect-secrets and phonenumbers. It lives in
`.cacop/scan/` (derived: deleting it is safe), as JSON, never pickle, sealed with the
user's key (`sealed`: a record a pulled commit planted is not ours); a file that cannot be
read, is not sealed by this user or does not hold what it should is a miss, and the file is
scanned again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .findings import Finding

SCAN_VERSION = 1  # bump when any check's findings for the same bytes change


@functools.cache
def _versions() -> str:
    from importlib import metadata

    from .. import __version__, textextract

    found = [f"scan{SCAN_VERSION}", f"extract{textextract.VERSION}", f"cacop{__version__}"]
    for name in ("detect-secrets", "phonenumbers"):
        try:
            found.append(f"{name}{metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}-")
    return " ".join(found)


def key(
    data: bytes, name: str, *, max_tlp: str, today: dt.date, email_allowlist: Iterable[str]
) -> str:
    """The cache key of one scan: the content's hash and every setting the findings hang on."""
    settings = json.dumps(
        [_versions(), name, max_tlp, today.isoformat(), sorted(map(str, email_allowlist))]
    )
    content = hashlib.sha256(data).hexdigest()
    return hashlib.sha256(f"{content}\0{settings}".encode()).hexdigest()


def folder(extract_cache: Path) -> Path:
    """`.cacop/scan/`, beside text extraction's own cache (`.cacop/extract/`)."""
    return Path(extract_cache).parent / "scan"


def load(place: Path, cache_key: str, path: str) -> list[Finding] | None:
    """The findings kept for this key, given this file's path; None on a miss (or damage)."""
    from ..sealed import opened

    target = place / f"{cache_key}.json"
    try:
        payload = opened(target, target.read_bytes())
        if payload is None:  # not sealed by this user: perhaps planted by a commit
            return None
        saved = json.loads(payload)
        if saved["key"] != cache_key:
            return None
        return [
            Finding(str(category), str(kind), path, int(line), str(message))
            for category, kind, line, message in saved["findings"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(place: Path, cache_key: str, findings: list[Finding]) -> None:
    """Keep the findings atomically; a cache that cannot be written is only a slower run."""
    saved = {
        "key": cache_key,
        "findings": [[f.category, f.kind, f.line, f.message] for f in findings],
    }
    from ..sealed import seal

    target = place / f"{cache_key}.json"
    sealed = seal(target, json.dumps(saved).encode())
    if sealed is None:
        return
    temporary = place / f".{cache_key}.{os.getpid()}.tmp"
    try:
        place.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(sealed)
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()


TEXTS_FILE = "texts.json"  # in the scan folder: findings in entry texts, by the text's hash


def scan_texts(
    place: Path | None,
    texts: list[tuple[str, str]],
    *,
    today: dt.date,
    email_allowlist: Iterable[str],
) -> dict[str, list[Finding]]:
    """gates.scan_many over (path, text) pairs, each text's findings kept by its SHA-256 in
    one sealed file of `place` (`.cacop/scan/texts.json`) with the settings they hang on:
    digest, gaps and experts judge every entry of a large KB each run, and only the texts
    changed since (or every text, on a new day or with new settings) are scanned again.
    Without `place`, a plain scan."""
    from . import gates

    allowlist = tuple(sorted(map(str, email_allowlist)))
    if place is None:
        return gates.scan_many(texts, today, allowlist)
    stamp = json.dumps([_versions(), today.isoformat(), allowlist])
    kept = _load_texts(place / TEXTS_FILE, stamp)
    digests = [
        hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() for _, text in texts
    ]
    missing = {
        digest: text for digest, (_, text) in zip(digests, texts, strict=True) if digest not in kept
    }
    if missing:
        fresh = gates.scan_many(list(missing.items()), today, allowlist)
        for digest in missing:
            kept[digest] = [[f.category, f.kind, f.line, f.message] for f in fresh.get(digest, [])]
    found = {}
    for digest, (path, _) in zip(digests, texts, strict=True):
        if kept[digest]:
            found[path] = [Finding(c, k, path, n, m) for c, k, n, m in kept[digest]]
    if missing or len(kept) != len(set(digests)):
        _store_texts(place / TEXTS_FILE, stamp, {digest: kept[digest] for digest in digests})
    return found


def _load_texts(target: Path, stamp: str) -> dict[str, list[list[Any]]]:
    from ..sealed import opened

    try:
        payload = opened(target, target.read_bytes())
        saved = json.loads(payload) if payload is not None else None
        if not isinstance(saved, dict) or saved.get("stamp") != stamp:
            return {}
        return {
            str(digest): [[str(c), str(k), int(n), str(m)] for c, k, n, m in findings]
            for digest, findings in saved["texts"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _store_texts(target: Path, stamp: str, texts: dict[str, list[list[Any]]]) -> None:
    from ..sealed import seal

    sealed = seal(target, json.dumps({"stamp": stamp, "texts": texts}).encode())
    if sealed is None:
        return
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(sealed)
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
