"""A full build in parts, written by two worker processes, holds exactly what a build in one
part, in this process, does."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_genkb import load_script

from cacop_cli import search
from cacop_cli.config import load_kb
from cacop_cli.index import build as index_build
from cacop_cli.index import cards as index_cards
from cacop_cli.index import open_searcher
from cacop_cli.index import parts as index_parts

ENTRIES = 210
QUERIES = ["robbery", "hot spots", "deter* AND patrol", '"problem profile"', "title:burglary"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "kb"
    load_script("genkb").write_kb(out, ENTRIES, seed=5)
    return out


def built(
    source: Path, target: Path, parallel: bool, monkeypatch, part: int = 10**9
) -> tuple[Path, list]:
    """A copy of the KB, rebuilt in worker processes or in this one, in parts of up to
    `part` entries; and the progress calls."""
    shutil.copytree(source, target)
    monkeypatch.setattr(index_build, "PARALLEL_FROM", 1 if parallel else 10**9)
    monkeypatch.setattr(index_parts, "PART_ENTRIES", part)
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
    cards, full, bodies = index_cards.load(root)
    return {
        "cards": list(cards.items()),  # in the order the catalog lists them
        "full": full(),
        "bodies": bodies().all(),
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
    assert segment_count(serial) == 1 and segment_count(parallel) == 2  # a part per process
    assert serial_calls == [(done, ENTRIES) for done in range(1, ENTRIES + 1)]
    assert_progress(parallel_calls)
    ours, theirs = held(serial), held(parallel)
    assert ours["answers"]["robbery"][0] > 0 and ours["answers"]["--type rfi"][0] > 0
    assert ours["answers"]["robbery"][2]  # facet counts, compared below
    assert len(ours["cards"]) == ENTRIES and ours["bodies"]
    assert ours == theirs


def test_more_parts_than_processes_still_equal_one_part(generated, tmp_path, monkeypatch):
    """Workers take the next part when done with one; the segments are listed by part."""
    serial, _ = built(generated, tmp_path / "serial", False, monkeypatch)
    parallel, calls = built(generated, tmp_path / "parts", True, monkeypatch, part=50)
    assert segment_count(parallel) == 5  # 210 entries in parts of 42
    assert_progress(calls)
    in_process, _ = built(generated, tmp_path / "in-process", False, monkeypatch, part=50)
    assert segment_count(in_process) == 5
    assert held(serial) == held(parallel) == held(in_process)


def assert_progress(calls: list[tuple[int, int]]) -> None:
    """The bar only moves forward, and ends full."""
    done = [count for count, _ in calls]
    assert done == sorted(done) and calls[-1] == (ENTRIES, ENTRIES)
    assert {total for _, total in calls} == {ENTRIES}


KILLED_BUILD = (
    "import sys; from pathlib import Path; from cacop_cli import search; "
    "from cacop_cli.config import load_kb; from cacop_cli.index import build, parts; "
    "build.PARALLEL_FROM = 1; parts.PART_ENTRIES = 30; "
    "search.rebuild(load_kb(Path(sys.argv[1])))"
)


@pytest.mark.slow
def test_a_parallel_build_killed_at_random_moments_leaves_the_live_index(
    generated, tmp_path, monkeypatch
):
    """SIGKILL of the process that hands out the parts: its workers stop, the live index
    still answers, and the next build equals a build in one part."""
    serial, _ = built(generated, tmp_path / "serial", False, monkeypatch)
    root, _ = built(generated, tmp_path / "killed", False, monkeypatch)
    before = held(root)
    command = [sys.executable, "-c", KILLED_BUILD, str(root)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    duration = time.perf_counter() - started
    rng = random.Random(11)
    for _ in range(5):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3 * duration, 0.95 * duration))  # start-up is the first part
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert held(root) == before
    time.sleep(1)  # the orphaned workers notice, at their next entry, and stop
    monkeypatch.setattr(index_parts, "PART_ENTRIES", 30)
    monkeypatch.setattr(index_build, "PARALLEL_FROM", 1)
    search.rebuild(load_kb(root))
    assert segment_count(root) == 7
    assert held(root) == held(serial)
    state = root / ".cacop"
    left = sorted(path.name for path in state.iterdir() if path.is_dir() and path.name != "extract")
    assert len(left) == 1 and left[0].startswith("gen-"), left
    assert not [path for path in (root / ".cacop" / left[0]).iterdir() if path.is_dir()]
