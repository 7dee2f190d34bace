"""Findings: one reason something may not leave (category, kind, file, line), and the cap
that keeps a refusal readable. Shared by the detectors and the gates; never prints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PERSONAL = "personal-data"
SECRET = "secret"
TLP = "tlp"
INVALID = "invalid"
UNSCANNED = "unscanned"  # what cannot be read does not leave without a reason

TEXT_SCAN_BYTES = 5 * 1_048_576  # larger text attachments are scanned up to here


@dataclass(frozen=True)
class Finding:
    """One reason something may not leave: what kind, in which file, on which line."""

    category: str  # personal-data, secret, tlp, invalid
    kind: str  # ssn, date-of-birth, phone, driver-licence, plate, email, or a secret type
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "kind": self.kind,
            "path": self.path,
            "line": self.line,
            "message": self.message,
        }


def cap_per_file(findings: Iterable[Finding], limit: int = 20) -> list[Finding]:
    """The first `limit` findings of each file, then one per category counting the rest
    ("and 1,234 more personal-data findings in this file"), files in order of first finding."""
    by_path: dict[str, list[Finding]] = {}
    for finding in findings:
        by_path.setdefault(finding.path, []).append(finding)
    shown: list[Finding] = []
    for path, found in by_path.items():
        shown += found[:limit]
        rest: dict[str, list[Finding]] = {}
        for finding in found[limit:]:
            rest.setdefault(finding.category, []).append(finding)
        for category, hidden in rest.items():
            count = len(hidden)
            plural = "finding" if count == 1 else "findings"
            message = f"and {count:,} more {category} {plural} in this file"
            shown.append(Finding(category, "more", path, hidden[0].line, message))
    return shown
