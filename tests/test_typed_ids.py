"""Ids that people can type (issue 14 item 4): a unique start of an id, or the exact title,
case-blind; "did you mean" with the closest ids when nothing or several match."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cacop_cli import entries, ops
from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode, NotFound

RFI = "beta-2025-nibin-and-group-data"
STRATEGY = "alpha-2024-focused-deterrence-call-ins"


def test_show_takes_a_unique_start_of_an_id(cli, kb_path):
    result = cli("show", "alpha-2024-foc", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert f'"id": "{STRATEGY}"' in result.stdout


def test_show_takes_the_exact_title_in_any_case(cli, kb_path):
    title = "focused DETERRENCE call-ins for group-involved shooters"
    result = cli("show", title, "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert f'"id": "{STRATEGY}"' in result.stdout


def test_an_id_in_capitals_is_the_id(cli, kb_path):
    result = cli("show", STRATEGY.upper(), "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK and f'"id": "{STRATEGY}"' in result.stdout


def test_a_start_shared_by_several_names_them_and_exits_1(cli, kb_path):
    result = cli("show", "alpha-2024", kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "2 entries match 'alpha-2024'" in result.stderr
    assert STRATEGY in result.stderr and "alpha-2024-shooting-review-checklist" in result.stderr


def test_a_near_miss_says_did_you_mean_with_the_closest(cli, kb_path):
    typo = cli("show", "alpha-2024-focussed-deterence-call-ins", kb=kb_path)
    assert typo.exit_code == ExitCode.PROBLEMS
    assert "no entry has the id" in typo.stderr
    assert f"did you mean {STRATEGY}" in typo.stderr
    words = cli("show", "hot spots dosage", kb=kb_path)  # title words, not an id
    assert words.exit_code == ExitCode.USAGE
    assert "did you mean beta-2023-hot-spots-dosage" in words.stderr


def test_similar_rfi_respond_and_close_resolve_the_same_way(cli, kb_path):
    similar = cli("similar", "beta-2023-hot", "--json", kb=kb_path)
    assert similar.exit_code == ExitCode.OK, similar.stderr
    title = "has anyone linked NIBIN leads to group violence data?"
    answered = cli("rfi", "respond", title, "-m", "We do.", kb=kb_path)
    assert answered.exit_code == ExitCode.OK, answered.stderr
    assert len(list((kb_path / "kb/rfis" / RFI / "responses").glob("*.md"))) == 3
    closing = cli("rfi", "close", "beta-2025-nib", kb=kb_path)  # beta's RFI; this clone is alpha
    assert closing.exit_code == ExitCode.PROBLEMS and "only the site that asked" in closing.stderr
    missing = cli("rfi", "respond", "beta-2025-nibbin", "-m", "x", kb=kb_path)
    assert missing.exit_code == ExitCode.PROBLEMS and f"did you mean {RFI}" in missing.stderr


def test_rfi_commands_match_starts_among_rfis_only(kb_path):
    kb = load_kb(kb_path)
    assert ops.resolve_id(kb, "beta-", kinds=("rfi",)) == RFI  # the strategy beta-2023-… aside


def test_an_exact_id_reads_no_entry_and_a_start_reads_only_folder_names(kb_path, monkeypatch):
    kb = load_kb(kb_path)
    read = []
    original = entries.read_entry
    monkeypatch.setattr(
        entries, "read_entry", lambda *a, **k: read.append(a[0]) or original(*a, **k)
    )
    assert ops.resolve_id(kb, STRATEGY) == STRATEGY
    assert ops.resolve_id(kb, "alpha-2024-sh") == "alpha-2024-shooting-review-checklist"
    assert read == []


def test_resolving_at_ten_thousand_entries_stays_fast(tmp_path):
    from cacop_cli.config import load_kb as load

    root = tmp_path / "big"
    (root / "kb/strategies").mkdir(parents=True)
    (root / "cacop.yaml").write_text("name: Big\nsite: alpha\n")
    (root / "kb/sites.yaml").write_text("alpha:\n  name: Alpha\n")
    for number in range(10_000):
        (root / f"kb/strategies/alpha-2024-entry-{number:05d}.md").write_text("x")
    kb = load(root)
    started = time.perf_counter()
    assert ops.resolve_id(kb, "alpha-2024-entry-04242") == "alpha-2024-entry-04242"
    exact = time.perf_counter() - started
    started = time.perf_counter()
    with pytest.raises(NotFound, match="10 entries match"):
        ops.resolve_id(kb, "alpha-2024-entry-0424")
    prefix = time.perf_counter() - started
    assert exact < 0.05, exact
    assert prefix < 1.0, prefix


# ---------------------------------------------------------------- "did you mean", fast and the same


def straightforward_closest(given: str, titles: dict[str, str], count: int = 3) -> list[str]:
    """closest_ids as the plain loop computes it: every ratio, every entry, then sorted."""
    import difflib
    import re

    def folded(text: str) -> str:
        return " ".join(text.casefold().split())

    wanted = folded(given)
    words = set(re.findall(r"\w+", wanted))
    scored = []
    for entry_id, title in titles.items():
        title_words = set(re.findall(r"\w+", folded(title)))
        overlap = len(words & title_words) / len(words) if words else 0.0
        closeness = max(
            difflib.SequenceMatcher(None, wanted, candidate).ratio()
            for candidate in (entry_id, folded(title))
        )
        scored.append((max(overlap, closeness), entry_id))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [entry_id for score, entry_id in scored[:count] if score >= 0.5]


# Few letters and words, so that near-duplicates, equal scores (ties broken by id), titles
# that are ids, empty titles, and letters that casefold into two ('ß' -> 'ss') are common.
LETTERS = "abe-ßK İ\t\x1b[]"
WORDS = ["hot", "spots", "Hot", "dosage", "a", "ab", "ba", "x", "ss", "ß", "the", "-", "  "]
TEXTS = st.one_of(
    st.text(LETTERS, max_size=14),
    st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join),
    st.text(max_size=20),
)
IDS = st.text("ab-ß0", min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(
    given_text=TEXTS,
    titles=st.dictionaries(IDS, TEXTS, max_size=40),
    count=st.integers(1, 5),
)
def test_closest_ids_equals_the_straightforward_computation(given_text, titles, count):
    assert entries.closest_ids(given_text, titles, count) == straightforward_closest(
        given_text, titles, count
    )


def test_closest_ids_equals_it_on_a_templated_kb_with_typos():
    """Titles made from a few templates (as a real KB's are: many near-duplicates, so the
    bounds are close to the scores), typed with typos, a word missing, in capitals, or as
    the start of an id."""
    import random

    chance = random.Random(16)
    places = ["Thupor", "Piwim", "Plejen", "Nugun", "Draiwul", "Riobru"]
    subjects = ["CAD", "hot spots", "NIBIN", "carjacking", "ShotSpotter", "call-ins"]
    templates = [
        "Problem profile in the {} corridor",
        "How do you measure {} in {}?",
        "Has anyone linked {} to {}?",
        "Our {} pilot with {}",
    ]
    titles = {}
    for number in range(400):
        template = chance.choice(templates)
        fill = [chance.choice(subjects + places) for _ in range(template.count("{}"))]
        title = template.format(*fill)
        entry_id = f"{chance.choice(['alpha', 'beta'])}-20{number % 7 + 19}-" + "-".join(
            title.lower().replace("?", "").split()
        )
        titles[entry_id[:80]] = title
    typed = []
    for title, entry_id in zip(list(titles.values())[:60], list(titles)[:60], strict=True):
        at = chance.randrange(len(title))
        typed += [
            title[:at] + chance.choice("aeiouxz") + title[at + 1 :],  # a typo
            " ".join(word for word in title.split() if word != title.split()[1]),
            title.upper(),
            entry_id[: chance.randrange(3, len(entry_id))] + "q",
        ]
    for given_text in typed:
        assert entries.closest_ids(given_text, titles) == straightforward_closest(
            given_text, titles
        ), given_text


def test_closest_ids_of_a_huge_or_odd_text_are_quick_and_the_same():
    titles = {f"alpha-2024-entry-{n:05d}": f"Hot spots dosage number {n}" for n in range(2_000)}
    for given_text in ("x" * 10_000, "hot spots " * 1_000, "\x1b[2J\x00\x9b", "[bold]hot[/bold]"):
        started = time.perf_counter()
        entries.closest_ids(given_text, titles)
        assert time.perf_counter() - started < 2.0, given_text[:20]
        few = dict(list(titles.items())[:200])
        assert entries.closest_ids(given_text, few) == straightforward_closest(given_text, few)


def test_a_miss_among_hostile_titles_and_unreadable_entries_answers_safely(cli, kb_path):
    """Markup and control characters in a title shown by "did you mean" reach the terminal
    as text; an entry that cannot be read is passed over; a huge or odd name is refused
    quickly, as text."""
    from kbtools import write_strategy

    write_strategy(kb_path, "alpha-2024-odd-title")
    odd = kb_path / "kb/strategies/alpha-2024-odd-title.md"
    odd.write_text(
        odd.read_text("utf-8").replace(
            "title: Near-repeat burglary notification",
            'title: "\\e[2J[bold]hot spots dosage[/bold] \\x9b31m"',
        ),
        encoding="utf-8",
    )
    (kb_path / "kb/strategies/alpha-2024-broken.md").write_text("---\ntitle: [unclosed\n")
    result = cli("show", "bold hot spots dosage bold", kb=kb_path)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "did you mean alpha-2024-odd-title (" in result.stderr
    assert "[bold]hot spots dosage[/bold]" in result.stderr  # as typed in the title
    assert "beta-2023-hot-spots-dosage" in result.stderr
    assert "\x1b" not in result.stderr and "\x9b" not in result.stderr
    for given_text in ("x" * 10_000, "hot\x1b[2J spots\x07", "[link=https://x.example]a[/link]"):
        started = time.perf_counter()
        odd_name = cli("show", given_text, kb=kb_path)
        assert time.perf_counter() - started < 10
        assert odd_name.exit_code == ExitCode.USAGE and "Traceback" not in odd_name.stderr
        assert "\x1b" not in odd_name.stderr and "\x07" not in odd_name.stderr


def test_a_miss_in_a_kb_without_entries_says_how_to_add_the_first(cli, tmp_path):
    created = cli("init", str(tmp_path / "empty"), "--site", "alpha", "--name", "Alpha")
    assert created.exit_code == ExitCode.OK, created.stderr
    result = cli("show", "alpha-2024-anything", kb=tmp_path / "empty")
    assert result.exit_code == ExitCode.PROBLEMS
    assert "no entry has the id" in result.stderr and "no entries yet" in result.stderr


def test_the_ids_listed_for_resolving_are_those_of_every_entry_file(kb_path):
    """Listed as text (no Path per file), in the same order, first file of a name kept."""
    for rel in (
        "kb/strategies/deeper/alpha-2024-nested.md",
        "kb/rfis/beta-2025-nibin-and-group-data/responses/alpha-2024-nested.md",
        "kb/rfis/beta-2025-nibin-and-group-data/notes/alpha-2024-not-an-entry.md",
        "kb/work-products/alpha-2024-product/alpha-2024-attachment.md",
        "kb/strategies/.alpha-2024-hidden.md",
    ):
        (kb_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (kb_path / rel).write_text("x")
    kb = load_kb(kb_path)
    walked: dict = {}
    for path in entries.iter_entry_files(kb.root):
        walked.setdefault(path.stem, path)
    listed = entries.entry_files_by_id(kb)
    assert list(listed.items()) == list(walked.items())
    assert "alpha-2024-nested" in listed and "alpha-2024-not-an-entry" not in listed
    assert ops.resolve_id(kb, "alpha-2024-nes") == "alpha-2024-nested"
    with pytest.raises(NotFound):  # the first of that name is deeper than kb/strategies/
        ops.resolve_id(kb, "alpha-2024-nes", kinds=("strategy",))
