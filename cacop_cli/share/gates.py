"""What may leave this clone: the TLP gate, personal data (share/personal.py) and secrets,
the entry gate before a commit and the commit gate over everything pushed or bundled.
Each check returns findings (share/findings.py) and never prints."""

from __future__ import annotations

import dataclasses
import datetime as dt
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
from .findings import INVALID, PERSONAL, SECRET, TEXT_SCAN_BYTES, TLP, Finding, cap_per_file
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
    "INVALID", "PATTERNS", "PERSONAL", "SECRET", "TEXT_SCAN_BYTES", "TLP", "Finding",
    "cap_per_file", "column_kind", "delimited_table", "email_is_public", "markdown_tables",
    "normalise",
    "personal_data", "table_personal_data", "tlp_finding",
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


def secrets(text: str, path: str) -> list[Finding]:
    """Passwords, API keys and tokens, found by detect-secrets (offline, no verification)."""
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    name = Path(path).name or "entry.md"
    with tempfile.TemporaryDirectory(prefix="cacop-scan-") as folder:
        copy = Path(folder) / name
        copy.write_text(text, encoding="utf-8")
        with default_settings():
            hits = sorted(
                {(hit.line_number, hit.type) for hit in scan_file(str(copy))},
            )
    return [
        Finding(SECRET, "secret", path, line, f"a secret ({kind}): remove it and change it")
        for line, kind in hits
    ]


# ---------------------------------------------------------------- putting it together


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
    if PERSONAL in categories:
        hints.append(
            "remove the personal data; if it must be shared (e.g. it is public record), run "
            "the same `cacop submit` with --allow-personal-data 'REASON', which records the "
            "reason in the entry"
        )
    return "; ".join(hints) + ". Nothing was shared."


def gate_entry(
    kb: KB, path: Path, *, allow_reason: str | None, today: dt.date
) -> tuple[Entry, list[Finding], list[str], dict[str, Any] | None]:
    """Every gate before a commit: validity, TLP, personal data and secrets.

    Returns (entry, accepted personal-data findings, attachments not scanned, override).
    Raises GateRefused listing every reason. With a reason, personal data is let through
    and the override (reason, who, when, which kinds) is written into the entry first.
    """
    findings, unscanned, entry = _entry_findings(kb, path, today)
    blocking, accepted = apply_override(findings, entry.meta.get("pii_override"))
    personal = [finding for finding in blocking if finding.category == PERSONAL]
    override = None
    if personal and allow_reason is not None:
        override = {
            "reason": allow_reason.strip(),
            "by": gitrepo.user_name(kb.root) or ", ".join(map(str, entry.meta.get("authors", []))),
            "date": today.isoformat(),
            "kinds": kinds_of(personal + accepted),
        }
        write_atomic(path, record_override(path.read_text("utf-8"), override))
        findings, unscanned, entry = _entry_findings(kb, path, today)
        blocking, accepted = apply_override(findings, entry.meta.get("pii_override"))
    if blocking:
        raise GateRefused("nothing was shared", blocking)
    return entry, accepted, unscanned, override


def _entry_findings(kb: KB, path: Path, today: dt.date) -> tuple[list[Finding], list[str], Entry]:
    rel = relpath(path, kb.root)
    try:
        entry = read_entry(path, kb.root, kb.limits)
    except EntryError as error:
        raise GateRefused(
            "nothing was shared",
            [Finding(INVALID, error.code, rel, error.line, error.message)],
        ) from error
    report = ops.validate(kb, [path])
    folder = rel[:-3] + "/"
    findings = [
        Finding(INVALID, issue.code, issue.path, issue.line, issue.message)
        for issue in report.issues
        if (issue.severity == "error" or issue.code == "template-prompt")  # unwritten section
        and (issue.path == rel or issue.path.startswith(folder))
    ]
    tlp = tlp_finding(entry.meta.get("tlp"), kb.max_tlp, path=rel, line=entry.line_of("tlp"))
    findings += [tlp] if tlp else []
    findings += scan(path.read_text("utf-8"), rel, today, kb.email_allowlist)
    unscanned = []
    names = entry.meta.get("attachments") if entry.type == "work-product" else None
    for name in names if isinstance(names, list) else ():
        attachment = path.parent / path.stem / str(name)
        if "/" in str(name) or not attachment.is_file() or attachment.is_symlink():
            continue
        text = as_text(attachment.read_bytes())
        if text is None:
            unscanned.append(relpath(attachment, kb.root))
        else:
            findings += scan(text, relpath(attachment, kb.root), today, kb.email_allowlist)
    return findings, unscanned, entry


def record_override(text: str, override: dict[str, Any]) -> str:
    """The entry's text with its pii_override block set; no other byte changes."""
    from .. import yamlsafe

    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    closing = next(
        number for number, line in enumerate(lines) if number > 0 and line.rstrip() == "---"
    )
    start = next((n for n in range(1, closing) if lines[n].startswith("pii_override:")), None)
    if start is not None:
        end = start + 1
        while end < closing and lines[end][:1] in (" ", "\t"):
            end += 1
        del lines[start:end]
        closing -= end - start
    block = yamlsafe.dump({"pii_override": override}).replace("\n", newline)
    if closing > 0 and not lines[closing - 1].endswith("\n"):
        lines[closing - 1] += newline
    lines.insert(closing, block)
    return "".join(lines)


# ---------------------------------------------------------------- the commit gate

ENTRY_PATH = re.compile(
    r"^kb/(?:strategies|work-products|rfis)/[^/]+\.md$|^kb/rfis/[^/]+/responses/[^/]+\.md$"
)
ATTACHMENT_PATH = re.compile(r"^kb/work-products/(?P<id>[^/]+)/[^/]+$")


def gate_commits(kb: KB, commits: list[str], today: dt.date | None = None) -> list[Finding]:
    """TLP, personal data and secrets in every file each commit adds or changes.

    Each commit counts on its own, so an entry marked red and deleted later in the same
    unpushed history still blocks: the push would carry it.
    """
    today = today or dt.date.today()
    root = kb.root
    seen: set[tuple[str, int, str, str]] = set()
    blocking: list[Finding] = []
    for commit in commits:
        for change in gitrepo.commit_changes(root, commit):
            if change.status == "D" or set(change.blob) == {"0"}:
                continue
            data = gitrepo.read_blob(root, change.blob, limit=TEXT_SCAN_BYTES)
            text = as_text(data) if data is not None else None
            found: list[Finding] = []
            override = None
            in_kb = change.path.startswith("kb/")
            if ENTRY_PATH.match(change.path):
                meta = meta_of(text)
                line = field_line(text, "tlp")
                if meta is None:
                    found.append(
                        Finding(
                            TLP,
                            "unreadable",
                            change.path,
                            1,
                            "cannot be read, so its TLP marking is unknown",
                        )
                    )
                else:
                    tlp = tlp_finding(meta.get("tlp"), kb.max_tlp, path=change.path, line=line)
                    found += [tlp] if tlp else []
                    override = meta.get("pii_override")
            attachment = ATTACHMENT_PATH.match(change.path)
            if attachment:
                owner = gitrepo.read_file_at(
                    root, commit, f"kb/work-products/{attachment['id']}.md"
                )
                meta = meta_of(as_text(owner) if owner else None)
                override = meta.get("pii_override") if meta else None
            if text is not None:
                found += (
                    personal_data(text, change.path, today, kb.email_allowlist) if in_kb else []
                )
                found += secrets(text, change.path)
            found, _ = apply_override(found, override)
            for finding in found:
                key = (finding.path, finding.line, finding.kind, finding.message)
                if key not in seen:
                    seen.add(key)
                    blocking.append(
                        dataclasses.replace(
                            finding, message=f"{finding.message} (commit {commit[:8]})"
                        )
                    )
    return blocking


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
