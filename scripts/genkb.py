"""Generate a realistic knowledge base for benchmarks: `python scripts/genkb.py OUT --entries N`.

The result is a valid cacop KB (`cacop validate` exits 0): cacop.yaml, kb/sites.yaml with
about 20 sites, schemas/ copied from this repository, and N entries of all four types —
strategies, work products (each with a small attachment), RFIs and their responses in
kb/rfis/<id>/responses/. Frontmatter follows docs/format.md and schemas/*.json; dates fall in
2019–2026; TLP is clear or green.

Bodies are 300–1,500 words drawn from a Zipf-distributed vocabulary of about 30,000
made-up words, mixed with the field's own terms
(NIBIN, carjacking, hot spots, CompStat, ShotSpotter, …), so that an index sees realistic
term statistics and the benchmark's queries have something real to find. Each entry has a
theme of a few field terms that its title, tags and body favour.

The output is fully determined by --entries and --seed. `--git` makes it a git repository
with one commit (some measures use git's index).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VERSION = 1  # bump when the output for a given (entries, seed) changes; bench.py caches on it

TOPICS = (
    "gun-violence",
    "federal-partnerships",
    "crime-analysis",
    "technology",
    "criminal-justice-collaboration",
    "investigations",
    "community-engagement",
)

SITES = {
    "milwaukee": ("Milwaukee", "Milwaukee Police Department", "WI"),
    "memphis": ("Memphis", "Memphis Police Department", "TN"),
    "baton-rouge": ("Baton Rouge", "Baton Rouge Police Department", "LA"),
    "jackson": ("Jackson", "Jackson Police Department", "MS"),
    "little-rock": ("Little Rock", "Little Rock Police Department", "AR"),
    "birmingham": ("Birmingham", "Birmingham Police Department", "AL"),
    "st-louis": ("St. Louis", "St. Louis Metropolitan Police Department", "MO"),
    "kansas-city": ("Kansas City", "Kansas City Missouri Police Department", "MO"),
    "detroit": ("Detroit", "Detroit Police Department", "MI"),
    "flint": ("Flint", "Flint Police Department", "MI"),
    "toledo": ("Toledo", "Toledo Police Department", "OH"),
    "dayton": ("Dayton", "Dayton Police Department", "OH"),
    "shreveport": ("Shreveport", "Shreveport Police Department", "LA"),
    "mobile": ("Mobile", "Mobile Police Department", "AL"),
    "chattanooga": ("Chattanooga", "Chattanooga Police Department", "TN"),
    "wilmington": ("Wilmington", "Wilmington Police Department", "DE"),
    "baltimore": ("Baltimore", "Baltimore Police Department", "MD"),
    "newark": ("Newark", "Newark Police Division", "NJ"),
    "oakland": ("Oakland", "Oakland Police Department", "CA"),
    "tulsa": ("Tulsa", "Tulsa Police Department", "OK"),
}

# The field's terms: (text as written, topics it belongs to, tag). Multi-word terms are
# written as phrases, so phrase queries find them.
TERMS = (
    ("NIBIN", ("gun-violence", "federal-partnerships"), "nibin"),
    ("NIBIN leads", ("gun-violence", "investigations"), "nibin"),
    ("cartridge casings", ("gun-violence", "investigations"), "nibin"),
    ("crime gun intelligence", ("gun-violence", "federal-partnerships"), "cgic"),
    ("CGIC", ("gun-violence", "federal-partnerships"), "cgic"),
    ("ATF", ("federal-partnerships",), "atf"),
    ("USAO", ("federal-partnerships", "criminal-justice-collaboration"), "usao"),
    ("carjacking", ("investigations",), "carjacking"),
    ("carjackings", ("investigations",), "carjacking"),
    ("vehicle hijacking", ("investigations",), "carjacking"),
    ("stolen vehicles", ("investigations",), "auto-theft"),
    ("shooting", ("gun-violence",), "shootings"),
    ("shootings", ("gun-violence",), "shootings"),
    ("nonfatal shootings", ("gun-violence", "crime-analysis"), "shootings"),
    ("homicide", ("gun-violence", "investigations"), "homicide"),
    ("aggravated assault", ("gun-violence", "crime-analysis"), "assault"),
    ("robbery", ("investigations", "crime-analysis"), "robbery"),
    ("commercial robbery", ("investigations",), "robbery"),
    ("burglary", ("crime-analysis",), "burglary"),
    ("residential burglary", ("crime-analysis",), "burglary"),
    ("near-repeat", ("crime-analysis",), "near-repeat"),
    ("hot spots", ("crime-analysis",), "hot-spots"),
    ("hot spots policing", ("crime-analysis", "community-engagement"), "hot-spots"),
    ("patrol dosage", ("crime-analysis", "technology"), "hot-spots"),
    ("CompStat", ("crime-analysis", "criminal-justice-collaboration"), "compstat"),
    ("accountability meetings", ("crime-analysis",), "compstat"),
    ("ShotSpotter", ("technology", "gun-violence"), "gunshot-detection"),
    ("gunshot detection", ("technology", "gun-violence"), "gunshot-detection"),
    ("acoustic gunfire detection", ("technology",), "gunshot-detection"),
    ("focused deterrence", ("gun-violence", "community-engagement"), "focused-deterrence"),
    ("group violence intervention", ("gun-violence", "community-engagement"), "gvi"),
    ("GVI", ("gun-violence", "community-engagement"), "gvi"),
    ("call-ins", ("community-engagement",), "gvi"),
    ("street outreach", ("community-engagement",), "outreach"),
    ("hospital-based violence intervention", ("community-engagement",), "hvip"),
    ("HVIP", ("community-engagement",), "hvip"),
    ("social network analysis", ("crime-analysis", "investigations"), "sna"),
    ("SNA", ("crime-analysis",), "sna"),
    ("group audit", ("gun-violence", "crime-analysis"), "gvi"),
    ("risk terrain modeling", ("crime-analysis",), "rtm"),
    ("RTM", ("crime-analysis",), "rtm"),
    ("place network investigations", ("investigations", "crime-analysis"), "pni"),
    ("PNI", ("investigations",), "pni"),
    ("problem-oriented policing", ("crime-analysis", "community-engagement"), "pop"),
    ("SARA", ("crime-analysis",), "pop"),
    ("CPTED", ("community-engagement", "crime-analysis"), "cpted"),
    ("license plate readers", ("technology", "investigations"), "lpr"),
    ("ALPR", ("technology",), "lpr"),
    ("LPR", ("technology",), "lpr"),
    ("RMS", ("technology", "crime-analysis"), "rms"),
    ("CAD", ("technology", "crime-analysis"), "cad"),
    ("calls for service", ("crime-analysis",), "cad"),
    ("NIBRS", ("crime-analysis", "technology"), "nibrs"),
    ("UCR", ("crime-analysis",), "nibrs"),
    ("geocoding", ("technology", "crime-analysis"), "data-quality"),
    ("data quality", ("crime-analysis", "technology"), "data-quality"),
    ("crime analysis", ("crime-analysis",), "analysis"),
    ("crime analysts", ("crime-analysis",), "analysis"),
    ("intelligence bulletin", ("crime-analysis", "investigations"), "bulletins"),
    ("problem profile", ("crime-analysis",), "problem-profile"),
    ("dashboard", ("technology", "crime-analysis"), "dashboards"),
    ("kernel density", ("crime-analysis", "technology"), "mapping"),
    ("crime mapping", ("crime-analysis", "technology"), "mapping"),
    ("repeat victimization", ("crime-analysis", "community-engagement"), "victims"),
    ("victim services", ("community-engagement", "criminal-justice-collaboration"), "victims"),
    ("prosecutors", ("criminal-justice-collaboration",), "prosecution"),
    ("probation and parole", ("criminal-justice-collaboration",), "supervision"),
    ("warrant service", ("investigations", "criminal-justice-collaboration"), "warrants"),
    ("juvenile offenders", ("criminal-justice-collaboration",), "juveniles"),
    ("deterrence", ("gun-violence", "crime-analysis"), "focused-deterrence"),
    ("gang violence", ("gun-violence", "investigations"), "gangs"),
    ("firearms", ("gun-violence",), "firearms"),
    ("gun trace", ("gun-violence", "federal-partnerships"), "firearms"),
    ("ballistic evidence", ("gun-violence", "investigations"), "nibin"),
    ("community meetings", ("community-engagement",), "community"),
    ("fusion center", ("federal-partnerships", "technology"), "fusion-center"),
    ("real-time crime center", ("technology",), "rtcc"),
)

SECTIONS = {
    "strategy": ("Problem", "Analysis", "Response", "Assessment", "Lessons"),
    "work-product": ("Purpose", "Data sources", "Method", "How to use it"),
    "rfi": ("Question", "Context", "What would help"),
    "response": ("What we did", "What we would do again"),
}

PRODUCT_TYPES = (
    "bulletin",
    "problem-profile",
    "network-analysis",
    "map",
    "dashboard",
    "template",
    "sop",
    "training",
    "report",
    "other",
)
TOOLS = (
    "ArcGIS Pro",
    "QGIS",
    "Python",
    "R",
    "Excel",
    "Power BI",
    "Tableau",
    "i2 Analyst's Notebook",
)
DATA_SOURCES = ("RMS", "CAD", "NIBIN leads", "ShotSpotter alerts", "LPR reads", "NIBRS", "jail")
FIRST_NAMES = ("A.", "B.", "C.", "D.", "E.", "J.", "K.", "L.", "M.", "R.", "S.", "T.")
LAST_NAMES = (
    "Alvarez",
    "Brooks",
    "Carter",
    "Diaz",
    "Ellis",
    "Foster",
    "Green",
    "Harris",
    "Jackson",
    "Kim",
    "Lopez",
    "Morgan",
    "Nguyen",
    "Owens",
    "Patel",
    "Reed",
    "Simmons",
    "Turner",
    "Walker",
    "Young",
)

STRATEGY_TITLES = (
    "{A} in the {w} corridor",
    "Reducing {A} with {B}",
    "{A} and {B}: a {w} pilot",
    "Using {B} to target {A}",
    "{A} response plan for {w} district",
)
PRODUCT_TITLES = (
    "{A} weekly bulletin ({w})",
    "{A} problem profile template",
    "{B} SOP for {A}",
    "{A} dashboard with {B}",
    "Mapping {A} around {w}",
)
RFI_TITLES = (
    "Has anyone linked {A} to {B}?",
    "How do you measure {A} in {w}?",
    "Looking for a {B} template for {A}",
    "What worked against {A} near {w}?",
)
RESPONSE_TITLES = (
    "We tied {A} to {B}",
    "Our {w} pilot with {A}",
    "Start with {B}, then {A}",
)

ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "ch",
    "cl",
    "dr",
    "gr",
    "kr",
    "pl",
    "sh",
    "st",
    "tr",
    "th",
]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
CODAS = ("", "", "", "n", "r", "s", "l", "m", "x", "nd", "rt", "st")


def made_up_words(count: int) -> list[str]:
    """`count` distinct pronounceable non-words, in a fixed order (rank 1 first)."""
    rng = random.Random(20240501)
    reserved = {word.lower() for term, _, _ in TERMS for word in term.split()}
    reserved |= {"deterence", "carjack"}
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < count:
        syllables = rng.choice((1, 2, 2, 2, 3, 3, 4))
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(syllables))
        word += rng.choice(CODAS)
        if len(word) >= 3 and word not in seen and word not in reserved:
            seen.add(word)
            words.append(word)
    # Frequent words tend to be short (Zipf's law of abbreviation), loosely: one word in ten
    # is ranked by its length, the rest at random. Text averages ~5.5 letters a word.
    return sorted(words, key=lambda word: len(word) if rng.random() < 0.1 else rng.uniform(3, 18))


class Vocabulary:
    """A Zipf-distributed vocabulary of made-up words (rank r drawn with weight 1/r^s).

    Sampling reads a table of 2^21 slots, each word holding slots in proportion to its
    weight (the rarest word still holds a few), which is several times faster than a
    bisection per word.
    """

    BITS = 21

    def __init__(self, size: int = 30_000, exponent: float = 1.07) -> None:
        self.words = made_up_words(size)
        cumulative = list(
            itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, size + 1))
        )
        slots = 1 << self.BITS
        self.table: list[str] = []
        for word, upto in zip(self.words, cumulative, strict=True):
            self.table.extend([word] * (round(upto / cumulative[-1] * slots) - len(self.table)))
        # Names of places ("the Velora corridor") come from the rarer half of the vocabulary.
        self.rare = self.words[size // 2 :]

    def sample(self, rng: random.Random, count: int) -> list[str]:
        table, bits, draw = self.table, self.BITS, rng.getrandbits
        return [table[draw(bits)] for _ in range(count)]


@functools.cache
def vocabulary() -> Vocabulary:
    """The one vocabulary (it does not depend on the seed), built once per process."""
    return Vocabulary()


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocabulary = vocabulary()
        self.site_slugs = list(SITES)
        self.ids: set[str] = set()
        self.known_ids: list[str] = []

    # -- pieces ------------------------------------------------------------------------
    def theme(self) -> list[tuple[str, tuple[str, ...], str]]:
        return self.rng.sample(TERMS, self.rng.randint(2, 4))

    def place(self) -> str:
        return self.rng.choice(self.vocabulary.rare).capitalize()

    def title(self, patterns: tuple[str, ...], theme) -> str:
        text = self.rng.choice(patterns).format(A=theme[0][0], B=theme[1][0], w=self.place())
        return text[0].upper() + text[1:]

    def date(self, start: int = 2019, end: int = 2026) -> tuple[int, int, int]:
        return (self.rng.randint(start, end), self.rng.randint(1, 12), self.rng.randint(1, 28))

    def later(self, day: tuple[int, int, int], most_days: int) -> tuple[int, int, int]:
        """A date 1..most_days after `day`, never past 2026-12-28."""
        ordinal = (day[0] * 12 + day[1] - 1) * 28 + day[2] - 1 + self.rng.randint(1, most_days)
        year, rest = divmod(ordinal, 12 * 28)
        if year > 2026:
            return (2026, 12, 28)
        return (year, rest // 28 + 1, rest % 28 + 1)

    def authors(self) -> list[str]:
        count = self.rng.choice((1, 1, 1, 2, 2, 3))
        return [
            f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}" for _ in range(count)
        ]

    def body(self, kind: str, theme) -> str:
        """Markdown with the type's sections; 300–1,500 words in total."""
        rng, terms = self.rng, TERMS
        target = rng.randint(300, 1500)
        words = self.vocabulary.sample(rng, target)
        sections = SECTIONS[kind]
        per_section = target // len(sections)
        favoured = [term for term, _, _ in theme]
        parts: list[str] = []
        at = 0
        for number, heading in enumerate(sections):
            parts.append(f"## {heading}\n")
            end = target if number == len(sections) - 1 else at + per_section
            paragraph: list[str] = []
            while at < end:
                length = min(rng.randint(8, 22), end - at)
                sentence = words[at : at + length]
                at += length
                for _ in range(rng.choice((0, 1, 1, 2))):
                    term = rng.choice(favoured) if rng.random() < 0.6 else rng.choice(terms)[0]
                    # replace as many words as the term has, so the count stays `target`
                    span = term.split()
                    if len(span) <= len(sentence):
                        at_word = rng.randrange(len(sentence) - len(span) + 1)
                        sentence[at_word : at_word + len(span)] = span
                sentence[0] = sentence[0][0].upper() + sentence[0][1:]
                paragraph.append(" ".join(sentence) + ".")
                if len(paragraph) >= 5 or at >= end:
                    parts.append(" ".join(paragraph) + "\n")
                    paragraph = []
        return "\n".join(parts)

    def new_id(self, site: str, year: int, title: str) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:48].strip("-")
        base = f"{site}-{year}-{slug}"
        candidate, counter = base, 1
        while candidate in self.ids:
            counter += 1
            candidate = f"{base}-{counter}"
        self.ids.add(candidate)
        return candidate

    def common(self, kind: str, patterns, theme) -> dict:
        site = self.rng.choice(self.site_slugs)
        created = self.date()
        title = self.title(patterns, theme)
        fields: dict = {
            "id": self.new_id(site, created[0], title),
            "type": kind,
            "title": title,
            "site": site,
            "authors": self.authors(),
            "created": created,
        }
        if self.rng.random() < 0.4:
            fields["updated"] = self.later(created, 400)
        topics: list[str] = []
        for _, term_topics, _ in theme:
            topics.extend(topic for topic in term_topics if topic not in topics)
        fields["topics"] = topics[:3]
        fields["tags"] = sorted({tag for _, _, tag in theme})
        fields["tlp"] = "green" if self.rng.random() < 0.7 else "clear"
        fields["summary"] = (
            f"{title.rstrip('?')}. "
            + " ".join(self.vocabulary.sample(self.rng, self.rng.randint(10, 30)))
        )[:480] + "."
        if self.known_ids and self.rng.random() < 0.3:
            fields["related"] = sorted(set(self.rng.sample(self.known_ids[-500:], 1)))
        return fields

    # -- entries -----------------------------------------------------------------------
    def strategy(self) -> tuple[dict, str]:
        theme = self.theme()
        fields = self.common("strategy", STRATEGY_TITLES, theme)
        fields["status"] = self.rng.choice(("proposed", "active", "evaluated", "retired"))
        fields["evidence"] = self.rng.choice(
            ("effective", "promising", "no-effects", "insufficient", "untested")
        )
        return fields, self.body("strategy", theme)

    def work_product(self) -> tuple[dict, str, tuple[str, str]]:
        theme = self.theme()
        fields = self.common("work-product", PRODUCT_TITLES, theme)
        fields["product_type"] = self.rng.choice(PRODUCT_TYPES)
        name = self.rng.choice(("layout.csv", "template.md", "checklist.md", "query.sql"))
        fields["attachments"] = [name]
        fields["tools"] = sorted(set(self.rng.sample(TOOLS, self.rng.randint(1, 3))))
        fields["data_sources"] = sorted(set(self.rng.sample(DATA_SOURCES, self.rng.randint(1, 3))))
        attachment = self.attachment(name, theme)
        return fields, self.body("work-product", theme), (name, attachment)

    def attachment(self, name: str, theme) -> str:
        if name.endswith(".csv"):
            header = "incident_number,date,address,offense,lead_number,notes\n"
            rows = "".join(
                f"{self.rng.randint(2019, 2026)}-{self.rng.randint(1, 999999):06d},"
                f"2024-0{self.rng.randint(1, 9)}-1{self.rng.randint(0, 9)},"
                f"{self.rng.randint(100, 9999)} {self.place()} St,{theme[0][0]},"
                f"L-{self.rng.randint(1000, 9999)},\n"
                for _ in range(self.rng.randint(3, 8))
            )
            return header + rows
        if name.endswith(".sql"):
            return (
                "-- incidents for the bulletin\nSELECT incident_number, reported_at, offense\n"
                "FROM incidents\nWHERE offense IN ('robbery', 'carjacking')\n"
                "  AND reported_at >= date('now', '-7 days');\n"
            )
        items = "".join(f"- [ ] {term} reviewed\n" for term, _, _ in theme)
        return f"# {theme[0][0]} checklist\n\n{items}"

    def rfi(self) -> tuple[dict, str]:
        theme = self.theme()
        fields = self.common("rfi", RFI_TITLES, theme)
        fields["status"] = self.rng.choice(("open", "answered", "closed"))
        fields["priority"] = self.rng.choice(("routine", "routine", "priority", "urgent"))
        fields["needed_by"] = self.later(fields["created"], 60)
        fields["to"] = (
            ["all"]
            if self.rng.random() < 0.6
            else sorted(set(self.rng.sample(self.site_slugs, self.rng.randint(1, 4))))
        )
        return fields, self.body("rfi", theme)

    def response(self, rfi: dict, number: int) -> tuple[dict, str]:
        theme = self.theme()
        site = self.rng.choice([slug for slug in self.site_slugs if slug != rfi["site"]])
        created = self.later(rfi["created"], 45)
        response_id = f"{site}-{created[0]}{created[1]:02d}{created[2]:02d}-{number:05x}"
        self.ids.add(response_id)
        title = self.title(RESPONSE_TITLES, theme)
        fields = {
            "id": response_id,
            "type": "response",
            "title": title,
            "site": site,
            "authors": self.authors(),
            "created": created,
            "topics": list(rfi["topics"]),
            "tlp": rfi["tlp"] if self.rng.random() < 0.8 else "green",
            "rfi": rfi["id"],
        }
        return fields, self.body("response", theme)


def dump_frontmatter(fields: dict) -> str:
    """YAML frontmatter: strings JSON-quoted (valid YAML), dates plain, lists in flow style."""

    def value(item) -> str:
        if isinstance(item, tuple):
            return f"{item[0]:04d}-{item[1]:02d}-{item[2]:02d}"
        if isinstance(item, list):
            return "[" + ", ".join(value(element) for element in item) + "]"
        return json.dumps(item, ensure_ascii=False)

    return "---\n" + "".join(f"{key}: {value(item)}\n" for key, item in fields.items()) + "---\n\n"


def write_kb(out: Path, entries: int, seed: int = 1, git: bool = False) -> dict[str, int]:
    """Write a KB of `entries` entries into `out` (which must not hold a KB yet)."""
    if (out / "cacop.yaml").exists() or (out / "kb").exists():
        raise SystemExit(f"{out} already holds a knowledge base; choose an empty folder")
    kb = out / "kb"
    for folder in ("strategies", "work-products", "rfis"):
        (kb / folder).mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "schemas", out / "schemas", dirs_exist_ok=True)
    (out / "cacop.yaml").write_text(
        "name: Generated benchmark knowledge base\nsite: milwaukee\nremote: origin\n"
        "branch: main\nshare:\n  max_tlp: green\n",
        encoding="utf-8",
    )
    (kb / "sites.yaml").write_text(
        "".join(
            f"{slug}:\n  name: {json.dumps(name)}\n  agency: {json.dumps(agency)}\n"
            f"  state: {state}\n"
            for slug, (name, agency, state) in SITES.items()
        ),
        encoding="utf-8",
    )
    (out / ".gitignore").write_text(".cacop/\n", encoding="utf-8")

    generator = Generator(seed)
    counts = {"strategy": 0, "work-product": 0, "rfi": 0, "response": 0}
    written = 0
    while written < entries:
        roll = generator.rng.random()
        if roll < 0.35:
            fields, body = generator.strategy()
            path = kb / "strategies" / f"{fields['id']}.md"
        elif roll < 0.7:
            fields, body, (name, attachment) = generator.work_product()
            path = kb / "work-products" / f"{fields['id']}.md"
            folder = kb / "work-products" / fields["id"]
            folder.mkdir()
            (folder / name).write_text(attachment, encoding="utf-8")
        else:
            fields, body = generator.rfi()
            path = kb / "rfis" / f"{fields['id']}.md"
        path.write_text(dump_frontmatter(fields) + body, encoding="utf-8")
        generator.known_ids.append(fields["id"])
        counts[fields["type"]] += 1
        written += 1
        if fields["type"] != "rfi":
            continue
        responses = kb / "rfis" / fields["id"] / "responses"
        for _ in range(min(generator.rng.choice((0, 1, 1, 2, 3)), entries - written)):
            if not responses.is_dir():
                responses.mkdir(parents=True)
            answer, answer_body = generator.response(fields, written)
            (responses / f"{answer['id']}.md").write_text(
                dump_frontmatter(answer) + answer_body, encoding="utf-8"
            )
            counts["response"] += 1
            written += 1
    if git:
        commit_all(out)
    return counts


def commit_all(out: Path) -> None:
    env_args = ["-c", "user.name=genkb", "-c", "user.email=genkb@example.invalid"]
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        [*env_args, "commit", "-q", "-m", "Generated knowledge base"],
    ):
        subprocess.run(["git", *args], cwd=out, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the knowledge base into")
    parser.add_argument("--entries", type=int, required=True, help="number of entries")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--git", action="store_true", help="git init and commit everything")
    args = parser.parse_args(argv)
    if args.entries < 1:
        parser.error("--entries must be at least 1")
    started = time.perf_counter()
    counts = write_kb(args.out, args.entries, args.seed, args.git)
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    print(
        f"wrote {args.entries} entries ({summary}) to {args.out} in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
