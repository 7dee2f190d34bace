"""Small knowledge bases as a new community has them: a fresh `cacop init`, then a few entries.

`small_kbs()` is a hypothesis strategy of valid KBs (0-6 entries of every type, optional
fields on or off, RFIs with and without responses, one to three sites); `write_kb()` writes
one into a folder that `cacop init` made. The tests of a KB's first minutes share both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from hypothesis import strategies as st

TOPICS = (
    "gun-violence", "federal-partnerships", "crime-analysis", "technology",
    "criminal-justice-collaboration", "investigations", "community-engagement",
)  # fmt: skip
TLPS = ("clear", "green", "amber", "amber+strict", "red")
OTHER_SITES = ("memphis", "baton-rouge")
HOME = "milwaukee"  # the site `cacop init … --site milwaukee` registers
FOLDERS = {"strategy": "strategies", "work-product": "work-products", "rfi": "rfis"}
WORDS = ("nibin", "shooting", "hot", "spots", "call-in", "group", "audit", "bulletin", "carjack")


@dataclass
class SmallKB:
    sites: list[str]
    entries: list[dict] = field(default_factory=list)  # {"meta", "body", "attachments"}

    def ids(self, entry_type: str | None = None) -> list[str]:
        return [e["meta"]["id"] for e in self.entries if entry_type in (None, e["meta"]["type"])]


def write_kb(root: Path, kb: SmallKB) -> Path:
    """Write `kb`'s sites and entries into `root` (a KB from `cacop init`); returns root."""
    sites = {
        slug: {"name": slug.replace("-", " ").title(), "agency": f"{slug} PD", "state": "XX"}
        for slug in kb.sites
    }
    (root / "kb" / "sites.yaml").write_text(yaml.safe_dump(sites, sort_keys=False))
    for entry in kb.entries:
        meta = entry["meta"]
        if meta["type"] == "response":
            path = root / "kb" / "rfis" / meta["rfi"] / "responses" / f"{meta['id']}.md"
        else:
            path = root / "kb" / FOLDERS[meta["type"]] / f"{meta['id']}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
        path.write_text(f"---\n{front}---\n\n{entry['body']}\n", encoding="utf-8")
        for name, content in entry.get("attachments", {}).items():
            attachment = path.parent / meta["id"] / name
            attachment.parent.mkdir(parents=True, exist_ok=True)
            attachment.write_text(content, encoding="utf-8")
    return root


def _date(day: int) -> str:
    return (dt.date(2023, 1, 1) + dt.timedelta(days=day)).isoformat()


titles = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(
    lambda words: " ".join(words).capitalize()
)
bodies = st.lists(st.sampled_from((*WORDS, "the", "and", "24-013377")), max_size=12).map(" ".join)


@st.composite
def small_kbs(draw, max_entries: int = 6, tlps: tuple[str, ...] = TLPS) -> SmallKB:
    """A valid KB: its own site plus 0-2 more, and 0-`max_entries` entries of every type."""
    sites = [HOME, *draw(st.lists(st.sampled_from(OTHER_SITES), unique=True, max_size=2))]
    kb = SmallKB(sites)
    kinds = draw(
        st.lists(
            st.sampled_from(("strategy", "work-product", "rfi", "response")), max_size=max_entries
        )
    )
    for number, kind in enumerate(kinds):
        rfis = [e for e in kb.entries if e["meta"]["type"] == "rfi"]
        if kind == "response" and not rfis:
            kind = "rfi"  # a response needs an RFI before it
        site = draw(st.sampled_from(sites))
        created = draw(st.integers(0, 1400))
        meta: dict = {
            "id": f"{site}-{2023 + created // 365}-{kind[:3]}-{number}",
            "type": kind,
            "title": draw(titles),
            "site": site,
            "authors": draw(st.lists(st.sampled_from(("A. Analyst", "B. Lee")), min_size=1)),
            "created": _date(created),
        }
        if draw(st.booleans()):
            meta["updated"] = _date(created + draw(st.integers(0, 400)))
        meta["topics"] = draw(st.lists(st.sampled_from(TOPICS), min_size=1, unique=True))
        if draw(st.booleans()):
            meta["tags"] = draw(
                st.lists(st.sampled_from(("nibin", "gvi", "x", "cad")), unique=True)
            )
        meta["tlp"] = draw(st.sampled_from(tlps))
        if draw(st.booleans()):
            meta["summary"] = draw(titles)
        others = kb.ids()
        if others and draw(st.booleans()):
            meta["related"] = draw(st.lists(st.sampled_from(others), unique=True, max_size=2))
        if draw(st.booleans()):
            meta["x-local"] = "kept"
        entry = {"meta": meta, "body": draw(bodies), "attachments": {}}
        if kind == "strategy":
            meta["status"] = draw(st.sampled_from(("proposed", "active", "evaluated", "retired")))
            meta["evidence"] = draw(
                st.sampled_from(
                    ("effective", "promising", "no-effects", "insufficient", "untested")
                )
            )
        elif kind == "work-product":
            meta["product_type"] = draw(st.sampled_from(("bulletin", "map", "template", "other")))
            names = draw(st.lists(st.sampled_from(("checklist.md", "map.csv")), unique=True))
            meta["attachments"] = names
            entry["attachments"] = {name: f"{name}: {draw(bodies)}\n" for name in names}
            if draw(st.booleans()):
                meta["tools"] = ["Excel"]
            if draw(st.booleans()):
                meta["data_sources"] = ["RMS", "CAD"]
        elif kind == "rfi":
            meta["status"] = draw(st.sampled_from(("open", "answered", "closed")))
            meta["priority"] = draw(st.sampled_from(("routine", "priority", "urgent")))
            meta["needed_by"] = _date(created + draw(st.integers(0, 60)))
            recipients = st.lists(st.sampled_from(sites), min_size=1, unique=True)
            meta["to"] = draw(st.one_of(st.just(["all"]), recipients))
        else:
            rfi = draw(st.sampled_from(rfis))["meta"]
            meta["id"] = f"{site}-{20230101 + number}-{number:04x}"
            meta["rfi"] = rfi["id"]
            strict = TLPS.index(rfi["tlp"])  # a response is never less strict than its RFI
            meta["tlp"] = draw(st.sampled_from([t for t in tlps if TLPS.index(t) >= strict]))
        kb.entries.append(entry)
    return kb
