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

import dataclasses
import datetime as dt
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import gitrepo, ops
from ..config import KB
from ..entries import parse_text, read_entry, relpath, write_atomic
from ..errors import EntryError, Refused
from ..models import TLP_ORDER, Entry, tlp_rank

PERSONAL = "personal-data"
SECRET = "secret"
TLP = "tlp"
INVALID = "invalid"
UNSCANNED = "unscanned"

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

_BANNER = re.compile(r"(?i)\bTLP\s*:\s*(?P<level>amber\s*\+\s*strict|amber|red)\b")


def banner(text: str) -> str | None:
    """The strictest TLP marking written in a text (`TLP:RED`, `TLP: amber+strict`), if any."""
    levels = {re.sub(r"\s+", "", match["level"]).lower() for match in _BANNER.finditer(text)}
    return max(levels, key=tlp_rank) if levels else None


def scan_file(
    data: bytes, path: str, *, max_tlp: str, today: dt.date, cache_dir: Path | None
) -> list[Finding]:
    """Personal data, secrets and TLP banners in any file, read through textextract.

    A finding in an attachment names its place (page, sheet and cell, slide); what cannot
    be read in full is an `unscanned` finding: the gate does not send what it cannot read.
    """
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
    for finding in scan(text, path, today):
        if not plain:
            at = _offset_of_line(text, finding.line)
            begin, part = max((item for item in starts if item[0] <= at), key=lambda i: i[0])
            finding = dataclasses.replace(  # a line of the joined text means nothing here
                finding, line=1, message=f"{finding.message} ({part.where(at - begin)})"
            )
        found.append(finding)
    marking = banner(text)
    if marking is not None and tlp_rank(marking) > tlp_rank(max_tlp):
        line = _line(text, _BANNER.search(text).start()) if plain else 1
        found.append(tlp_finding(marking, max_tlp, path=path, line=line))
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


# ---------------------------------------------------------------- the entry gate


class GateRefused(Refused):
    """Something may not leave (or come in): carries every finding, each with file and line."""

    def __init__(self, action: str, findings: list[Finding], hint: str | None = None) -> None:
        lines = "\n".join(f"  {finding}" for finding in findings)
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
) -> tuple[Entry, list[Finding], list[str], dict[str, Any] | None]:
    """Every gate before a commit: validity, TLP, personal data, secrets, unread files.

    Returns (entry, accepted findings, attachments let through unscanned, override).
    Raises GateRefused listing every reason. With a reason, personal data (or an attachment
    that cannot be read) is let through and the override (reason, who, when, which kinds or
    files) is written into the entry first.
    """
    findings, entry = _entry_findings(kb, path, today)
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
        findings, entry = _entry_findings(kb, path, today)
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


def _entry_findings(kb: KB, path: Path, today: dt.date) -> tuple[list[Finding], Entry]:
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
        if issue.severity == "error" and (issue.path == rel or issue.path.startswith(folder))
    ]
    tlp = tlp_finding(entry.meta.get("tlp"), kb.max_tlp, path=rel, line=entry.line_of("tlp"))
    findings += [tlp] if tlp else []
    findings += scan(path.read_text("utf-8"), rel, today)
    names = entry.meta.get("attachments") if entry.type == "work-product" else None
    for name in names if isinstance(names, list) else ():
        attachment = path.parent / path.stem / str(name)
        if "/" in str(name) or not attachment.is_file() or attachment.is_symlink():
            continue
        findings += scan_file(
            attachment.read_bytes(), relpath(attachment, kb.root),
            max_tlp=kb.max_tlp, today=today, cache_dir=extract_cache(kb),
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
