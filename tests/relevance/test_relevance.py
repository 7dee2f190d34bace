"""Issue 15's relevance bar: 100+ queries of every kind on the bundled kb/ (questions,
synonyms and attachment-only queries among them): recall@5 and MRR >= 0.95 overall and
>= 0.85 for each kind."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
KINDS = {"title", "keyword", "acronym", "stemming", "phrase", "typo", "filter", "synonym",
         "question", "attachment",
         "conceptual"}  # fmt: skip


def load_relevance():
    spec = importlib.util.spec_from_file_location("relevance", REPO / "scripts" / "relevance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def evaluated() -> dict:
    """One evaluation (a private copy of kb/, every query under each ranking, and FTS5) for
    both tests below: the same figures, computed once (it is the suite's slowest step)."""
    return load_relevance().evaluate()


def test_the_query_set_covers_every_kind_with_real_ids():
    relevance = load_relevance()
    queries = relevance.load_queries()
    assert len(queries) >= 100
    kinds = [item["kind"] for item in queries]
    assert kinds.count("question") >= 25 and kinds.count("synonym") >= 15
    assert kinds.count("attachment") >= 5
    assert {item["kind"] for item in queries} == KINDS
    known = {path.stem for path in (REPO / "kb").rglob("*.md")}
    for item in queries:
        assert item["expect"] and set(item["expect"]) <= known, item


def test_recall_and_mrr_reach_0_95_and_every_kind_0_85_beating_fts5():
    figures = evaluated()
    misses = [
        (row["query"], row["expect"], row["got"])
        for row in figures["cacop"]["queries"]
        if row["rr"] < 1
    ]
    assert figures["cacop"]["recall_at_5"] >= 0.95, misses
    assert figures["cacop"]["mrr"] >= 0.95, misses
    assert figures["cacop"]["mrr"] > figures["fts5"]["mrr"]
    for kind, row in figures["cacop"]["by_kind"].items():
        assert row["recall_at_5"] >= 0.85, (kind, misses)
        assert row["mrr"] >= 0.85, (kind, misses)


def test_each_ranking_step_is_measured_beside_the_bare_engine():
    figures = evaluated()
    assert {"cacop", "-vocab", "-coord", "bare", "fts5"} <= set(figures)
    assert {"+prf", "-prf"} & set(figures)
    assert figures["cacop"]["mrr"] >= figures["bare"]["mrr"]
