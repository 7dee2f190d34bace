"""What may be written for others: digest, gaps and experts (and anything else made to leave
the analyst's screen) hold only entries at or below the effective TLP line, with no personal
data or secrets, and say what they left out. Plain data out; never prints."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import KB
from .errors import UsageError
from .models import (
    TLP_ORDER,
    Entry,
    at_or_below,
    scan_head,
    scan_key,
    text_digest,
    tlp_label,
    tlp_rank,
)  # fmt: skip


@dataclass
class Line:
    """Which entries an output for others may hold, and what it left out.

    `line` is the most sensitive TLP included: the KB's effective max_tlp unless --max-tlp
    chose another; `raised` when that is above the effective line (the output then carries
    the highest included TLP as a banner). Entries holding personal data or secrets are
    left out whatever the line.
    """

    line: str
    effective: str
    above: int = 0  # entries left out for their TLP
    personal: int = 0  # entries left out for personal data or secrets
    highest: str = "clear"  # the most sensitive TLP of the entries included
    email_allowlist: tuple[str, ...] = ()  # the KB's: mail domains that are not personal
    kept_in: Path | None = None  # the KB's `.cacop/scan/`: findings kept by each text's hash

    @property
    def raised(self) -> bool:
        return tlp_rank(self.line) > tlp_rank(self.effective)

    @property
    def banner(self) -> str | None:
        """The label to print at the top and bottom, when the line was raised."""
        return tlp_label(self.highest) if self.raised else None

    def left_out(self) -> list[str]:
        """'2 entries above TLP:GREEN left out' and the like; nothing when nothing was."""
        said = []
        if self.above:
            said.append(f"{_entries(self.above)} above {tlp_label(self.line)} left out")
        if self.personal:
            said.append(f"{_entries(self.personal)} holding personal data or secrets left out")
        return said

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_tlp": self.line,
            "left_out_above_tlp": self.above,
            "left_out_personal_data": self.personal,
        }


def _entries(count: int) -> str:
    return f"{count} {'entry' if count == 1 else 'entries'}"


def choose_line(kb: KB, max_tlp: str | None) -> Line:
    """The line for an output for others: the effective one, or --max-tlp's."""
    effective = kb.max_tlp
    allowlist = tuple(kb.email_allowlist)
    kept_in = kb.root / ".cacop" / "scan"
    if max_tlp is None:
        return Line(effective, effective, email_allowlist=allowlist, kept_in=kept_in)
    chosen = max_tlp.strip().lower()
    if chosen not in TLP_ORDER:
        raise UsageError(f"--max-tlp {max_tlp!r} is not one of: {', '.join(TLP_ORDER)}")
    return Line(chosen, effective, email_allowlist=allowlist, kept_in=kept_in)


def _whole(entry: Entry) -> Entry:
    """The entry with every field the gate scans: an entry of a Listing keeps only some,
    so its file's own (listing.ListedEntry.from_file)."""
    from_file = getattr(entry, "from_file", None)
    return from_file() if callable(from_file) else entry


def _scanned_text(entry: Entry) -> str:
    """The text the gate scans: title, summary, authors, body."""
    return "\n".join((*scan_head(entry.meta), entry.body))


def _to_scan(entry: Entry) -> Any:
    """The entry's text for scancache.scan_texts, by its scan_key: the index keeps it (an
    entry of a Listing has it made already), else it is made of the head and the body's
    SHA-256, which the catalog keeps (index/cards.py); no body is read for a text whose
    findings are kept."""
    from .share.scancache import Text

    key = getattr(entry, "scan_key", None)
    if not isinstance(key, str):
        whole = _whole(entry)
        key = scan_key(whole.meta, getattr(whole, "body_sha256", None) or text_digest(whole.body))
    return Text(entry.rel, key, lambda: _scanned_text(_whole(entry)))


def holding_personal_data(
    entries: list[Entry],
    today: dt.date,
    email_allowlist: tuple[str, ...] = (),
    kept_in: Path | None = None,
) -> set[str]:
    """Paths of the entries whose text holds personal data or a secret, as the sharing gate
    judges it: the KB's e-mail allowlist applies, and so does an entry's recorded
    pii_override (what may be shared may be printed for the same community). With
    `kept_in`, each text's findings are kept by its hash (share/scancache.scan_texts)."""
    from .share import scancache

    texts = [_to_scan(entry) for entry in entries]
    found = scancache.scan_texts(kept_in, texts, today=today, email_allowlist=email_allowlist)
    if not found:
        return set()
    from .share import gates  # only now: it loads every check's patterns

    holding = set()
    for entry in entries:
        blocking, _ = gates.apply_override(found.get(entry.rel, []), entry.meta.get("pii_override"))
        if blocking:
            holding.add(entry.rel)
    return holding


def for_others(entries: list[Entry], line: Line, today: dt.date) -> set[str]:
    """Paths of the entries that may be written for others; `line` counts the rest
    (each entry once, however many of the output's lists it is in)."""
    unique = list({entry.rel: entry for entry in entries}.values())
    below = {tlp: tlp_rank(tlp) for tlp in TLP_ORDER if at_or_below(tlp, line.line)}
    marked = [entry for entry in unique if _marking(entry) in below]
    line.above += len(unique) - len(marked)
    personal = holding_personal_data(marked, today, line.email_allowlist, line.kept_in)
    line.personal += len(personal)
    kept = {entry.rel for entry in marked} - personal
    highest = max((below[_marking(entry)] for entry in marked if entry.rel in kept), default=-1)
    if highest > tlp_rank(line.highest):
        line.highest = TLP_ORDER[highest]
    return kept


def _marking(entry: Entry) -> str | None:
    """The entry's TLP marking when it is one of TLP_ORDER's (at_or_below's test), else None."""
    tlp = entry.meta.get("tlp")
    return tlp if isinstance(tlp, str) and tlp in TLP_ORDER else None
