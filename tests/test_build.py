"""A full build in two writer processes holds exactly what a build in one does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_genkb import load_script

from cacop_cli import search
from cacop_cli.config import load_kb
from cacop_cli.index import build as index_build
from cacop_cli.index import open_searcher

# Whoosh hands documents to its writer processes 100 at a time: three batches, two writers.
ENTRIES = 210
QUERIES = ["robbery", "hot spots", "deter* AND patrol", '"problem profile"', "title:burglary"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "kb"
    load_script("genkb").write_kb(out, ENTRIES, seed=5)
    return out


def built(source: Path, target: Path, parallel: bool, monkeypatch) -> tuple[Path, list]:
    """A copy of the KB, rebuilt in two writer processes or one; and the progress calls."""
    shutil.copytree(source, target)
    monkeypatch.setattr(index_build, "PARALLEL_FROM", 1 if parallel else 10**9)
    calls: list[tuple[int, int]] = []
    search.rebuild(load_kb(target), lambda done, total: calls.append((done, total)))
    return target, calls


def held(root: Path) -> dict:
    """What the index holds and answers, in an order that does not depend on its segments."""
    kb = load_kb(root)
    snapshot = search.snapshot(kb)
    answers = {}
    for query in QUERIES:
        result = search.search(kb, query, limit=1000, facets=True)
        hits = sorted((hit.id, round(hit.score, 9), hit.path) for hit in result.hits)
        answers[query] = (result.total, hits, result.facets)
    every = search.search(kb, "", type="rfi", limit=1000, facets=True)  # a filter, no words
    answers["--type rfi"] = (every.total, sorted(hit.id for hit in every.hits), every.facets)
    return {
        "documents": sorted(snapshot["documents"], key=lambda document: document["path"]),
        "words": snapshot["words"],
        "answers": answers,
    }


def segment_count(root: Path) -> int:
    with open_searcher(root) as searcher:
        return len(searcher.reader.leaf_readers())


def test_a_parallel_build_equals_a_serial_one(generated, tmp_path, monkeypatch):
    serial, serial_calls = built(generated, tmp_path / "serial", False, monkeypatch)
    parallel, parallel_calls = built(generated, tmp_path / "parallel", True, monkeypatch)
    assert segment_count(serial) == 1 and segment_count(parallel) == 2  # really two writers
    assert serial_calls == parallel_calls and serial_calls[-1] == (
        ENTRIES,
        ENTRIES,
    )  # the progress bar
    ours, theirs = held(serial), held(parallel)
    assert ours["answers"]["robbery"][0] > 0 and ours["answers"]["--type rfi"][0] > 0
    assert ours["answers"]["robbery"][2]  # facet counts, compared below
    assert ours == theirs
