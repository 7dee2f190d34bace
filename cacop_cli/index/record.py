"""The signed record: which generation of the index is live, and proof this clone wrote it.

Whoosh's table of contents and stored fields are pickles, so the record is signed
with a key kept outside the KB and names every index file's inode, size and
modification time, and the SHA-256 of each table of contents' bytes (a TOC can be
overwritten in place with its mtime restored; it is the pickle that would run): an
index that arrived by copy or pull, or was changed, is never opened (see the
package's docstring). Hashing the TOCs costs little: each is a few KB.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import marshal
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import CacopError
from .analysis import FORMAT, schema_digest

STATE_DIR = ".cacop"
RECORD = "record.json"
MAX_RECORD_BYTES = 16 * 1_048_576
RECORD_FORMAT = 2  # 2: TOC files' SHA-256 in the record; records of format 1 are rebuilt
TOC_SUFFIX = ".toc"
# The catalog kept with the index (cards.py): marshal data, so the record holds its SHA-256
# too. Checked by the reader that decodes it, over the bytes it decodes, not by
# read_record: a search, which never reads them, does not pay for hashing 66 MB. The
# bodies are kept in shards (BODIES_PREFIX<count>-<shard>.marshal), each hashed alike.
LOADED_HASHED = ("catalog.marshal", "catalog-full.marshal", "listing.marshal", "others.marshal")
BODIES_PREFIX = "bodies-"


def hashed_by_reader(name: str) -> bool:
    """Is `name` a catalog file, whose SHA-256 its reader checks (not read_record)?"""
    return name in LOADED_HASHED or (name.startswith(BODIES_PREFIX) and name.endswith(".marshal"))


def scan_digest(scan: dict[str, list[int]]) -> str:
    """A fingerprint of a scan, for the record (marshal: 5x cheaper than formatting lines)."""
    listed = [(path, *stats) for path, stats in sorted(scan.items())]
    return hashlib.sha256(marshal.dumps(listed)).hexdigest()


def _key_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cacop" / "index.key"


_KEYS: dict[Path, bytes] = {}  # read once per process: a site build opens ~2,500 sealed files


def _key() -> bytes:
    """This user's secret for signing index records; made on first use, kept outside any KB."""
    path = _key_path()
    if path not in _KEYS:
        _KEYS[path] = _read_or_make_key(path)
    return _KEYS[path]


def _read_or_make_key(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text("ascii").strip())
    except (FileNotFoundError, ValueError):
        pass
    except OSError as exc:
        raise CacopError(
            f"cannot read the search index key {path}: {exc.strerror}",
            hint="set XDG_STATE_HOME to a folder you can write to",
        ) from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # first writer wins; never replace a key in use
        temporary.unlink(missing_ok=True)
        return bytes.fromhex(path.read_text("ascii").strip())
    except (OSError, ValueError) as exc:
        raise CacopError(
            f"cannot keep the search index key in {path}: {exc}",
            hint="set XDG_STATE_HOME to a folder you can write to",
        ) from exc


def user_key() -> bytes:
    """The same secret, for another private cache that must prove this user wrote it (the
    site's gate results: a forged "nothing found" would publish personal data)."""
    return _key()


def _sign(document: dict[str, Any]) -> str:
    payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_key(), payload, hashlib.sha256).hexdigest()


@dataclass
class Record:
    """What the live index is, and what it was built from."""

    generation: str  # folder name, gen-<hex>
    toc: int  # Whoosh generation of the table of contents
    files: dict[str, list[Any]]  # file name -> [inode, size, mtime_ns] (+ sha256 for a TOC)
    digest: str  # scan_digest of the entry files it holds
    count: int
    broken: dict[str, str] = field(default_factory=dict)  # path -> "line: message"

    @property
    def version(self) -> tuple[str, int]:
        """Which index this is: a rebuild makes a new generation, an update a new toc."""
        return (self.generation, self.toc)


class Changed(ValueError):
    """A catalog file is not the one the record names: it is never decoded; the index is
    rebuilt."""


class Untrusted(Exception):
    """The index on disk may not be opened; `reason` says why, for the notice."""

    def __init__(self, reason: str, first_use: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.first_use = first_use


_GENERATION = re.compile(r"gen-[0-9a-f]{16}")


def file_stats(
    folder: Path, written: dict[str, str] | None = None, earlier: dict[str, list[Any]] | None = None
) -> dict[str, list[Any]]:
    """What the record says of each file in `folder`. A catalog file's SHA-256 is not read
    again from disk when known: `written` holds those of the files just written (their
    bytes' hash), `earlier` the last record's files, whose hash stands for a file with the
    same inode, size and mtime (the reader checks it over the bytes it decodes anyway).
    An update then hashes what it wrote, not the 66 MB of bodies it left alone."""
    written = written or {}
    earlier = earlier or {}
    stats = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith("_LOCK") or name.endswith("WRITELOCK"):
            continue
        if not hashed_by_reader(name):
            stats[name] = _stat_list(folder / name)
            continue
        stats[name] = _stat_list(folder / name, hashed=False)
        held = earlier.get(name)
        if name in written:
            stats[name].append(written[name])
        elif held is not None and len(held) > 3 and held[:3] == stats[name]:
            stats[name].append(held[3])
        else:
            stats[name] = _stat_list(folder / name)
    return stats


def _identity(root: Path) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "record": RECORD_FORMAT,
        "cacop": __version__,
        "root": str(root),
        "schema": schema_digest(),
    }


def read_record(root: Path) -> Record:
    """The verified record of the live index, or Untrusted with the reason."""
    state = root / STATE_DIR
    try:
        info = os.lstat(state / RECORD)
        if info.st_mode & 0o170000 != 0o100000 or info.st_size > MAX_RECORD_BYTES:
            raise Untrusted("its record is not a plain file")
        document = json.loads((state / RECORD).read_bytes())
    except FileNotFoundError as exc:
        raise Untrusted("there is no search index yet", first_use=True) from exc
    except (OSError, ValueError) as exc:
        raise Untrusted(f"its record cannot be read ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("mac"), str):
        raise Untrusted("its record is not one this clone wrote")
    mac = document.pop("mac")
    if not hmac.compare_digest(mac, _sign(document)):
        raise Untrusted("it was not written by this clone (copied or pulled in?)")
    identity = _identity(root)
    recorded = document.get("identity")
    if not isinstance(recorded, dict) or recorded.get("root") != identity["root"]:
        raise Untrusted("it was not written by this clone (it was made for another folder)")
    if recorded != identity:
        raise Untrusted("it was made by another version of cacop")
    generation = document.get("generation", "")
    if not _GENERATION.fullmatch(generation):
        raise Untrusted("its record names no index folder")
    folder = state / generation
    try:
        if not os.path.isdir(folder) or os.path.islink(folder):
            raise Untrusted("its folder is missing")
        actual = {
            name: _stat_list(folder / name, hashed=not hashed_by_reader(name))
            for name in document["files"]
        }  # only what we wrote
        expected = {
            name: stats[:3] if hashed_by_reader(name) else stats
            for name, stats in document["files"].items()
        }
    except (OSError, KeyError, TypeError) as exc:
        raise Untrusted("some of its files are missing") from exc
    if actual != expected:
        raise Untrusted("some of its files were changed after cacop wrote them")
    return Record(
        generation=generation,
        toc=int(document["toc"]),
        files=document["files"],
        digest=document["digest"],
        count=int(document["count"]),
        broken=dict(document.get("broken") or {}),
    )


def _stat_list(path: Path, hashed: bool = True) -> list[Any]:
    """What the record says of one index file; a TOC's bytes too, since it is a pickle, and
    the catalog's (marshal) unless `hashed` is False."""
    info = os.lstat(path)
    if info.st_mode & 0o170000 != 0o100000:
        raise OSError(f"{path.name} is not a regular file")
    stats: list[Any] = [info.st_ino, info.st_size, info.st_mtime_ns]
    by_reader = hashed_by_reader(path.name)
    if path.name.endswith(TOC_SUFFIX) or (hashed and by_reader):
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(descriptor, "rb") as handle:
            if os.fstat(handle.fileno()).st_ino != info.st_ino:
                raise OSError(f"{path.name} changed while it was read")
            limit = -1 if by_reader else MAX_RECORD_BYTES + 1
            stats.append(hashlib.sha256(handle.read(limit)).hexdigest())
    return stats


def write_record(root: Path, record: Record) -> None:
    state = root / STATE_DIR
    document = {
        "identity": _identity(root),
        "generation": record.generation,
        "toc": record.toc,
        "files": record.files,
        "digest": record.digest,
        "count": record.count,
        "broken": record.broken,
    }
    document["mac"] = _sign(document)
    temporary = state / f".{RECORD}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(document, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, state / RECORD)
    finally:
        temporary.unlink(missing_ok=True)
