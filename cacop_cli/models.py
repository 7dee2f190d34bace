"""Plain data passed between the core and the CLI. Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
STRATEGY_STATUSES = ("proposed", "active", "evaluated", "retired")
EVIDENCE = ("effective", "promising", "no-effects", "insufficient", "untested")
PRODUCT_TYPES = (
    "bulletin", "problem-profile", "network-analysis", "map", "dashboard", "template", "sop",
    "training", "report", "other",
)  # fmt: skip
RFI_STATUSES = ("open", "answered", "closed")
PRIORITIES = ("routine", "priority", "urgent")
TYPE_FOLDERS = {"strategy": "strategies", "work-product": "work-products", "rfi": "rfis"}


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


@dataclass
class ValidationReport:
    issues: list[Issue]
    checked: int

    @property
    def ok(self) -> bool:
        return not any(issue.severity == "error" for issue in self.issues)


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
    created: str = ""
    topics: list[str] = field(default_factory=list)
    tlp: str = ""
