"""Plain data passed between the core and the CLI. Stdlib only."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ExitCode, UsageError

TYPES = ("strategy", "work-product", "rfi", "response")
TOPICS = (
    "gun-violence",
    "federal-partnerships",
    "crime-analysis",
    "technology",
    "criminal-justice-collaboration",
    "investigations",
    "community-engagement",
)
TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
# FIRST's colours: each label's own colour on black (CLEAR: white on black).
TLP_COLOURS = {
    "clear": "#FFFFFF",
    "green": "#33FF00",
    "amber": "#FFC000",
    "amber+strict": "#FFC000",
    "red": "#FF2B2B",
}
TLP_BACKGROUND = "#000000"
# FIRST's TLP 2.0 definitions, shortened to one line for a banner.
TLP_MEANING = {
    "clear": "Recipients can spread this to the world; there is no limit on disclosure.",
    "green": "Limited disclosure: recipients can spread this within their community.",
    "amber": "Limited disclosure: recipients may share this only on a need-to-know basis "
    "within their organization and its clients.",
    "amber+strict": "Limited disclosure: recipients may share this only within their "
    "organization, on a need-to-know basis.",
    "red": "For the eyes and ears of individual recipients only, no further disclosure.",
}
STRATEGY_STATUSES = ("proposed", "active", "evaluated", "retired")
EVIDENCE = ("effective", "promising", "no-effects", "insufficient", "untested")
PRODUCT_TYPES = (
    "bulletin", "problem-profile", "network-analysis", "map", "dashboard", "template", "sop",
    "training", "report", "other",
)  # fmt: skip
RFI_STATUSES = ("open", "answered", "closed")
PRIORITIES = ("routine", "priority", "urgent")
TYPE_FOLDERS = {"strategy": "strategies", "work-product": "work-products", "rfi": "rfis"}
ENTRY_FOLDERS = tuple(TYPE_FOLDERS.values())  # where entries live; responses sit inside rfis/

# Characters entry text must not carry to a terminal, in one place for every module: the C0
# controls but tab and newline, DEL and the C1 controls (ESC sequences, 0x9b CSI); and the
# invisible marks that change which way text reads (LRE..RLO, LRI..PDI, LRM, RLM, ALM).
CONTROL_CHARS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
BIDI_CHARS = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
# CONTROL, BIDI and UNSAFE_TEXT (either kind, in one scan) are compiled on first use, by
# __getattr__ below: `--version` and `--help` load this module and never need them.
_PATTERNS = {
    "CONTROL": f"[{CONTROL_CHARS}]",
    "BIDI": f"[{BIDI_CHARS}]",
    "UNSAFE_TEXT": f"[{CONTROL_CHARS}{BIDI_CHARS}]",
}


def _compiled(name: str) -> re.Pattern[str]:
    """One of the patterns above, from inside this module (where __getattr__ is not asked)."""
    return globals().get(name) or __getattr__(name)


def __getattr__(name: str) -> Any:
    if name in _PATTERNS:
        pattern = globals()[name] = re.compile(_PATTERNS[name])
        return pattern
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MAX_TITLE = 200  # a title is 1-200 characters (the schemas say so too)


def _is_iso_date(text: str) -> bool:
    """YYYY-MM-DD by shape (no regex: this module loads on every command)."""
    return (
        len(text) == 10
        and text[4] == text[7] == "-"
        and (text[:4] + text[5:7] + text[8:]).isdigit()
        and text.isascii()
    )


def iso_date(text: Any) -> dt.date | None:
    """The date a YYYY-MM-DD string names; None when it is not one (or not a real day)."""
    if isinstance(text, str) and _is_iso_date(text.strip()):
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            return None
    return None


def tlp_rank(tlp: str) -> int:
    """How strict a TLP marking is (clear=0 … red=4); unknown markings count as strictest."""
    try:
        return TLP_ORDER.index(tlp)
    except ValueError:
        return len(TLP_ORDER)


def tlp_label(tlp: Any) -> str:
    """A marking in FIRST TLP 2.0's wording: 'TLP:AMBER+STRICT' (unmarked: 'TLP:NONE')."""
    marking = " ".join(str(tlp).split()) if tlp not in (None, "") else "none"
    return f"TLP:{marking.upper()}"


def clean(value: Any) -> str:
    """Entry text made safe for a terminal: no control characters, visible bidi marks."""
    text = value if isinstance(value, str) else str(value)
    if _compiled("UNSAFE_TEXT").search(text) is None:  # most text: nothing to do (\r is unsafe)
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _compiled("CONTROL").sub("", text)
    return _compiled("BIDI").sub(lambda match: f"<U+{ord(match.group()):04X}>", text)


_LABELS: dict[str, str] = {}  # tlp_label of each marking met: 50,000 entries, a few markings


def _listed_text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def text_digest(text: str) -> str:
    """The SHA-256 (hex) of a text as UTF-8 (lone surrogates kept): what an entry's body is
    known by in the catalog, and a text's findings in the gate's cache."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def scan_head(meta: dict[str, Any]) -> tuple[str, str, str]:
    """An entry's title, summary and authors as the gate scans them, before the body."""
    authors = meta.get("authors")
    people = ", ".join(map(str, authors)) if isinstance(authors, list) else ""
    return str(meta.get("title", "")), str(meta.get("summary") or ""), people


def scan_key(meta: dict[str, Any], body_sha256: str) -> str:
    """The digest an entry text's personal-data findings are kept by (share/scancache.py):
    of its head (scan_head) and its body's SHA-256, each part with its length (no two texts
    join the same). The index keeps it for every entry (index/columns.py, the part for
    outputs for others), so a kept text needs neither the entry's fields nor its body."""
    title, summary, people = scan_head(meta)
    joined = (
        f"{len(title)}:{title}{len(summary)}:{summary}{len(people)}:{people}"
        f"{len(body_sha256)}:{body_sha256}"
    )
    return text_digest(joined)


def list_line(created: Any, kind: str, site: Any, title: str, entry_id: str, tlp: Any) -> str:
    """An entry's line in `list`'s plain output (a pipe), tab-separated and safe to print:
    each field's words joined by single spaces, control characters out, direction marks
    escaped (clean()). Made here, not in the renderer, because the index keeps each
    catalogued entry's line made (index/cards.py, the listing part). Most lines need none
    of the clean-up, which str methods tell at once: printable text has no control
    character, no direction mark and no whitespace but the space (a regex takes ten times
    as long)."""
    label = _LABELS.get(tlp) if tlp.__class__ is str else tlp_label(tlp)
    if label is None:
        label = _LABELS[tlp] = tlp_label(tlp)
    parts = [
        part if part.__class__ is str else _listed_text(part)
        for part in (created, kind, site, title, entry_id, label)
    ]
    line = "\t".join(parts)
    if (
        "".join(parts).isprintable()
        and "  " not in line
        and " \t" not in line
        and "\t " not in line
        and line[:1] != " "
        and line[-1:] != " "
    ):
        return line
    return clean("\t".join(" ".join(part.split()) for part in parts))


def at_or_below(tlp: Any, line: str) -> bool:
    """May an entry marked `tlp` go where only `line` and below may go? Unknown: no."""
    return isinstance(tlp, str) and tlp in TLP_ORDER and tlp_rank(tlp) <= tlp_rank(line)


@dataclass
class Entry:
    """One Markdown entry: its frontmatter fields, body and where each field sits."""

    path: Path  # absolute
    rel: str  # relative to the KB root, with forward slashes
    meta: dict[str, Any]
    body: str
    lines: dict[str, int] = field(default_factory=dict)  # field -> 1-based line in the file
    raw_values: dict[str, str] = field(default_factory=dict)  # field -> YAML source of a scalar
    body_line: int = 1
    pending: str | None = None  # the submit/<id> branch it is read from, when not in the tree

    @property
    def id(self) -> str:
        value = self.meta.get("id")
        return value if isinstance(value, str) else self.path.stem

    @property
    def type(self) -> str:
        return str(self.meta.get("type", ""))

    @property
    def title(self) -> str:
        return str(self.meta.get("title", ""))

    @property
    def tlp(self) -> str:
        value = self.meta.get("tlp")
        return value if isinstance(value, str) else ""

    def line_of(self, name: str) -> int:
        return self.lines.get(name, 1)


@dataclass(frozen=True)
class Issue:
    """One finding of a check, pointing at a file and line."""

    severity: str  # "error" or "warning"
    code: str
    path: str
    line: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }


class Outcome:
    """A core result that says how its command ends: `ok`, and the exit code that follows.
    Renderers show a result and return nothing; the command layer exits with `exit_code`."""

    @property
    def ok(self) -> bool:
        raise NotImplementedError

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.PROBLEMS


def has_errors(issues: list[Issue]) -> bool:
    return any(issue.severity == "error" for issue in issues)


@dataclass
class ValidationReport(Outcome):
    issues: list[Issue]
    checked: int

    @property
    def ok(self) -> bool:
        return not has_errors(self.issues)


@dataclass
class Hit:
    """One search result."""

    id: str
    type: str
    title: str
    site: str
    path: str
    score: float
    snippet: str
    created: str = ""  # the entry's newest date: `updated`, else `created`
    topics: list[str] = field(default_factory=list)
    tlp: str = ""
    dated: str = "created"  # which date `created` holds: "updated" or "created"
    # Found only in an attachment's text: {"file": name, "where": "page 3" or a cell}.
    matched_in: dict[str, str] | None = None


@dataclass
class EntryDraft:
    """A new entry before it has an id or a file: what `new`, `rfi open`, `rfi respond` and
    `submit FILE` are asked to write. `check` validates it, once, for all four.

    Fields a type does not have stay None (or empty); an empty value means the default."""

    entry_type: str  # strategy, work-product, rfi or response
    title: str  # a response's may be empty: "Re: <the RFI's title>"
    topics: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    tlp: str | None = None  # None: green, or for a response the RFI's marking
    authors: list[str] = field(default_factory=list)  # empty: git's user name
    body: str | None = None  # None: the type's template
    priority: str | None = None  # rfi
    needed_by: str | None = None  # rfi, YYYY-MM-DD
    to: list[str] = field(default_factory=list)  # rfi: site slugs; empty means all
    product_type: str | None = None  # work-product
    summary: str | None = None  # work-product
    attachments: list[str] = field(default_factory=list)  # work-product: file names
    rfi: str | None = None  # response: the RFI it answers

    def check(self, today: dt.date) -> None:
        """UsageError naming the field at fault (`error.field`), worded about the data."""
        title = self.title.strip()
        if not title:
            raise UsageError("the title is empty", hint="say what this is about", field="title")
        if len(title) > MAX_TITLE:
            raise UsageError(
                f"the title is {len(title)} characters; a title holds at most {MAX_TITLE}",
                hint="put the rest in the summary or the body",
                field="title",
            )
        if not self.topics:
            raise UsageError(
                "no topic is given", hint="topics: " + ", ".join(TOPICS), field="topics"
            )
        _one_of("topics", "a topic", self.topics, TOPICS)
        _one_of("tlp", "a TLP marking", [self.tlp] if self.tlp else [], TLP_ORDER)
        _one_of("priority", "a priority", [self.priority] if self.priority else [], PRIORITIES)
        kinds = [self.product_type] if self.product_type else []
        _one_of("product_type", "a product type", kinds, PRODUCT_TYPES)
        if self.needed_by is not None:
            due = iso_date(self.needed_by)
            if due is None:
                raise UsageError(
                    f"{self.needed_by!r} is not a date",
                    hint="write dates as YYYY-MM-DD",
                    field="needed_by",
                )
            if due < today:
                raise UsageError(
                    f"{due.isoformat()} is in the past (today is {today.isoformat()})",
                    field="needed_by",
                )
        if self.entry_type == "response" and not (self.body or "").strip():
            raise UsageError("the response is empty", field="body")


def _one_of(name: str, what: str, values: list[str], allowed: tuple[str, ...]) -> None:
    for value in values:
        if value not in allowed:
            raise UsageError(f"{value!r} is not {what} (one of: {', '.join(allowed)})", field=name)
