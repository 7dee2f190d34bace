"""`cacop experts`: authors and sites ranked by their matching entries, recent work weighted
higher, on a fixture KB with known answers."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
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
