"""What may leave this clone: the TLP gate, personal data and secrets.

Each check returns findings (category, kind, file, line) and never prints.
Secrets are found by detect-secrets and phone numbers by phonenumbers (Google's
libphonenumber), both offline. What no library does for US crime-analysis text
is written here: social security numbers in context (their number rules come
from python-stdnum), dates of birth (with the person's age, so juveniles stand
out), driver licence numbers and plates next to the words that name them, and
e-mail addresses at consumer mail providers (private people, not agencies).
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models import TLP_ORDER, tlp_rank

PERSONAL = "personal-data"
SECRET = "secret"
TLP = "tlp"
INVALID = "invalid"

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


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# ---------------------------------------------------------------- TLP


def tlp_finding(tlp: Any, max_tlp: str, path: str, line: int) -> Finding | None:
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


# ---------------------------------------------------------------- personal data

_SSN_DELIMITED = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SSN_CONTEXT = re.compile(
    r"(?i:\b(?:ssn|ss\#|soc(?:ial)?\.?\s+sec(?:urity)?\.?(?:\s+(?:no|number|num|\#))?))"
    r"\.?\s*[:#=-]?\s*(\d{3})[- ]?(\d{2})[- ]?(\d{4})(?!\d)"
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE = (
    r"(?:(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    r"|(?P<um>\d{1,2})[/.-](?P<ud>\d{1,2})[/.-](?P<uy>\d{4}|\d{2})"
    rf"|{_MONTH}\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<my>\d{{4}})"
    r"|(?P<dd>\d{1,2})\s+(?P<dmonth>" + "|".join(_MONTHS) + r")\.?,?\s+(?P<dy>\d{4}))"
)
_DOB = re.compile(
    r"(?i:\b(?:d\.?o\.?b\b\.?|date\s+of\s+birth\b|birth\s*date\b|birthday\b|born(?:\s+on)?\b))"
    r"\s*[:#=-]?\s*(?i:" + _DATE + r")(?!\d)"
)
_LICENCE = re.compile(
    r"(?:(?i:\bdriv(?:er'?s?|ing)\s+licen[cs]e)(?i:\s*(?:no\.?|number|num|\#))?"
    r"|\b(?:DL|D/L|DLN|OLN)(?:\s*(?:No\.?|\#))?)"
    r"\s*[:#=-]?\s*(?P<value>[A-Za-z0-9][A-Za-z0-9-]{4,19})\b"
)
_PLATE = re.compile(
    r"(?P<word>(?i:\b(?:licen[cs]e\s+plate|plate|tag|registration|LPN?))\b)"
    r"(?i:\s*(?:no\.?|number|\#))?\s*[:#=-]?\s*"
    r"(?P<value>[A-Z0-9]{1,4}[- ]?[A-Z0-9]{1,4})(?![A-Za-z0-9-])"
)
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
PRIVATE_MAIL_DOMAINS = frozenset(
    (
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "rocketmail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "gmx.com",
        "gmx.net",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "tutanota.com",
        "fastmail.com",
        "hey.com",
        "comcast.net",
        "att.net",
        "sbcglobal.net",
        "verizon.net",
        "cox.net",
        "charter.net",
        "bellsouth.net",
        "earthlink.net",
        "optonline.net",
        "frontier.com",
        "windstream.net",
        "centurylink.net",
        "juno.com",
    )
)


def _dob_date(match: re.Match) -> dt.date | None:
    groups = match.groupdict()
    try:
        if groups["iy"]:
            return dt.date(int(groups["iy"]), int(groups["im"]), int(groups["id"]))
        if groups["uy"]:
            year = int(groups["uy"])
            year += 2000 if len(groups["uy"]) == 2 and year < 50 else 0
            year += 1900 if len(groups["uy"]) == 2 and year < 100 else 0
            return dt.date(year, int(groups["um"]), int(groups["ud"]))
        if groups["my"]:
            month = _MONTHS[groups["month"].lower()]
            return dt.date(int(groups["my"]), month, int(groups["md"]))
        if groups["dy"]:
            month = _MONTHS[groups["dmonth"].lower()]
            return dt.date(int(groups["dy"]), month, int(groups["dd"]))
    except (ValueError, KeyError):
        return None
    return None


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _valid_ssn(*parts: str) -> bool:
    from stdnum.us import ssn

    return ssn.is_valid("".join(parts))


def personal_data(text: str, path: str, today: dt.date | None = None) -> list[Finding]:
    """Personal data about people in a text: each finding names its kind and line."""
    today = today or dt.date.today()
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []  # spans already reported, so a phone is not an SSN too

    def add(kind: str, start: int, end: int, message: str) -> None:
        taken.append((start, end))
        found.append(Finding(PERSONAL, kind, path, _line(text, start), message))

    for match in _SSN_CONTEXT.finditer(text):
        if _valid_ssn(*match.groups()):
            add("ssn", match.start(1), match.end(3), "a social security number")
    for match in _SSN_DELIMITED.finditer(text):
        overlaps = any(start <= match.start() < end for start, end in taken)
        if not overlaps and _valid_ssn(match.group(1), match.group(3), match.group(4)):
            add("ssn", match.start(), match.end(), "what looks like a social security number")
    for match in _DOB.finditer(text):
        born = _dob_date(match)
        if born is not None and born <= today:
            age = _age(born, today)
            detail = f"a date of birth (age {age}" + (": a juvenile)" if age < 18 else ")")
        else:
            detail = "a date of birth"
        add("date-of-birth", match.start(), match.end(), detail)
    for match in _LICENCE.finditer(text):
        if any(char.isdigit() for char in match.group("value")):
            add("driver-licence", match.start(), match.end(), "a driver licence number")
    for match in _PLATE.finditer(text):
        value = match.group("value").replace("-", "").replace(" ", "")
        word = match.group("word").lower()
        needs_letters = word in ("tag", "registration")
        has_digit = any(char.isdigit() for char in value)
        has_letter = any(char.isalpha() for char in value)
        overlaps = any(start <= match.start("value") < end for start, end in taken)
        if len(value) >= 3 and has_digit and (has_letter or not needs_letters) and not overlaps:
            add("plate", match.start(), match.end(), "a vehicle licence plate")
    for match in _EMAIL.finditer(text):
        domain = match.group("domain").lower()
        if domain in PRIVATE_MAIL_DOMAINS:
            add("email", match.start(), match.end(), f"a private e-mail address (@{domain})")
    found.extend(_phones(text, path, taken))
    found.sort(key=lambda finding: (finding.line, finding.kind))
    return found


def _phones(text: str, path: str, taken: list[tuple[int, int]]) -> list[Finding]:
    """Phone numbers of people: valid US (or +international) numbers, not toll-free lines."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    public = {PhoneNumberType.TOLL_FREE, PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST}
    found = []
    matcher = phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.VALID)
    for match in matcher:
        if any(start < match.end and match.start < end for start, end in taken):
            continue
        if phonenumbers.number_type(match.number) in public:
            continue
        found.append(Finding(PERSONAL, "phone", path, _line(text, match.start), "a phone number"))
    return found


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


def scan(text: str, path: str, today: dt.date | None = None) -> list[Finding]:
    """Personal data and secrets in one file's text."""
    return personal_data(text, path, today) + secrets(text, path)


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
