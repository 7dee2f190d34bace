"""What may leave this clone: the TLP gate, personal data (share/personal.py) and secrets,
the entry gate before a commit and the commit gate over everything pushed or bundled.
Each check returns findings (share/findings.py) and never prints."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import gitrepo, ops
from ..config import KB
from ..entries import parse_text, read_entry, relpath, write_atomic
from ..errors import EntryError, Refused
from ..models import TLP_ORDER, Entry, tlp_rank
from .findings import (
    INVALID,
    PERSONAL,
    SECRET,
    TEXT_SCAN_BYTES,
    TLP,
    UNSCANNED,
    Finding,
    cap_per_file,
)
from .personal import (
    PATTERNS,
    column_kind,
    delimited_table,
    email_is_public,
    markdown_tables,
    normalise,
    personal_data,
    table_personal_data,
)

__all__ = [
    "INVALID", "PATTERNS", "PERSONAL", "SECRET", "TEXT_SCAN_BYTES", "TLP", "UNSCANNED",
    "Finding", "cap_per_file", "column_kind", "delimited_table", "email_is_public",
    "markdown_tables", "normalise", "personal_data", "table_personal_data", "tlp_finding",
]  # fmt: skip


# ---------------------------------------------------------------- TLP


def tlp_finding(tlp: Any, max_tlp: str, *, path: str, line: int) -> Finding | None:
    """A finding when an entry's marking is stricter than the KB lets leave."""
    if isinstance(tlp, str) and tlp in TLP_ORDER and tlp_rank(tlp) <= tlp_rank(max_tlp):
        return None
    shown = tlp if isinstance(tlp, str) else repr(tlp)
    return Finding(
        TLP,
        "tlp",
        path,
        line,
        f"marked TLP:{shown.upper()}, above this knowledge base's share.max_tlp "
        f"({max_tlp}); it may not leave this clone",
    )


# ---------------------------------------------------------------- secrets


# detect-secrets costs seconds a megabyte. In a large file only the lines that could hold a
# secret go to it: a secret word, a URL with a
# password, a known key prefix, or a token long enough to be a key (16 characters of a key's
# alphabet; 8 hex digits with a letter among them, the shortest hex token detect-secrets
# reports). A run of decimal digits alone (an incident number, a count) is reported only
# from 19 digits on: detect-secrets lowers a number's entropy below its limit of 3.0 up to
# there, so 16 keeps a margin and a CSV of case numbers is not sent whole. Each finding
# keeps its line number in the whole text.
# (matched against the lower-cased line: twice as fast as a case-blind pattern)
_MAY_HOLD_SECRET = re.compile(
    r"key|pass|pwd|secret|token|auth|cred|contrase|private|bearer|://[^\s/]*@"
    r"|[a-z0-9+/=_.~-]{16,}|(?<![0-9a-f])(?=[0-9a-f]{8})[0-9]*[a-f]|[0-9]{16,}"
)
PREFILTER_FROM = 100_000  # characters; smaller texts go to detect-secrets whole


def secret_candidates(text: str) -> tuple[str, list[int]]:
    """The lines of a text that could hold a secret, and the line number of each."""
    lines = text.split("\n")
    lowered = text.lower().split("\n")  # lower() never makes or removes a line break
    kept = [
        (number, line)
        for number, (line, low) in enumerate(zip(lines, lowered, strict=True), start=1)
        if _MAY_HOLD_SECRET.search(low)
    ]
    return "\n".join(line for _, line in kept) + "\n", [number for number, _ in kept]


def secrets(text: str, path: str, prefilter_from: int = PREFILTER_FROM) -> list[Finding]:
    """Passwords, API keys and tokens, found by detect-secrets (offline, no verification)."""
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    from . import secretfilter

    numbers: list[int] | None = None
    if len(text) >= prefilter_from:
        text, numbers = secret_candidates(text)
    name = Path(path).name or "entry.md"
    # named like the temporary checkouts, so that a kill mid-scan leaves nothing for long:
    # the next sharing command (or `status`) removes the copy once this process is gone
    prefix = f"{gitrepo.CHECKOUT_PREFIX}{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        copy = Path(folder) / name
        copy.write_text(text, encoding="utf-8")
        with default_settings() as settings:
            secretfilter.use_in(settings)
            hits = sorted(
                {
                    (numbers[hit.line_number - 1] if numbers else hit.line_number, hit.type)
                    for hit in scan_file(str(copy))
                },
            )
    return [
        Finding(SECRET, "secret", path, line, f"a secret ({kind}): remove it and change it")
        for line, kind in hits
    ]


# ---------------------------------------------------------------- putting it together

_BANNER = re.compile(r"(?i)\bTLP\s*:\s*(?P<level>amber\s*\+\s*strict|amber|red)\b")


def banner(text: str) -> str | None:
    """The strictest TLP marking written in a text (`TLP:RED`, `TLP: amber+strict`), if any."""
    levels = {re.sub(r"\s+", "", match["level"]).lower() for match in _BANNER.finditer(text)}
    return max(levels, key=tlp_rank) if levels else None


def scan_file(
    data: bytes,
    path: str,
    *,
    max_tlp: str,
    today: dt.date,
    cache_dir: Path | None,
    email_allowlist: Iterable[str] = (),
) -> list[Finding]:
    """Personal data, secrets and TLP banners in any file, read through textextract.

    A finding in an attachment names its place (page, sheet and cell, slide); what cannot
    be read in full is an `unscanned` finding: the gate does not send what it cannot read.
    With `cache_dir` (`.cacop/extract/`), the findings are kept by content and settings in
    `.cacop/scan/` (share/scancache.py): the same bytes are never scanned twice.
    """
    if cache_dir is None:
        return _scan_file(data, path, max_tlp=max_tlp, today=today, cache_dir=None,
                          email_allowlist=email_allowlist)  # fmt: skip
    from . import scancache

    allowlist = tuple(email_allowlist)
    place = scancache.folder(cache_dir)
    cache_key = scancache.key(data, Path(path).name, max_tlp=max_tlp, email_allowlist=allowlist)
    found = scancache.load(place, cache_key, path, today)
    if found is None:
        day = scancache.kept_day(today)
        kept = _scan_file(data, path, max_tlp=max_tlp, today=day, cache_dir=cache_dir,
                          email_allowlist=allowlist)  # fmt: skip
        scancache.store(place, cache_key, kept, day)
        found = [dataclasses.replace(f, message=scancache.aged(f.message, today)) for f in kept]
    return found


def _scan_file(
    data: bytes,
    path: str,
    *,
    max_tlp: str,
    today: dt.date,
    cache_dir: Path | None,
    email_allowlist: Iterable[str] = (),
) -> list[Finding]:
    from .. import textextract

    extracted = textextract.extract_bytes(data, Path(path).name, cache_dir=cache_dir)
    found: list[Finding] = []
    if not extracted.scannable:
        found.append(Finding(UNSCANNED, extracted.kind, path, 1,
                             f"cannot be scanned: {extracted.reason}"))  # fmt: skip
    text = extracted.text
    if not text:
        return found
    starts = []  # where each part begins in `text`
    offset = 0
    for part in extracted.parts:
        if part.text:
            starts.append((offset, part))
            offset += len(part.text) + 2
    plain = len(starts) == 1 and starts[0][1].first_line == 1
    for finding in scan(text, path, today, email_allowlist):
        if not plain:
            at = _offset_of_line(text, finding.line)
            begin, part = max((item for item in starts if item[0] <= at), key=lambda i: i[0])
            finding = dataclasses.replace(  # a line of the joined text means nothing here
                finding, line=1, message=f"{finding.message} ({part.where(at - begin)})"
            )
        found.append(finding)
    if extracted.kind not in ("csv", "markdown", "text"):  # those are read as tables above
        found += _table_findings(extracted, path, today, email_allowlist)
    marking = banner(text)
    if marking is not None and tlp_rank(marking) > tlp_rank(max_tlp):
        line = _line(text, _BANNER.search(text).start()) if plain else 1
        found.append(tlp_finding(marking, max_tlp, path=path, line=line))
    return found


def _table_findings(
    extracted: Any, path: str, today: dt.date, email_allowlist: Iterable[str]
) -> list[Finding]:
    """Personal data by column header in a sheet, a DOCX or PPTX table or a JSON object: every
    filled cell under a DOB, SSN, name, address, phone, licence, plate or e-mail column."""
    found: list[Finding] = []
    for table in extracted.tables:
        rows = table.rows

        def locate(row: int, column: int, table: Any = table, rows: Any = rows) -> tuple[int, str]:
            return 1, table.cell_location(rows[row], column)

        found += table_personal_data(
            table.header, [row.cells for row in rows], path, locate, today, email_allowlist
        )
    return found


def _offset_of_line(text: str, line: int) -> int:
    offset = 0
    for _ in range(line - 1):
        offset = text.index("\n", offset) + 1
    return offset


def extract_cache(kb: KB) -> Path:
    """Where extracted text is kept by content hash: `<kb>/.cacop/extract/`."""
    return kb.root / ".cacop" / "extract"


def as_text(data: bytes) -> str | None:
    """The bytes as text when they are UTF-8 without NULs (None for binary files)."""
    if b"\x00" in data[:TEXT_SCAN_BYTES]:
        return None
    try:
        return data[:TEXT_SCAN_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= TEXT_SCAN_BYTES - 4:  # cut inside a character at the scan limit
            return data[: exc.start].decode("utf-8")
        return None


def scan(
    text: str, path: str, today: dt.date | None = None, email_allowlist: Iterable[str] = ()
) -> list[Finding]:
    """Personal data and secrets in one file's text (a .csv or .tsv file read as a table too)."""
    return personal_data(text, path, today, email_allowlist) + secrets(text, path)


_SEPARATOR = "\n\n§§§\n\n"  # no check's pattern reaches across it


def scan_many(
    texts: list[tuple[str, str]], today: dt.date | None = None, email_allowlist: Iterable[str] = ()
) -> dict[str, list[Finding]]:
    """`scan` over many (path, text) at once, findings by path with their own lines.

    detect-secrets costs a temporary file and a start per run, so the texts are joined and
    scanned once; each finding is mapped back to its own file and line."""
    import bisect

    if not texts:
        return {}
    starts, chunks, number = [], [], 1
    for _path, text in texts:
        starts.append(number)
        chunks.append(text)
        number += text.count("\n") + _SEPARATOR.count("\n")
    found: dict[str, list[Finding]] = {}
    for finding in scan(_SEPARATOR.join(chunks), "joined.md", today, email_allowlist):
        index = bisect.bisect_right(starts, finding.line) - 1
        path = texts[index][0]
        local = dataclasses.replace(finding, path=path, line=finding.line - starts[index] + 1)
        found.setdefault(path, []).append(local)
    return found


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def apply_override(
    findings: Iterable[Finding], override: Any
) -> tuple[list[Finding], list[Finding]]:
    """(still blocking, accepted): personal data of the kinds an entry's pii_override names.

    Secrets, TLP and validation findings are never accepted this way.
    """
    blocking, accepted = [], []
    kinds = None
    valid = isinstance(override, dict) and isinstance(override.get("reason"), str)
    if valid and isinstance(override.get("kinds"), list):
        kinds = {str(kind) for kind in override["kinds"]}
    for finding in findings:
        ok = valid and finding.category == PERSONAL and (kinds is None or finding.kind in kinds)
        (accepted if ok else blocking).append(finding)
    return blocking, accepted


def kinds_of(findings: Iterable[Finding]) -> list[str]:
    return sorted({finding.kind for finding in findings if finding.category == PERSONAL})


# ---------------------------------------------------------------- the entry gate


class GateRefused(Refused):
    """Something may not leave (or come in): carries every finding, each with file and line."""

    def __init__(self, action: str, findings: list[Finding], hint: str | None = None) -> None:
        lines = "\n".join(f"  {finding}" for finding in cap_per_file(findings))
        super().__init__(f"{action}: {len(findings)} problem(s)\n{lines}", hint or _hint(findings))
        self.findings = findings


def _hint(findings: list[Finding]) -> str:
    categories = {finding.category for finding in findings}
    hints = []
    if INVALID in categories:
        hints.append("fix what `cacop validate` reports")
    if TLP in categories:
        hints.append("only entries marked at or below share.max_tlp in cacop.yaml may leave")
    if SECRET in categories:
        hints.append("remove passwords and keys (and change them: they are exposed)")
    if UNSCANNED in categories:
        hints.append(
            "cacop cannot read some files; check them yourself, then run the same command with "
            "--allow-unscanned 'REASON', which records the reason in the entry"
        )
    if PERSONAL in categories:
        hints.append(
            "remove the personal data; if it must be shared (e.g. it is public record), run "
            "the same `cacop submit` with --allow-personal-data 'REASON', which records the "
            "reason in the entry"
        )
    return "; ".join(hints) + ". Nothing was shared."


def gate_entry(
    kb: KB,
    path: Path,
    *,
    allow_reason: str | None,
    today: dt.date,
    allow_unscanned: str | None = None,
    cache_dir: Path | None = None,
) -> tuple[Entry, list[Finding], list[str], dict[str, Any] | None]:
    """Every gate before a commit: validity, TLP, personal data, secrets, unread files.

    Returns (entry, accepted findings, attachments let through unscanned, override).
    Raises GateRefused listing every reason. With a reason, personal data (or an attachment
    that cannot be read) is let through and the override (reason, who, when, which kinds or
    files) is written into the entry first. `cache_dir` is where extracted text and scan
    findings are kept (default: the KB's own `.cacop/extract/`); `submit` gates in a
    temporary checkout and names the clone's, so that its commit gate finds them there.
    """
    cache_dir = cache_dir or extract_cache(kb)
    findings, entry = _entry_findings(kb, path, today, cache_dir)
    blocking, accepted = accept(findings, entry.meta)
    by = gitrepo.user_name(kb.root) or ", ".join(map(str, entry.meta.get("authors", [])))
    override = None
    personal = [finding for finding in blocking if finding.category == PERSONAL]
    unread = [finding for finding in blocking if finding.category == UNSCANNED]
    text = path.read_text("utf-8")
    if personal and allow_reason is not None:
        override = {"reason": allow_reason.strip(), "by": by, "date": today.isoformat(),
                    "kinds": kinds_of(personal + accepted)}  # fmt: skip
        text = record_override(text, override)
    if unread and allow_unscanned is not None:
        names = {f.path.rsplit("/", 1)[-1] for f in unread + accepted if f.category == UNSCANNED}
        text = record_override(
            text,
            {"reason": allow_unscanned.strip(), "by": by, "date": today.isoformat(),
             "files": sorted(names)},
            field="unscanned_override",
        )  # fmt: skip
    if text != path.read_text("utf-8"):
        write_atomic(path, text)
        findings, entry = _entry_findings(kb, path, today, cache_dir)
        blocking, accepted = accept(findings, entry.meta)
    if blocking:
        raise GateRefused("nothing was shared", blocking)
    unscanned = [finding.path for finding in accepted if finding.category == UNSCANNED]
    accepted = [finding for finding in accepted if finding.category != UNSCANNED]
    return entry, accepted, unscanned, override


def accept(findings: list[Finding], meta: dict[str, Any] | None) -> tuple[list[Finding], ...]:
    """(still blocking, accepted) under an entry's pii_override and unscanned_override."""
    meta = meta or {}
    blocking, accepted = apply_override(findings, meta.get("pii_override"))
    override = meta.get("unscanned_override")
    valid = isinstance(override, dict) and isinstance(override.get("reason"), str)
    files = override.get("files") if valid else None
    files = {str(name) for name in files} if isinstance(files, list) else set()
    still = []
    for finding in blocking:
        ok = finding.category == UNSCANNED and finding.path.rsplit("/", 1)[-1] in files
        (accepted if ok else still).append(finding)
    return still, accepted


def _entry_findings(
    kb: KB, path: Path, today: dt.date, cache_dir: Path | None = None
) -> tuple[list[Finding], Entry]:
    cache_dir = cache_dir or extract_cache(kb)
    rel = relpath(path, kb.root)
    try:
        entry = read_entry(path, kb.root, kb.limits)
    except EntryError as error:
        raise GateRefused(
            "nothing was shared",
            [Finding(INVALID, error.code, rel, error.line, error.message)],
        ) from error
    report = ops.validate(kb, [path], cache=False)  # a gate judges afresh
    folder = rel[:-3] + "/"
    findings = [
        Finding(INVALID, issue.code, issue.path, issue.line, issue.message)
        for issue in report.issues
        if (issue.severity == "error" or issue.code == "template-prompt")  # unwritten section
        and (issue.path == rel or issue.path.startswith(folder))
    ]
    tlp = tlp_finding(entry.meta.get("tlp"), kb.max_tlp, path=rel, line=entry.line_of("tlp"))
    findings += [tlp] if tlp else []
    text = path.read_text("utf-8")
    findings += scan(text, rel, today, kb.email_allowlist)
    marking = banner(entry.body)  # a TLP:RED written in a green entry's body, as the commit gate
    if marking is not None and tlp_rank(marking) > tlp_rank(kb.max_tlp):  # reads it
        at = _BANNER.search(entry.body)
        line = entry.body_line + entry.body.count("\n", 0, at.start() if at else 0)
        findings.append(tlp_finding(marking, kb.max_tlp, path=rel, line=line))
    names = entry.meta.get("attachments") if entry.type == "work-product" else None
    for name in names if isinstance(names, list) else ():
        attachment = path.parent / path.stem / str(name)
        if "/" in str(name) or not attachment.is_file() or attachment.is_symlink():
            continue
        findings += scan_file(
            attachment.read_bytes(), relpath(attachment, kb.root),
            max_tlp=kb.max_tlp, today=today, cache_dir=cache_dir,
            email_allowlist=kb.email_allowlist,
        )  # fmt: skip
    return findings, entry


def record_override(text: str, override: dict[str, Any], field: str = "pii_override") -> str:
    """The entry's text with its override block (`field`) set; no other byte changes."""
    from .. import yamlsafe

    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    closing = next(
        number for number, line in enumerate(lines) if number > 0 and line.rstrip() == "---"
    )
    start = next((n for n in range(1, closing) if lines[n].startswith(f"{field}:")), None)
    if start is not None:
        end = start + 1
        while end < closing and lines[end][:1] in (" ", "\t"):
            end += 1
        del lines[start:end]
        closing -= end - start
    block = yamlsafe.dump({field: override}).replace("\n", newline)
    if closing > 0 and not lines[closing - 1].endswith("\n"):
        lines[closing - 1] += newline
    lines.insert(closing, block)
    return "".join(lines)


# ---------------------------------------------------------------- what the gates match

ENTRY_PATH = re.compile(
    r"^kb/(?:strategies|work-products|rfis)/[^/]+\.md$|^kb/rfis/[^/]+/responses/[^/]+\.md$"
)
ATTACHMENT_PATH = re.compile(r"^kb/work-products/(?P<id>[^/]+)/[^/]+$")


def meta_of(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        meta, _ = parse_text(text)
    except EntryError:
        return None
    return meta


def field_line(text: str | None, name: str) -> int:
    for number, line in enumerate((text or "").splitlines(), 1):
        if line.startswith(f"{name}:"):
            return number
    return 1
