"""`cacop experts`: authors and sites ranked by their matching entries, recent work weighted
higher, on a fixture KB with known answers."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from fixturefiles import FILES

from cacop_cli import community
from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode

TODAY = "2026-06-15"


@pytest.fixture
def kb_copy(tmp_path) -> Path:
    target = tmp_path / "community"
    shutil.copytree(FILES / "community", target)
    return target


def experts_json(cli, kb: Path, query: str, *flags: str) -> dict:
    result = cli("experts", query, "--json", "--today", TODAY, *flags, kb=kb)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_people_and_sites_ranked_by_summed_relevance(cli, kb_copy):
    document = experts_json(cli, kb_copy, "nibin")
    people = [(p["label"], [e["id"] for e in p["entries"]]) for p in document["people"]]
    # Cy Chen wrote both NIBIN entries; Ann Alvarez co-wrote one; Bo Brown none
    assert people[0][0] == "Cy Chen"
    assert sorted(people[0][1]) == [
        "alpha-2025-nibin-lead-bulletin",
        "gamma-2026-nibin-network-chart",
    ]
    assert people[1] == ("Ann Alvarez", ["alpha-2025-nibin-lead-bulletin"])
    assert len(people) == 2
    assert document["people"][0]["score"] == pytest.approx(
        sum(e["weight"] for e in document["people"][0]["entries"]), abs=1e-3
    )
    sites = {s["name"]: [e["id"] for e in s["entries"]] for s in document["sites"]}
    assert sites == {
        "gamma": ["gamma-2026-nibin-network-chart"],
        "alpha": ["alpha-2025-nibin-lead-bulletin"],
    }
    assert {s["label"] for s in document["sites"]} == {"Gamma County", "Alpha City"}
    assert document["matched_entries"] == 2


def test_recent_work_outranks_the_same_work_ten_years_older(cli, kb_copy):
    """Two entries with the same text; Eve's is from 2026, Dee's from 2016."""
    document = experts_json(cli, kb_copy, "carjacking diversion")
    people = document["people"]
    assert [p["label"] for p in people] == ["Eve New", "Dee Old"]
    eve, dee = people[0]["entries"][0], people[1]["entries"][0]
    assert eve["score"] == pytest.approx(dee["score"], rel=0.05)  # equally relevant
    assert eve["weight"] > 20 * dee["weight"]  # 10 years older: 5 half-lives
    assert [s["name"] for s in document["sites"]] == ["alpha"]
    assert len(document["sites"][0]["entries"]) == 2


def test_recency_weight_halves_every_half_life():
    today = dt.date(2026, 6, 15)
    assert community.recency_weight(today, today) == 1.0
    two_years = today - dt.timedelta(days=community.HALF_LIFE_DAYS)
    assert community.recency_weight(two_years, today) == pytest.approx(0.5)
    assert community.recency_weight(today + dt.timedelta(days=9), today) == 1.0  # no bonus
    assert community.recency_weight(None, today) < community.recency_weight(two_years, today)


def test_a_broken_search_module_surfaces_instead_of_a_quiet_fallback(kb_copy, monkeypatch):
    """A search module that cannot be imported is a fault to see, not a reason to rank by
    something else (the old `except ImportError` guard turned it into term counting)."""
    monkeypatch.setitem(sys.modules, "cacop_cli.search", None)  # `import` now raises
    with pytest.raises(ImportError):
        community.experts(load_kb(kb_copy), "nibin", today=dt.date(2026, 6, 15))


def test_top_limits_the_lists(cli, kb_copy):
    document = experts_json(cli, kb_copy, "nibin", "--top", "1")
    assert [p["label"] for p in document["people"]] == ["Cy Chen"]
    assert len(document["sites"]) == 1


def test_table_lists_the_entries_behind_each_person(cli, kb_copy):
    on_a_terminal = {"COLUMNS": "160", "TTY_COMPATIBLE": "1", "TERM": "xterm"}
    result = cli("experts", "nibin", "--today", TODAY, kb=kb_copy, env=on_a_terminal)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.index("Cy Chen") < text.index("Ann Alvarez")
    assert "NIBIN network chart (work-product, 2026-05-01)" in text
    assert "gamma-2026-nibin-network-chart" in text
    assert "Gamma County" in text and "Alpha City" in text


def test_in_a_pipe_each_person_and_site_is_one_tab_separated_line(cli, kb_copy):
    document = experts_json(cli, kb_copy, "nibin")
    result = cli("experts", "nibin", "--today", TODAY, kb=kb_copy)
    assert result.exit_code == 0, result.stderr
    people, sites = result.stdout.split("\n\n")
    for block, title, ranked in (
        (people, "# People who know about 'nibin'", document["people"]),
        (sites, "# Sites (and their units)", document["sites"]),
    ):
        heading, *rows = block.strip("\n").split("\n")
        assert heading == title
        assert [row.split("\t") for row in rows] == [
            [str(rank), expert["label"], f"{expert['score']:.2f}",
             ", ".join(f"{item['id']} TLP:{item['tlp'].upper()}"
                       for item in expert["entries"]),
             expert["summary"], ""]
            for rank, expert in enumerate(ranked, 1)
        ]  # fmt: skip


def test_no_match_is_a_success_with_a_note(cli, kb_copy):
    result = cli("experts", "zeppelin", "--today", TODAY, kb=kb_copy)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no entry matches" in result.stderr


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_is_a_usage_error(cli, kb_copy, query):
    result = cli("experts", query, kb=kb_copy)
    assert result.exit_code == ExitCode.USAGE
    assert "give a query" in result.stderr


def test_uses_the_search_engine_and_its_query_checks(cli, kb_copy):
    assert experts_json(cli, kb_copy, "nibin")["engine"] == "index"
    result = cli("experts", "(nibin", kb=kb_copy)
    assert result.exit_code == ExitCode.USAGE
    assert "never closed" in result.stderr
    assert "Traceback" not in result.stderr


def test_search_syntax_narrows_the_experts(cli, kb_copy):
    document = experts_json(cli, kb_copy, "title:nibin AND network")
    assert [p["label"] for p in document["people"]] == ["Cy Chen"]
    assert [s["name"] for s in document["sites"]] == ["gamma"]


@pytest.mark.parametrize(
    "author, unit",
    [("Crime Analysis Unit", True), ("Real Time Crime Center", True), ("Patrol Division", True),
     ("Investigations Bureau", True), ("Planning Section", True), ("Gun Violence Team", True),
     ("Chief's Office", True), ("Alpha City", True), ("Cy Chen", False), ("T. Okafor", False)],
)  # fmt: skip
def test_units_and_sites_are_not_people(author, unit):
    from cacop_cli.people import is_unit

    assert is_unit(author, {"alpha city"}) is unit


def test_scores_come_from_the_search_without_its_snippets(kb_copy):
    """`experts` asks the search for scores only: the same hits, ranked the same, with no
    snippet (no entry file is read for one)."""
    from cacop_cli.search import search

    kb = load_kb(kb_copy)
    full = search(kb, "nibin", limit=50)
    bare = search(kb, "nibin", limit=50, facets=False, snippets=False)
    assert full.hits and [(h.id, h.score) for h in bare.hits] == [
        (h.id, h.score) for h in full.hits
    ]
    assert all(h.snippet for h in full.hits) and not any(h.snippet for h in bare.hits)


# ---------------------------------------------------------------- one freshness check
# `experts` reads the catalog (after a freshness check of the index), then searches. The
# search stands on the catalog's check when the live index is still the version that check
# found up to date; anything else is checked again. Each test changes the KB between the
# catalog and the search, in this process, through a hook around the search.

PATROL = "kb/strategies/beta-2023-hot-spots-patrol.md"


def _counting_refreshes(monkeypatch) -> list[str]:
    """The freshness checks made (search.refresh, which both load_catalog and search call)."""
    from cacop_cli import search

    made: list[str] = []
    real = search.refresh

    def counting(kb, *args, **kwargs):
        made.append("refresh")
        return real(kb, *args, **kwargs)

    monkeypatch.setattr(search, "refresh", counting)
    return made


def _between_catalog_and_search(monkeypatch, action) -> None:
    """Run `action` once, in the next `experts`, after its catalog and before its search."""
    real = community.search_scores
    pending = [action]

    def hooked(*args, **kwargs):
        while pending:
            pending.pop()()
        return real(*args, **kwargs)

    monkeypatch.setattr(community, "search_scores", hooked)


def _nibin_in_the_patrol_strategy(kb_root: Path) -> None:
    """An edit that makes a third entry match "nibin" (the size changes too), dated a minute
    ago: a file changed within the last 2 s is read again by every check (scan.RACY_NS),
    which would keep each check from finding the index unchanged."""
    path = kb_root / PATROL
    path.write_text(path.read_text("utf-8") + "\nNIBIN leads are checked at each stop.\n", "utf-8")
    past = time.time() - 60
    os.utime(path, (past, past))


def _matched(report) -> set[str]:
    return {item.entry.id for site in report.sites for item in site.contributions}


def test_experts_checks_the_index_once_and_ranks_as_a_search_that_checks_again(
    kb_copy, monkeypatch
):
    from cacop_cli import search

    kb = load_kb(kb_copy)
    today = dt.date.fromisoformat(TODAY)
    community.experts(kb, "nibin", today=today)  # builds the index
    made = _counting_refreshes(monkeypatch)
    once = community.experts(kb, "nibin", today=today).as_dict()
    assert made == ["refresh"]  # the catalog's; the search stood on it
    monkeypatch.setattr(search, "_on_checked", lambda *args: None)  # never stand on it
    checked_twice = community.experts(kb, "nibin", today=today).as_dict()
    assert made == ["refresh"] * 3
    assert once == checked_twice and once["matched_entries"] == 2


def test_a_search_standing_on_the_catalogs_check_sees_the_files_as_that_check_did(
    kb_copy, monkeypatch
):
    """A file changed after the catalog's check, with no one indexing it: the search runs
    on the index that check found up to date, so the hits agree with the catalog (the
    entry's old text); the next run checks again and sees the change."""
    kb = load_kb(kb_copy)
    today = dt.date.fromisoformat(TODAY)
    community.experts(kb, "nibin", today=today)
    _between_catalog_and_search(monkeypatch, lambda: _nibin_in_the_patrol_strategy(kb_copy))
    made = _counting_refreshes(monkeypatch)
    report = community.experts(kb, "nibin", today=today)
    assert made == ["refresh"] and report.matched == 2
    assert "beta-2023-hot-spots-patrol" not in _matched(report)
    again = community.experts(kb, "nibin", today=today)
    assert again.matched == 3 and "beta-2023-hot-spots-patrol" in _matched(again)


def test_an_index_updated_after_the_catalogs_check_is_checked_again(kb_copy, monkeypatch):
    """Another writer (here: a search of another process) indexed a change after the
    catalog's check: the live index is another version, so the search checks again and
    works on the newest index, never on the one the catalog was read from."""
    from cacop_cli import search

    kb = load_kb(kb_copy)
    today = dt.date.fromisoformat(TODAY)
    community.experts(kb, "nibin", today=today)

    def another_writer() -> None:
        _nibin_in_the_patrol_strategy(kb_copy)
        search.search(kb, "patrol")  # refreshes: a new version of the index goes live

    _between_catalog_and_search(monkeypatch, another_writer)
    made = _counting_refreshes(monkeypatch)
    report = community.experts(kb, "nibin", today=today)
    assert made == ["refresh"] * 3  # the catalog's, the other writer's, the search's own
    assert report.matched == 3 and "beta-2023-hot-spots-patrol" in _matched(report)


def test_a_check_that_updated_the_index_or_a_catalog_from_the_files_is_not_stood_on(
    kb_copy, monkeypatch
):
    from cacop_cli.catalog import load_catalog

    kb = load_kb(kb_copy)
    today = dt.date.fromisoformat(TODAY)
    community.experts(kb, "nibin", today=today)
    _nibin_in_the_patrol_strategy(kb_copy)  # before the command: its check updates
    made = _counting_refreshes(monkeypatch)
    report = community.experts(kb, "nibin", today=today)
    assert made == ["refresh"] * 2 and report.matched == 3
    assert load_catalog(kb).checked.unchanged is not None  # nothing changed since
    assert load_catalog(kb, [kb_copy / PATROL]).checked is None  # read from the file


def test_an_index_gone_after_the_catalogs_check_is_rebuilt_not_a_traceback(kb_copy, monkeypatch):
    kb = load_kb(kb_copy)
    today = dt.date.fromisoformat(TODAY)
    before = community.experts(kb, "nibin", today=today).as_dict()

    def removed() -> None:
        for folder in (kb_copy / ".cacop").glob("gen-*"):
            shutil.rmtree(folder)

    _between_catalog_and_search(monkeypatch, removed)
    assert community.experts(kb, "nibin", today=today).as_dict() == before
    assert list((kb_copy / ".cacop").glob("gen-*"))  # made again


def test_a_catalog_read_from_the_files_leaves_the_search_to_check_for_itself(kb_copy, monkeypatch):
    """The catalog's check could not bring the index up to date (the writer's lock busy):
    it read the files, which hold the change; the old index may not be stood on."""
    from cacop_cli import search
    from cacop_cli.errors import Busy

    kb = load_kb(kb_copy)
    today = dt.date.fromisoformat(TODAY)
    community.experts(kb, "nibin", today=today)
    _nibin_in_the_patrol_strategy(kb_copy)
    real = search.refresh
    made: list[str] = []

    def busy_once(*args, **kwargs):
        made.append("refresh")
        if len(made) == 1:
            raise Busy("another cacop is writing the index")
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "refresh", busy_once)
    report = community.experts(kb, "nibin", today=today)
    assert made == ["refresh"] * 2 and report.matched == 3
    assert "beta-2023-hot-spots-patrol" in _matched(report)
