"""Personal data in text and tables: what no library does for US crime-analysis text.

Social security numbers (their number rules from python-stdnum), dates of birth (with the
person's age, so juveniles stand out), driver licence numbers and plates next to the words
that name them, phone numbers, e-mail addresses outside government and the KB's allowlist,
and tables (Markdown, CSV, TSV, or any the caller reads) whose column headers name personal
data. Text is normalised first, line for line, so look-alike digits, dashes, invisible
characters and HTML entities hide nothing; every pattern is linear.

Over 600 lines because the prose and the table detectors share one normaliser, one date
grammar, one set of kinds and messages, and each other (a Markdown table inside prose, a
date of birth inside a cell): split, each half would import the other's internals.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from .findings import PERSONAL, Finding

# ---------------------------------------------------------------- normalising
#
# Analysts paste from e-mail, Word and web pages: the detectors read a normalised copy of
# the text, in which NFKC has folded full-width and other compatibility forms, every
# decimal digit is an ASCII digit, zero-width characters and soft hyphens are gone,
# non-breaking spaces are spaces, every dash is '-', a dot between digits is '-' and HTML
# entities are decoded. The map back to the original is by line: normalising never adds or
# removes a line break, so line n of the copy is line n of the original, and findings name
# lines (never columns, never the value itself).

_REMOVED = "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # zero-width characters, soft hyphen
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_FIXED = (
    {ord(char): None for char in _REMOVED}
    | {ord(char): "-" for char in _DASHES}
    | {0x00A0: " ", 0x202F: " "}
)
_ENTITY = re.compile(r"&(?:#[0-9]{1,8};?|#[xX][0-9a-fA-F]{1,8};?|[A-Za-z][A-Za-z0-9]{1,31};?)")
_DIGIT_DOT = re.compile(r"(?<=\d)\.(?=\d)")


def _decoded_entity(match: re.Match) -> str:
    import html

    return html.unescape(match.group()).replace("\n", " ").replace("\r", " ")


def normalise(text: str) -> str:
    """The text as the personal-data detectors read it, line for line (see above)."""
    if "&" in text:
        text = _ENTITY.sub(_decoded_entity, text)
    if not text.isascii():
        import unicodedata

        text = unicodedata.normalize("NFKC", text)
        table = dict(_FIXED)
        for char in set(text):
            if not char.isascii() and char.isdecimal():
                table[ord(char)] = str(unicodedata.digit(char))
        text = text.translate(table)
    if "." in text:
        text = _DIGIT_DOT.sub("-", text)
    return text


class _Lines:
    """Line numbers of offsets in one text, by bisection (counting newlines for each
    finding would make a text dense with findings quadratic)."""

    def __init__(self, text: str) -> None:
        self.ends = [match.start() for match in re.finditer("\n", text)]

    def __call__(self, offset: int) -> int:
        return bisect.bisect_left(self.ends, offset) + 1


# ---------------------------------------------------------------- personal data in prose
#
# Every quantifier between a label and its value is bounded ({0,3}), and no two adjacent
# parts can match the same characters unboundedly, so no pattern backtracks
# catastrophically: tests run each one over a megabyte of adversarial text.

_SEP = r"\s{0,3}(?:(?:[:#=-]|(?i:is|was))\s{0,3}){0,2}"  # "DOB: ", "SSN # ", "is", "-"
_SSN_DELIMITED = re.compile(r"(\d(?<![\d-]\d)\d{2})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SSN_CONTEXT = re.compile(
    r"[Ss](?<![A-Za-z][Ss])(?i:sn|s\#|oc(?:ial)?\.?\s{1,3}sec(?:urity)?\.?"
    r"(?:\s{1,3}(?:no|number|num)\.?)?)(?![A-Za-z])"
    + _SEP
    + r"(\d{3})[- ]?(\d{2})[- ]?(\d{4})(?!\d)"
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
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = (
    r"(?:(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    r"|(?P<um>\d{1,2})[/.-](?P<ud>\d{1,2})[/.-](?P<uy>\d{4}|\d{2})"
    r"|(?P<cy>(?:19|20)\d{2})(?P<cm>[01]\d)(?P<cd>[0-3]\d)"
    r"|(?P<xm>[01]\d)(?P<xd>[0-3]\d)(?P<xy>(?:19|20)\d{2})"
    rf"|(?P<month>{_MONTH_NAMES})\.?\s{{1,3}}(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,?\s{{1,3}}(?P<my>\d{{4}})"
    rf"|(?P<dd>\d{{1,2}})\s{{1,3}}(?P<dmonth>{_MONTH_NAMES})\.?,?\s{{1,3}}(?P<dy>\d{{4}}))"
)
_DOB = re.compile(
    r"(?:[Dd](?<![A-Za-z][Dd])(?i:\.?\s?o\.?\s?b|ate\s{1,3}of\s{1,3}birth)\.?(?![A-Za-z])"
    r"|[Bb](?<![A-Za-z][Bb])(?:(?i:irth\s{0,3}date|irthday|orn(?:\s{1,3}on)?)\.?(?![A-Za-z])"
    r"|(?:(?<=\([Bb])|(?<=,[Bb])|(?<=, [Bb]))\.))" + _SEP + r"(?i:" + _DATE + r")(?!\d)"
)
_NAME_WORD = r"(?:[A-Z][a-z]{1,20}|[A-Z]{2,20})"
_NAME_REST = r"(?:[a-z]{1,20}|[A-Z]{1,19})"  # a name word after its first capital
_NAMED_DATE = re.compile(  # "John Smith 20050304", "SMITH, JOHN A (20050304)", and the reverse
    rf"(?P<first>[A-Z](?<![\w-][A-Z]){_NAME_REST})(?:,\s?|\s)(?P<second>{_NAME_WORD})(?:\s[A-Z]\.?)?"
    r"[\s,;(]{1,3}(?P<date>\d{8})(?![\w-])"
    r"|(?P<date2>\d(?<![\w-]\d)\d{7})[\s,;)]{1,3}"
    rf"(?P<first2>{_NAME_WORD})(?:,\s?|\s)(?P<second2>{_NAME_WORD})(?![\w-])"
)
_NOT_NAMES = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "by",
        "case",
        "created",
        "date",
        "dated",
        "file",
        "for",
        "from",
        "id",
        "in",
        "incident",
        "lead",
        "month",
        "no",
        "number",
        "of",
        "on",
        "or",
        "ref",
        "report",
        "reported",
        "run",
        "since",
        "the",
        "through",
        "to",
        "until",
        "updated",
        "version",
        "week",
        "year",
    ]
)
_LICENCE = re.compile(
    r"[DdOo](?<![A-Za-z][DdOo])"
    r"(?:(?i:(?<=d)riv(?:er['’]?s?|ing)|(?<=o)perator['’]?s?)\s{1,3}(?i:licen[cs]e)"
    r"(?:\s{1,3}(?i:no|number|num)\.?)?"
    r"|(?:(?<=D)(?:L|/L|LN)|(?<=O)LN)(?:\s{0,3}(?i:no|number|num)\.?)?)"
    + _SEP
    + r"(?P<value>[A-Za-z0-9][A-Za-z0-9-]{4,19})(?![A-Za-z0-9-])"
)
_PLATE = re.compile(
    r"(?P<word>[LlPpTtRr](?<![A-Za-z][LlPpTtRr])(?i:(?<=l)(?:icen[cs]e\s{1,3}plate|pn?)"
    r"|(?<=p)late|(?<=t)ag|(?<=r)egistration)(?![A-Za-z]))"
    r"(?i:\s{0,3}(?:no|number|num)\.?(?![a-z]))?"
    + _SEP
    + r"(?P<value>[A-Z0-9]{1,4}[- ]?[A-Z0-9]{1,4})(?![A-Za-z0-9-])"
)
_LOCAL = (  # a run of these characters starts a local part only once
    r"(?P<local>[A-Za-z0-9._%+-](?<![\w.%+-][A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*)"
)
_LABEL = r"[A-Za-z0-9-]+"
_DOT_SPELLED = r"\s{0,3}[\[({<]\s{0,3}(?i:dot)\s{0,3}[\])}>]\s{0,3}|\s{1,3}(?i:dot)\s{1,3}"
_EMAIL = re.compile(_LOCAL + rf"@(?P<domain>{_LABEL}(?:\.{_LABEL})+)")
_EMAIL_HIDDEN = re.compile(  # name [at] gmail [dot] com, name(at)gmail.com, name at gmail dot com
    _LOCAL
    + r"(?:(?:\s{0,3}[\[({<]\s{0,3}(?i:at)\s{0,3}[\])}>]\s{0,3}|\s{1,3}@\s{0,3}|@\s{1,3})"
    + rf"(?P<domain>{_LABEL}(?:(?:\.|{_DOT_SPELLED}){_LABEL}){{1,8}})"
    + rf"|\s{{1,3}}(?i:at)\s{{1,3}}(?P<domain2>{_LABEL}(?:(?:{_DOT_SPELLED}){_LABEL}){{1,8}}))"
)
_DOMAIN_DOTS = re.compile(r"\.|" + _DOT_SPELLED)
_PHONE_US = re.compile(
    r"(?<![\w+-])(?:\+?1[\s-]{0,2})?(?:\((?P<area>\d{3})\)\s{0,2}|(?P<area2>\d{3})[\s-]{1,2})"
    r"(?P<exchange>\d{3})[\s-]{0,2}\d{4}(?![\w-])"
)
_PHONE_CONTEXT = re.compile(  # an undelimited number only after a word that names it
    r"[PpCcTtMm](?<![A-Za-z][PpCcTtMm])"
    r"(?i:(?<=p)(?:hone|h)|(?<=c)ell|(?<=t)el|(?<=m)obile)\.?(?![A-Za-z])"
    + _SEP
    + r"(?:\+?1)?(?P<number>\d{10})(?!\d)"
)
_PHONE_INTL = re.compile(
    r"\+(?<![\w+]\+)(?P<number>[2-9]\d{0,14}(?:[\s-]{1,2}\d{1,6}){0,6})(?![\w-])"
)
_PUBLIC_AREA_CODES = frozenset(("800", "822", "833", "844", "855", "866", "877", "888", "900"))
INTERNATIONAL_CHECKS = 1_000  # numbers per file checked with phonenumbers; past that, by shape

PATTERNS = {
    "ssn": _SSN_DELIMITED,
    "ssn-context": _SSN_CONTEXT,
    "date-of-birth": _DOB,
    "date-beside-name": _NAMED_DATE,
    "driver-licence": _LICENCE,
    "plate": _PLATE,
    "email": _EMAIL,
    "email-obfuscated": _EMAIL_HIDDEN,
    "phone": _PHONE_US,
    "phone-context": _PHONE_CONTEXT,
    "phone-international": _PHONE_INTL,
    "entity": _ENTITY,
}

# E-mail domains that are not a private person's: government and military (US and
# `*.gov.xx` abroad), US state and local government under `.us` (`*.state.tn.us`,
# `ci.memphis.tn.us`: three or more labels ending in a state code, but not `k12`, whose
# addresses are often pupils'), and the reserved example domains. A KB adds its own
# partners' domains in cacop.yaml under share.email_allowlist.
_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_TLDS = frozenset(("example", "test", "invalid", "localhost", "local"))


def email_is_public(domain: str, allowlist: Iterable[str] = ()) -> bool:
    """True for an agency's or government's mail domain (or one the KB allows)."""
    labels = domain.lower().strip(".").split(".")
    name = ".".join(labels)
    if labels[-1] in ("gov", "mil") or labels[-1] in _RESERVED_TLDS:
        return True
    if len(labels) >= 3 and labels[-2] in ("gov", "mil"):
        return True
    state_or_local = labels[-2] == "fed" or len(labels[-2]) == 2
    if labels[-1] == "us" and len(labels) >= 3 and state_or_local and "k12" not in labels:
        return True
    allowed = (*_RESERVED_DOMAINS, *(str(entry).lower().strip(".") for entry in allowlist))
    return any(name == entry or name.endswith("." + entry) for entry in allowed)


def _dob_date(groups: dict[str, str | None]) -> dt.date | None:
    try:
        if groups.get("iy"):
            return dt.date(int(groups["iy"]), int(groups["im"]), int(groups["id"]))
        if groups.get("uy"):
            year = int(groups["uy"])
            year += 2000 if len(groups["uy"]) == 2 and year < 50 else 0
            year += 1900 if len(groups["uy"]) == 2 and year < 100 else 0
            return dt.date(year, int(groups["um"]), int(groups["ud"]))
        if groups.get("cy"):
            return dt.date(int(groups["cy"]), int(groups["cm"]), int(groups["cd"]))
        if groups.get("xy"):
            return dt.date(int(groups["xy"]), int(groups["xm"]), int(groups["xd"]))
        if groups.get("my"):
            month = _MONTHS[groups["month"].lower()]
            return dt.date(int(groups["my"]), month, int(groups["md"]))
        if groups.get("dy"):
            month = _MONTHS[groups["dmonth"].lower()]
            return dt.date(int(groups["dy"]), month, int(groups["dd"]))
    except (ValueError, KeyError, TypeError):
        return None
    return None


def _compact_date(digits: str) -> dt.date | None:
    """YYYYMMDD or MMDDYYYY, when either is a real date."""
    for year, month, day in (
        (digits[:4], digits[4:6], digits[6:]),
        (digits[4:], digits[:2], digits[2:4]),
    ):
        try:
            return dt.date(int(year), int(month), int(day))
        except ValueError:
            continue
    return None


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _dob_message(born: dt.date | None, today: dt.date) -> str:
    if born is not None and isinstance(today, KeptDay):
        return f"{AGE_MARK}{born.isoformat()}\x00"
    if born is None or born > today:
        return "a date of birth"
    age = _age(born, today)
    return f"a date of birth (age {age}" + (": a juvenile)" if age < 18 else ")")


# ---------------------------------------------------------------- findings kept across days
#
# A date of birth's message says the person's age, and a name beside an eight-digit date is
# a date of birth only if that date is past and less than 111 years ago: a scan's findings
# hang on the day. A scan whose findings are kept for other days (share/scancache.py) runs
# with a KeptDay: each date of birth's message then holds the date (`aged` writes the age on
# the day the findings are read), and the day notes the span of days over which every other
# decision it took on a date comes out the same; outside that span the text is scanned anew.

AGE_MARK = "\x00born "
_AGED = re.compile(r"\x00born (\d{4}-\d{2}-\d{2})\x00")


class KeptDay(dt.date):
    """Today, for a scan whose findings are kept for other days: `first` and `last` are the
    first and last days on which the same text gives the same findings (after `aged`)."""

    first: dt.date
    last: dt.date

    def __new__(cls, day: dt.date) -> KeptDay:
        made = super().__new__(cls, day.year, day.month, day.day)
        made.first, made.last = dt.date.min, dt.date.max
        return made

    def decided_on(self, born: dt.date) -> None:
        """A decision was taken on `born` (past? less than 111 years ago?): narrow the span
        to the days on which it comes out the same."""
        day = dt.date(self.year, self.month, self.day)
        try:  # the first day on which the person is 111 (_age counts a 29 February so)
            old = born.replace(year=born.year + 111)
        except ValueError:
            old = dt.date(born.year + 111, 3, 1) if born.year + 111 <= dt.MAXYEAR else dt.date.max
        if day < born:
            self.last = min(self.last, born - dt.timedelta(days=1))
        elif day < old:
            self.first = max(self.first, born)
            self.last = min(self.last, old - dt.timedelta(days=1))
        else:
            self.first = max(self.first, old)


def aged(message: str, today: dt.date) -> str:
    """A kept finding's message as a scan on `today` writes it (see KeptDay)."""
    if AGE_MARK not in message:
        return message

    def age(match: re.Match) -> str:
        try:
            return _dob_message(dt.date.fromisoformat(match[1]), today)
        except ValueError:  # not a mark this module wrote: say no more than that
            return "a date of birth"

    return _AGED.sub(age, message)


def _valid_ssn(*parts: str) -> bool:
    from stdnum.us import ssn

    return ssn.is_valid("".join(parts))


def _us_phone(area: str, exchange: str) -> bool:
    """A North American number a person could answer: not toll-free or premium-rate."""
    return (
        area[0] in "23456789"
        and area[1:] != "11"
        and exchange[0] in "23456789"
        and area not in _PUBLIC_AREA_CODES
    )


@functools.lru_cache(maxsize=4096)
def _international_phone(digits: str) -> bool:
    import phonenumbers
    from phonenumbers import PhoneNumberType

    public = {PhoneNumberType.TOLL_FREE, PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST}
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) not in public


class _Findings:
    """Findings in one normalised text; each span is reported once (a phone is not an SSN too)."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.line = _Lines(text)
        self.taken = bytearray(len(text) + 1)
        self.found: list[Finding] = []

    def overlaps(self, start: int, end: int) -> bool:
        return self.taken.find(1, start, max(end, start + 1)) != -1

    def add(self, kind: str, start: int, end: int, message: str) -> None:
        self.taken[start:end] = b"\x01" * (end - start)
        self.found.append(Finding(PERSONAL, kind, self.path, self.line(start), message))


def personal_data(
    text: str,
    path: str,
    today: dt.date | None = None,
    email_allowlist: Iterable[str] = (),
) -> list[Finding]:
    """Personal data about people in a file's text: each finding names its kind and line.

    Prose is searched for SSNs, dates of birth, driver licences, plates, private e-mail
    addresses and phone numbers; Markdown tables, and the whole file when `path` ends in
    .csv or .tsv, are read as tables too (see `table_personal_data`).
    """
    today = today or dt.date.today()
    allowlist = tuple(email_allowlist)
    text = normalise(text)
    findings = _Findings(text, path)
    add, overlaps = findings.add, findings.overlaps

    for match in _SSN_CONTEXT.finditer(text):
        if _valid_ssn(*match.groups()):
            add("ssn", match.start(1), match.end(3), "a social security number")
    for match in _SSN_DELIMITED.finditer(text):
        if not overlaps(match.start(), match.end()) and _valid_ssn(*match.group(1, 3, 4)):
            add("ssn", match.start(), match.end(), "what looks like a social security number")
    for match in _DOB.finditer(text):
        add(
            "date-of-birth",
            match.start(),
            match.end(),
            _dob_message(_dob_date(match.groupdict()), today),
        )
    for match in _NAMED_DATE.finditer(text):
        words = (
            match.group("first", "second") if match["date"] else match.group("first2", "second2")
        )
        born = _compact_date(match["date"] or match["date2"])
        if born is not None and isinstance(today, KeptDay):
            today.decided_on(born)
        if born is None or born > today or _age(born, today) > 110 or overlaps(*match.span()):
            continue
        if not any(word.lower() in _NOT_NAMES for word in words):
            add("date-of-birth", match.start(), match.end(), _dob_message(born, today))
    for match in _LICENCE.finditer(text):
        if any(char.isdigit() for char in match["value"]) and not overlaps(*match.span("value")):
            add("driver-licence", match.start(), match.end(), "a driver licence number")
    for match in _PLATE.finditer(text):
        value = match["value"].replace("-", "").replace(" ", "")
        needs_letters = match["word"].lower() in ("tag", "registration")
        has_digit = any(char.isdigit() for char in value)
        has_letter = any(char.isalpha() for char in value)
        plate_like = len(value) >= 3 and has_digit and (has_letter or not needs_letters)
        if plate_like and not overlaps(*match.span("value")):
            add("plate", match.start(), match.end(), "a vehicle licence plate")
    for pattern in (_EMAIL, _EMAIL_HIDDEN):
        for match in pattern.finditer(text):
            labels = _DOMAIN_DOTS.split(match["domain"] or match["domain2"])
            domain = ".".join(labels).lower()
            top = labels[-1]
            if not (2 <= len(top) <= 24 and top.isalpha()) or overlaps(*match.span()):
                continue
            if not email_is_public(domain, allowlist):
                add("email", match.start(), match.end(), f"a private e-mail address (@{domain})")
    _phones(text, findings)
    found = findings.found
    table_found = _tables_in(text, path, today, allowlist)
    if table_found:
        in_tables = {(finding.line, finding.kind) for finding in table_found}
        found = [finding for finding in found if (finding.line, finding.kind) not in in_tables]
        found += table_found
    found.sort(key=lambda finding: (finding.line, finding.kind))
    return found


def _phones(text: str, findings: _Findings) -> None:
    """Phone numbers of people: North American numbers (not toll-free or premium-rate lines)
    by their shape, and +international ones checked by phonenumbers (Google's
    libphonenumber). An undelimited ten-digit number counts only after a word such as
    "cell" or "phone": alone, it is as likely a case number."""
    for match in _PHONE_US.finditer(text):
        shaped = _us_phone(match["area"] or match["area2"], match["exchange"])
        if shaped and not findings.overlaps(*match.span()):
            findings.add("phone", match.start(), match.end(), "a phone number")
    for match in _PHONE_CONTEXT.finditer(text):
        number = match["number"]
        if _us_phone(number[:3], number[3:6]) and not findings.overlaps(*match.span("number")):
            findings.add("phone", match.start(), match.end(), "a phone number")
    checked = 0
    for match in _PHONE_INTL.finditer(text):
        digits = re.sub(r"\D", "", match["number"])
        if not 8 <= len(digits) <= 15 or findings.overlaps(*match.span()):
            continue
        checked += 1
        if checked > INTERNATIONAL_CHECKS or _international_phone(digits):
            findings.add("phone", match.start(), match.end(), "a phone number")


# ---------------------------------------------------------------- personal data in tables
#
# A column whose header names personal data makes every filled cell of it a finding,
# whatever the cell looks like. Headers are compared after normalising (case,
# punctuation, spaces, camelCase, `#` and `No.`), with the words that say whose field it
# is ("Suspect", "Home") set aside, so `D.O.B.`, `Suspect DOB`, `Soc Sec #`, `DL#`,
# `Driver's License`, `LP#`, `Last Name`, `Home Address` and `E-mail` are all found,
# while `Site Name`, `Agency Name`, `Beat`, `District`, `Offense` or `Count` are not.
# Three judgements keep analysts' own tables shareable:
# - an address cell is personal data when it holds a house number: a hundred-block
#   ("1200 block of N 5th St", "12XX N 5th St", "1200 BLK") is how analysts anonymise a
#   location and is not, nor is a street or an intersection with no number;
# - under a bare `Tag` header (a plate in police usage, a label in everyone else's) only
#   cells shaped like a plate count: 2-8 letters and digits with a digit, or capitals;
# - an e-mail cell at an allowed domain (see `email_is_public`) is not personal data.
# Placeholders ("", "-", "N/A", "unknown", "redacted", "XXX") are empty cells.

_PERSON_WORDS = frozenset(
    [
        "suspect",
        "suspects",
        "victim",
        "victims",
        "offender",
        "arrestee",
        "witness",
        "complainant",
        "defendant",
        "subject",
        "person",
        "juvenile",
        "parent",
        "guardian",
        "reporting",
        "party",
        "rp",
        "home",
        "res",
        "residence",
        "residential",
        "mailing",
        "current",
        "previous",
        "prior",
        "permanent",
        "physical",
        "primary",
        "secondary",
        "alt",
        "alternate",
        "legal",
    ]
)
_ROLE_ONLY = frozenset(
    ["suspect", "victim", "offender", "arrestee", "witness", "complainant", "defendant", "juvenile"]
)
_NUMBER_WORDS = frozenset(("no", "number", "num", "nbr", "nr"))
_COLUMN_KINDS = {
    **dict.fromkeys(
        [
            "dob",
            "dateofbirth",
            "birthdate",
            "birthday",
            "bdate",
            "birthdt",
            "dobdate",
            "datebirth",
            "dtofbirth",
        ],
        "date-of-birth",
    ),
    **dict.fromkeys(
        [
            "ssn",
            "ss",
            "ssan",
            "socsec",
            "socialsecurity",
            "socsecurity",
            "socialsec",
            "socialsecuritynumber",
        ],
        "ssn",
    ),
    **dict.fromkeys(
        [
            "oln",
            "dl",
            "dln",
            "dlid",
            "driverslicense",
            "driverlicense",
            "driverslicence",
            "driverlicence",
            "drivinglicense",
            "drivinglicence",
            "operatorslicense",
            "operatorlicense",
            "driverslic",
            "driverlic",
        ],
        "driver-licence",
    ),
    **dict.fromkeys(
        [
            "plate",
            "plates",
            "licenseplate",
            "licenceplate",
            "licplate",
            "lp",
            "lpn",
            "vehicletag",
            "vehtag",
            "vehicleplate",
            "vehplate",
            "tagplate",
            "tag",
        ],
        "plate",
    ),
    **dict.fromkeys(
        [
            "name",
            "firstname",
            "lastname",
            "middlename",
            "fullname",
            "givenname",
            "familyname",
            "surname",
            "fname",
            "lname",
            "mname",
            "maidenname",
            "nickname",
            "alias",
            "aka",
            "lastfirst",
            "firstlast",
            "lastnamefirstname",
            "firstnamelastname",
            "ownername",
            "registeredowner",
        ],
        "name",
    ),
    **dict.fromkeys(
        [
            "phone",
            "telephone",
            "tel",
            "cell",
            "cellphone",
            "cellular",
            "mobile",
            "mobilephone",
            "ph",
            "fax",
        ],
        "phone",
    ),
}
_NOT_ADDRESSES = ("ipaddress", "ipaddr", "macaddress", "webaddress", "emailaddress", "url")
_PLACEHOLDERS = frozenset(
    [
        "-",
        "--",
        "---",
        "n/a",
        "na",
        "n.a.",
        "none",
        "null",
        "nil",
        "unknown",
        "unk",
        "redacted",
        "[redacted]",
        "(redacted)",
        "withheld",
        "tbd",
        "?",
    ]
) | {"not applicable", "not known"}
_MASKED = re.compile(r"[xX*#._ -]*")
_HUNDRED_BLOCK = re.compile(r"(?i)\b\d{1,6}\s{0,3}-?\s{0,3}(?:block|blk)\b|\b\d{0,4}xx\b")
_HOUSE_NUMBER = re.compile(
    r"(?i)^\s{0,9}\d{1,6}(?:[a-z](?![a-z]))?(?:-\d{1,6})?(?![\d/:.-]|st\b|nd\b|rd\b|th\b)|\bp\.?\s?o\.?\s{0,3}box\s{0,3}\d"
)
_PLATE_CELL = re.compile(r"(?=[A-Z0-9 -]*\d)[A-Z0-9][A-Z0-9 -]{1,8}|[A-Z]{2,8}")
_DATE_CELL = re.compile(r"\s{0,9}(?i:" + _DATE + r")\s{0,9}")
_CELL_MESSAGES = {
    "ssn": "a social security number",
    "driver-licence": "a driver licence number",
    "plate": "a vehicle licence plate",
    "name": "a person's name",
    "address": "an address with a house number",
    "phone": "a phone number",
    "email": "an e-mail address",
}


@functools.lru_cache(maxsize=4096)
def column_kind(header: str) -> str | None:
    """The kind of personal data a table column holds, judged by its header (or None)."""
    words = _header_words(header)
    core = list(words)
    while core and core[-1] in _NUMBER_WORDS:
        core.pop()
    while core and core[0] in _PERSON_WORDS:
        core.pop(0)
    compact = "".join(core)
    if "email" in compact:
        return "email"
    if compact in _COLUMN_KINDS:
        return _COLUMN_KINDS[compact]
    if "ssn" in core:
        return "ssn"
    if "dob" in core or "dateofbirth" in compact or "birthdate" in compact:
        return "date-of-birth"
    if compact.endswith(("address", "addr")) and not compact.endswith(_NOT_ADDRESSES):
        return "address"
    if compact in ("address1", "address2", "addressline1", "addressline2", "addressline"):
        return "address"
    if not core:  # only whose it is: "Victim", "Suspect"
        return "name" if len(words) == 1 and words[0] in _ROLE_ONLY else None
    return None


def _header_words(header: str) -> list[str]:
    text = normalise(str(header))
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text).lower()
    text = re.sub(r"['’`]", "", text).replace("#", " no ")
    return re.sub(r"[^a-z0-9]+", " ", text).split()


def _bare_tag(header: str) -> bool:
    core = [word for word in _header_words(header) if word not in _NUMBER_WORDS]
    return core == ["tag"]


def _cell_is_personal(kind: str, value: str, bare_tag: bool, allowlist: tuple[str, ...]) -> bool:
    cell = value.strip().strip("*_`").strip()
    if not cell or cell.lower() in _PLACEHOLDERS or _MASKED.fullmatch(cell):
        return False
    if kind == "address":
        return not _HUNDRED_BLOCK.search(cell) and bool(_HOUSE_NUMBER.search(cell))
    if kind == "plate" and bare_tag:
        return bool(_PLATE_CELL.fullmatch(cell))
    if kind == "email" and "@" in cell:
        return not email_is_public(cell.rsplit("@", 1)[1], allowlist)
    return True


def table_personal_data(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    path: str,
    locate: Callable[[int, int], tuple[int, str]] | None = None,
    today: dt.date | None = None,
    email_allowlist: Iterable[str] = (),
) -> list[Finding]:
    """Every filled cell under a column whose header names personal data (see above).

    `locate(row, column)` (both counted from 0, rows after the header) gives the line of
    the finding and how to name the cell in its message; by default the header is line 1
    and the cell is named "row N" (counted from 1).
    """
    today = today or dt.date.today()
    allowlist = tuple(email_allowlist)
    columns = []
    for number, header in enumerate(headers):
        if kind := column_kind(str(header)):
            columns.append((number, kind, str(header).strip()[:40], _bare_tag(str(header))))
    if not columns:
        return []
    locate = locate or (lambda row, column: (row + 2, f"row {row + 1}"))
    found = []
    for row_number, row in enumerate(rows):
        for number, kind, header, bare_tag in columns:
            value = normalise(str(row[number])) if number < len(row) else ""
            if not _cell_is_personal(kind, value, bare_tag, allowlist):
                continue
            if kind == "date-of-birth":
                match = _DATE_CELL.fullmatch(value[:40])
                message = _dob_message(_dob_date(match.groupdict()) if match else None, today)
            else:
                message = _CELL_MESSAGES[kind]
            line, place = locate(row_number, number)
            found.append(
                Finding(PERSONAL, kind, path, line, f"{message} in column '{header}' ({place})")
            )
    return found


def markdown_tables(text: str) -> Iterator[tuple[list[str], list[tuple[int, list[str]]]]]:
    """Pipe tables in Markdown text: (headers, [(line, cells), …]) with 1-based lines."""
    lines = text.split("\n")
    number = 0
    while number < len(lines) - 1:
        if "|" in lines[number] and _is_delimiter_row(lines[number + 1]):
            headers = _pipe_cells(lines[number])
            rows = []
            after = number + 2
            while after < len(lines) and "|" in lines[after] and lines[after].strip():
                rows.append((after + 1, _pipe_cells(lines[after])))
                after += 1
            yield headers, rows
            number = after
        else:
            number += 1


def _is_delimiter_row(line: str) -> bool:
    row = line.strip()
    return "|" in row and "-" in row and not row.strip("|:- \t")


def _pipe_cells(line: str) -> list[str]:
    row = line.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row)]


def delimited_table(text: str, path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV or TSV file's header and rows [(line, cells), …], read by the csv module.

    The delimiter is the one of `,` `;` tab `|` most frequent in the header line (a tab
    for .tsv when it has one); csv.Sniffer is not used, as its regular expressions are
    slow on hostile input. Rows stop at the first the csv module cannot read.
    """
    import csv
    import io

    first = text.split("\n", 1)[0]
    counts = {delimiter: first.count(delimiter) for delimiter in ",;\t|"}
    delimiter = max(counts, key=counts.get)
    if path.lower().endswith(".tsv") and counts["\t"]:
        delimiter = "\t"
    if not counts[delimiter]:
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    headers: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if not headers:
                headers = cells
            elif any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error:
        pass
    return headers, rows


def _tables_in(text: str, path: str, today: dt.date, allowlist: tuple[str, ...]) -> list[Finding]:
    found: list[Finding] = []
    tables = list(markdown_tables(text)) if "|" in text else []
    if path.lower().endswith((".csv", ".tsv")):
        tables.append(delimited_table(text, path))
    for headers, rows in tables:
        lines = [line for line, _ in rows]
        found += table_personal_data(
            headers,
            [cells for _, cells in rows],
            path,
            lambda row, column, lines=lines: (lines[row], f"row {row + 1}"),
            today,
            allowlist,
        )
    return found
