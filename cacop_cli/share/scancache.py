"""What the gate found in a file, kept by the file's content so that no file is scanned
twice: the entry gate and the commit gate of one `submit` read the same attachments, and a
second `sync` or `check-share` reads the same blobs again.

A result is keyed on the SHA-256 of the bytes and on everything else the findings depend on:
the file's name (it decides how the bytes are read), the line (`max_tlp`), the e-mail
allowlist, and the versions of the scan, of text extraction, of cacop and of detect-secrets
and phonenumbers. Not on the day: the scan is made with a personal.KeptDay, so a date of
birth keeps its date (its age is written when the record is read) and the record names the
days on which its findings hold (a day outside them is a miss). It lives in
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
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from .findings import Finding

SCAN_VERSION = 2  # bump when any check's findings for the same bytes change
AGE_MARK = "\x00born "  # a kept date of birth, aged when read: personal.AGE_MARK (a test holds it)


@functools.cache
def _versions() -> str:
    """The versions an entry text's findings hang on: the scan's, cacop's, detect-secrets'
    and phonenumbers' (texts.json's stamp; `key` adds text extraction's for files, which
    entry texts never go through: importing textextract cost ~12 ms of gaps and experts)."""
    from .. import __version__

    found = [f"scan{SCAN_VERSION}", f"cacop{__version__}"]
    found += [f"{name}{_installed(name)}" for name in ("detect-secrets", "phonenumbers")]
    return " ".join(found)


def _installed(name: str) -> str:
    """The installed release of a distribution, from the name of its `name-version.dist-info`
    folder, the first along sys.path, where importlib.metadata finds it too: importing
    importlib.metadata (and the e-mail parser it reads the METADATA file with) cost ~10 ms
    of each gaps and experts. A folder without a version in its name (a development
    install's egg-info), or none found, is asked of importlib.metadata."""
    wanted = _distribution(name)
    for place in sys.path:
        try:
            names = sorted(os.listdir(place or "."))
        except OSError:  # not a folder (a zip file), or gone
            continue
        for folder in names:
            stem, dot, suffix = folder.lower().rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            project, dash, version = stem.partition("-")
            if _distribution(project) != wanted:
                continue
            if suffix == "dist-info" and dash and version:
                return version
            return _metadata_version(name)
    return _metadata_version(name)  # perhaps in a zip file: importlib.metadata looks there


def _metadata_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def _distribution(name: str) -> str:
    """A distribution's name as importlib.metadata compares them (PEP 503, `_` for `-`)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def key(data: bytes, name: str, *, max_tlp: str, email_allowlist: Iterable[str]) -> str:
    """The cache key of one scan: the content's hash and every setting the findings hang on
    (not the day: a record says on which days it holds, see `load`)."""
    from .. import textextract

    versions = f"{_versions()} extract{textextract.VERSION}"
    settings = json.dumps([versions, name, max_tlp, sorted(map(str, email_allowlist))])
    content = hashlib.sha256(data).hexdigest()
    return hashlib.sha256(f"{content}\0{settings}".encode()).hexdigest()


def folder(extract_cache: Path) -> Path:
    """`.cacop/scan/`, beside text extraction's own cache (`.cacop/extract/`)."""
    return Path(extract_cache).parent / "scan"


def kept_day(today: dt.date) -> Any:
    """The day to scan with when the findings are to be kept (personal.KeptDay): dates of
    birth keep their date, and the day notes on which days the findings hold."""
    from .personal import KeptDay

    return KeptDay(today)


def aged(message: str, today: dt.date) -> str:
    """A kept finding's message as a scan on `today` writes it (personal.aged); the
    detectors' patterns are loaded only for a message that needs them."""
    if AGE_MARK not in message:
        return message
    from .personal import aged as made_on

    return made_on(message, today)


def load(place: Path, cache_key: str, path: str, today: dt.date) -> list[Finding] | None:
    """The findings kept for this key, given this file's path, as a scan on `today` gives
    them; None on a miss (or damage, or a record that does not hold on `today`)."""
    from ..sealed import opened

    target = place / f"{cache_key}.json"
    try:
        payload = opened(target, target.read_bytes())
        if payload is None:  # not sealed by this user: perhaps planted by a commit
            return None
        saved = json.loads(payload)
        if saved["key"] != cache_key or not holds(saved["days"], today):
            return None
        return [
            Finding(str(category), str(kind), path, int(line), aged(str(message), today))
            for category, kind, line, message in saved["findings"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(place: Path, cache_key: str, findings: list[Finding], day: Any) -> None:
    """Keep the findings of a scan made with `day` (from `kept_day`) atomically; a cache
    that cannot be written is only a slower run."""
    saved = {
        "key": cache_key,
        "days": _days(day),
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


def _days(day: Any) -> list[int]:
    """The first and last day on which a scan's findings hold, as ordinals."""
    return [day.first.toordinal(), day.last.toordinal()]


def holds(days: Any, today: dt.date) -> bool:
    """Whether a record's [first, last] days (ordinals) hold `today`; anything else does not."""
    first, last = days
    return isinstance(first, int) and isinstance(last, int) and first <= today.toordinal() <= last


TEXTS_FILE = "texts.json"  # in the scan folder: findings in entry texts, by the text's hash
UNUSED_DAYS = 90  # a record not used for this long is dropped when the file is written
MOST_TEXTS = 200_000  # and never more than this many texts' (the least recently used go first)


class Text(NamedTuple):
    """One text to scan: its path, a digest that changes whenever the text does, and a way
    to make the text (called only when its findings are not kept). A tuple: a run makes one
    per entry it lists, and a frozen dataclass cost three times as much to make."""

    path: str
    digest: str
    text: Callable[[], str]


def scan_texts(
    place: Path | None,
    texts: list[Text],
    *,
    today: dt.date,
    email_allowlist: Iterable[str],
) -> dict[str, list[Finding]]:
    """gates.scan_many over the texts, each text's findings kept by its digest in one sealed
    file of `place` (`.cacop/scan/texts.json`) with the settings they hang on: digest, gaps
    and experts judge many entries of a large KB each run, and only the texts changed since
    (or every text, with new settings) are scanned again. The findings kept do not depend
    on the day (personal.KeptDay): each says on which days it holds. The file keeps every
    text any command judged. A record's day of last use is set when a run writes the file
    (a run that scans nothing writes nothing), and a record unused for UNUSED_DAYS is
    dropped then, as are the least recently used beyond MOST_TEXTS: a text dropped while
    still judged is only scanned once more. Without `place`, a plain scan."""
    allowlist = tuple(sorted(map(str, email_allowlist)))
    if place is None:
        from . import gates

        return gates.scan_many([(item.path, item.text()) for item in texts], today, allowlist)
    stamp = json.dumps([_versions(), allowlist])
    kept = _load_texts(place / TEXTS_FILE, stamp)
    day = today.toordinal()
    missing: dict[str, Text] = {}
    for item in texts:
        record = _record(kept, item.digest)
        if record is None or not record[1] <= day <= record[2]:
            missing[item.digest] = item
        else:
            kept[item.digest] = record
    if missing:
        for digest, findings, (first, last) in scan_missing(
            list(missing.items()), today, allowlist
        ):
            kept[digest] = [day, first, last, findings]
    found = {}
    for item in texts:
        findings = kept[item.digest][3]
        if findings:
            found[item.path] = [
                Finding(c, k, item.path, n, aged(m, today)) for c, k, n, m in findings
            ]
    if missing:
        for item in texts:
            kept[item.digest][0] = day
        _store_texts(place / TEXTS_FILE, stamp, _pruned(kept, day))
    return found


BATCH_CHARS = 2_000_000  # texts are scanned joined (gates.scan_many), about this much at once
SPLIT_FROM = 256  # from this many texts to scan, a forked process scans half of them
Scanned = list[tuple[str, list[list[Any]], list[int]]]  # (digest, findings, [first, last day])


def scan_missing(
    items: list[tuple[str, Text]], today: dt.date, allowlist: tuple[str, ...]
) -> Scanned:
    """(digest, findings as [category, kind, line, message], the first and last day they
    hold on as ordinals) of each text of `items` ((digest, Text) pairs). A batch of texts
    at a time, so that what is held is bounded (joined whole, the 50,000 texts of a large
    KB took 1.2 GB); from SPLIT_FROM texts, half of them in a forked process on the second
    core (the first `gaps` of a large KB scans every entry: 72 s at 50,000 in one process).
    Each batch is scanned with its own kept_day, whose days narrow as its dates are judged:
    a batch's findings hold on its own days. A child that cannot start or fails costs its
    half being scanned here."""
    if len(items) < SPLIT_FROM:
        return _scanned(items, today, allowlist)
    from .. import progress
    from ..scan import in_second_process

    advance, total = progress.current.get(), len(items)

    def shown(done: int) -> None:  # the child scans as fast: twice this process's count
        if advance is not None:
            advance(min(2 * done, total - 1), total, CHECKING)

    half = len(items) // 2
    theirs = in_second_process(lambda: _scanned(items[half:], today, allowlist))
    mine = _scanned(items[:half], today, allowlist, shown)
    other = theirs()
    if not _scan_shaped(other, [digest for digest, _ in items[half:]]):
        other = _scanned(items[half:], today, allowlist, lambda done: shown(half // 2 + done // 2))
    if advance is not None:
        advance(total, total, CHECKING)
    return mine + [(digest, list(findings), list(days)) for digest, findings, days in other]


def _scan_shaped(value: Any, digests: list[str]) -> bool:
    """Whether the child's answer is (digest, findings, days) for each of `digests`, in order."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == len(digests)
        and all(
            isinstance(one, (list, tuple)) and len(one) == 3 and one[0] == digest
            and isinstance(one[1], list)
            and all(isinstance(found, list) and len(found) == 4 for found in one[1])
            and isinstance(one[2], (list, tuple)) and len(one[2]) == 2
            and all(isinstance(day, int) for day in one[2])
            for one, digest in zip(value, digests, strict=True)
        )
    )  # fmt: skip


CHECKING = "checking entries for personal data"  # what the progress bar says meanwhile


def in_batches(texts: Iterable[tuple[str, str]], chars: int) -> Iterator[list[tuple[str, str]]]:
    """(key, text) pairs in batches of about `chars` characters, taken from `texts` only as
    each batch fills (a generator of texts is never held whole)."""
    batch: list[tuple[str, str]] = []
    size = 0
    for key, text in texts:
        batch.append((key, text))
        size += len(text)
        if size >= chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def scan_batch(
    batch: list[tuple[str, str]], today: dt.date, allowlist: Iterable[str]
) -> tuple[dict[str, list[Finding]], list[int]]:
    """A batch of (key, text) scanned joined (gates.scan_many) with one kept_day: the
    findings by key, as kept (a date of birth's age is written by `aged` when read), and
    the first and last day (ordinals) on which they all hold: the batch's own, narrowed
    only by the dates it judged."""
    from . import gates  # only now: it loads every check's patterns

    day = kept_day(today)
    found = gates.scan_many(batch, day, allowlist)
    return found, _days(day)  # after the scan: judging dates narrowed them


def _scanned(
    items: list[tuple[str, Text]], today: dt.date, allowlist: tuple[str, ...],
    shown: Callable[[int], None] | None = None,
) -> Scanned:  # fmt: skip
    """scan_missing's work in one process; `shown(done)` after each batch."""
    done: Scanned = []
    texts = ((digest, item.text()) for digest, item in items)
    for batch in in_batches(texts, BATCH_CHARS):
        found, days = scan_batch(batch, today, allowlist)
        for digest, _ in batch:
            kept = [[f.category, f.kind, f.line, f.message] for f in found.get(digest, [])]
            done.append((digest, kept, days))
        if shown is not None:
            shown(len(done))
    return done


def _pruned(kept: dict[str, Any], today: int) -> dict[str, list[Any]]:
    """The records used within UNUSED_DAYS (a record not of the shape is dropped), at
    most MOST_TEXTS of them."""
    recent = {
        digest: record
        for digest, record in kept.items()
        if isinstance(record, list)
        and len(record) == 4
        and isinstance(record[0], int)
        and record[0] > today - UNUSED_DAYS
    }
    if len(recent) <= MOST_TEXTS:
        return recent
    newest = sorted(recent, key=lambda digest: recent[digest][0], reverse=True)[:MOST_TEXTS]
    return {digest: recent[digest] for digest in newest}


def _load_texts(target: Path, stamp: str) -> dict[str, Any]:
    """The kept records by digest, as stored: nothing when the file is missing, damaged,
    not sealed by this user or of other settings. Each record is checked when it is used
    (`_record`): reading all of them cost half a second at 10,000 entries."""
    from ..sealed import opened

    try:
        payload = opened(target, target.read_bytes())
        saved = json.loads(payload) if payload is not None else None
        if not isinstance(saved, dict) or saved.get("stamp") != stamp:
            return {}
        texts = saved["texts"]
        return texts if isinstance(texts, dict) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _record(kept: dict[str, Any], digest: str) -> list[Any] | None:
    """[last used, first day, last day (ordinals), findings] kept for a digest, checked;
    None when there is none or it is not of that shape."""
    try:
        used, first, last, findings = kept[digest]
        if not (isinstance(used, int) and isinstance(first, int) and isinstance(last, int)):
            return None
        checked = [[str(c), str(k), int(n), str(m)] for c, k, n, m in findings]
    except (KeyError, ValueError, TypeError):
        return None
    return [used, first, last, checked]


def _store_texts(target: Path, stamp: str, texts: dict[str, list[Any]]) -> None:
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
