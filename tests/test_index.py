"""The index's safety (docs/architecture.md, "Hostile input", cases 23-26): never open a
foreign index, survive damage and kills."""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from kbtools import write_strategy

from cacop_cli import index, scan, search
from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode
from cacop_cli.index import build as index_build
from cacop_cli.index import facets as index_facets
from cacop_cli.index import locks as index_locks
from cacop_cli.index import record as index_record
from cacop_cli.index import whoosh_internals
from cacop_cli.query import Term, apply_mode, parse
from cacop_cli.vocabulary import Expander

from conftest import FILES, git

DETERRENCE = "alpha-2024-focused-deterrence-call-ins"


def found(cli, kb_path, query="moral voices") -> list[str]:
    result = cli("search", query, "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "Traceback" not in result.stderr
    return [hit["id"] for hit in json.loads(result.stdout)["results"]]


def live_folder(kb_path: Path) -> Path:
    record = json.loads((kb_path / ".cacop" / "record.json").read_text())
    return kb_path / ".cacop" / record["generation"]


def fresh_snapshot(kb_path: Path, tmp_path: Path) -> dict:
    """What a rebuild from nothing holds, made in a separate copy of the KB."""
    copy = tmp_path / "fresh-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(kb_path, copy, ignore=shutil.ignore_patterns(".cacop"))
    kb = load_kb(copy)
    search.rebuild(kb)
    snapshot = search.snapshot(kb)
    for document in snapshot["documents"]:
        document.pop("path_root", None)
    return snapshot


def crafted_toc(folder: Path, marker: Path) -> None:
    """A real Whoosh table of contents whose pickled schema creates `marker` when loaded."""
    import whoosh.index as whoosh_index
    from whoosh.fields import Schema
    from whoosh.filedb.filestore import FileStorage

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    real_pickle = whoosh_index.pickle

    class Shim:
        PicklingError = pickle.PicklingError

        @staticmethod
        def dumps(value, protocol=2):
            if isinstance(value, Schema):
                return real_pickle.dumps(Payload(), protocol)
            return real_pickle.dumps(value, protocol)

        loads = staticmethod(real_pickle.loads)

    folder.mkdir(parents=True, exist_ok=True)
    whoosh_index.pickle = Shim
    try:
        whoosh_index.TOC(Schema(), [], 1).write(FileStorage(str(folder)), "MAIN")
    finally:
        whoosh_index.pickle = real_pickle


def test_the_crafted_index_really_runs_code_when_whoosh_opens_it(tmp_path):
    """The control: proves the payload below would fire, so its absence means something."""
    import whoosh.index as whoosh_index

    marker = tmp_path / "PWNED"
    crafted_toc(tmp_path / "crafted", marker)
    with pytest.raises(Exception):  # noqa: B017 - the payload returns a file, not a schema
        whoosh_index.open_dir(str(tmp_path / "crafted"))
    assert marker.exists()


def test_a_cacop_folder_that_arrived_by_pull_or_copy_is_never_opened(cli, git_kb, tmp_path):
    marker = tmp_path / "PWNED"
    state = git_kb / ".cacop"
    generation = "gen-0123456789abcdef"
    crafted_toc(state / generation, marker)
    for other in ("index", "gen-ffffffffffffffff", "."):
        crafted_toc(state / other, marker)
    toc = next((state / generation).glob("*.toc"))
    forged = {
        "identity": index_record._identity(git_kb),
        "generation": generation,
        "toc": 1,
        "files": {toc.name: [toc.stat().st_ino, toc.stat().st_size, toc.stat().st_mtime_ns]},
        "digest": "0" * 64,
        "count": 1,
        "broken": {},
        "mac": "0" * 64,
    }
    (state / "record.json").write_text(json.dumps(forged))
    result = cli("search", "moral voices", "--json", kb=git_kb)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert not marker.exists()
    assert "not written by this clone" in result.stderr
    assert [hit["id"] for hit in json.loads(result.stdout)["results"]] == [DETERRENCE]
    assert not (state / generation).exists()  # replaced by our own build


def test_an_index_copied_from_another_clone_is_rebuilt_not_opened(cli, kb_path, tmp_path):
    assert found(cli, kb_path) == [DETERRENCE]
    other = tmp_path / "other-clone"
    shutil.copytree(kb_path, other, symlinks=True)  # .cacop/ comes along, record and all
    marker = tmp_path / "PWNED"
    copied = live_folder(other)
    for toc in copied.glob("*.toc"):
        toc.unlink()
        crafted_toc(copied, marker)
    result = cli("search", "moral voices", "--json", kb=other)
    assert result.exit_code == ExitCode.OK
    assert not marker.exists()
    assert "not written by this clone" in result.stderr


def test_a_file_swapped_inside_our_own_index_is_never_opened(cli, kb_path, tmp_path):
    assert found(cli, kb_path) == [DETERRENCE]
    marker = tmp_path / "PWNED"
    folder = live_folder(kb_path)
    toc = next(folder.glob("*.toc"))
    generation = int(toc.stem.rsplit("_", 1)[1])
    toc.unlink()
    import whoosh.index as whoosh_index

    crafted_toc(folder / "x", marker)
    os.replace(folder / "x" / "_MAIN_1.toc", folder / f"_MAIN_{generation}.toc")
    assert found(cli, kb_path) == [DETERRENCE]
    assert not marker.exists()
    assert whoosh_index  # imported only to build the payload


@pytest.mark.parametrize("damage", ["delete-folder", "truncate-toc", "truncate-segment"])
def test_a_damaged_index_is_rebuilt_with_a_notice(cli, kb_path, damage):
    assert found(cli, kb_path) == [DETERRENCE]
    folder = live_folder(kb_path)
    if damage == "delete-folder":
        shutil.rmtree(kb_path / ".cacop")
    elif damage == "truncate-toc":
        next(folder.glob("*.toc")).write_bytes(b"\x00\x01")
    else:
        segment = max((p for p in folder.iterdir() if p.suffix == ".seg"), key=os.path.getsize)
        with open(segment, "r+b") as handle:
            handle.truncate(segment.stat().st_size // 2)
    result = cli("search", "moral voices", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK and "Traceback" not in result.stderr
    assert [hit["id"] for hit in json.loads(result.stdout)["results"]] == [DETERRENCE]
    if damage != "delete-folder":
        assert "rebuilt" in result.stderr


@pytest.mark.parametrize(
    ("in_the_way", "needed"),
    [(".cacop", "a folder"), (".cacop/write.lock", "a file"), (".cacop/read.lock", "a file")],
)
def test_something_in_the_way_of_the_index_is_named_with_what_to_do(
    cli, kb_path, in_the_way, needed
):
    assert found(cli, kb_path) == [DETERRENCE]
    shutil.rmtree(kb_path / ".cacop")
    if in_the_way == ".cacop":
        (kb_path / ".cacop").write_text("a file, not the index's folder\n")
    else:
        (kb_path / in_the_way).mkdir(parents=True)
    for args in (("search", "moral voices"), ("index",), ("index", "--rebuild")):
        result = cli(*args, kb=kb_path)
        assert result.exit_code == ExitCode.PROBLEMS, result.stderr
        assert result.stderr.splitlines() == [
            f"error: {kb_path / in_the_way} is in the way of the search index: "
            f"cacop keeps {needed} there",
            "hint: remove it, then try again; the index is rebuilt from the entries",
        ]
    if in_the_way == ".cacop":
        (kb_path / in_the_way).unlink()
    else:
        (kb_path / in_the_way).rmdir()
    assert found(cli, kb_path) == [DETERRENCE]  # as the hint says


def test_a_kb_that_cannot_be_written_says_why_and_what_to_do(cacop_exe, kb_path, tmp_path):
    """A KB on a read-only mount, or one that belongs to someone else (a shared drive)."""
    if os.geteuid() == 0:  # root writes anywhere: a read-only bind mount, in a namespace
        argv = ["unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"']
        argv += [str(kb_path), *cacop_exe]
    else:
        kb_path.chmod(0o555)
        argv = [*cacop_exe]
    try:
        result, listed = (
            subprocess.run([*argv, "--kb", str(kb_path), *args], capture_output=True, text=True,
                           timeout=60)
            for args in (["search", "moral voices"], ["list", "--json"])
        )  # fmt: skip
    finally:
        kb_path.chmod(0o755)
    assert result.returncode == ExitCode.PROBLEMS, result.stderr
    reason = "read-only file system" if os.geteuid() == 0 else "permission denied"
    assert result.stderr.splitlines() == [
        f"error: the search index cannot be written in {kb_path}: {reason}",
        "hint: search keeps its index beside the entries: work in your own clone of the "
        "knowledge base (`git clone URL`), or ask the folder's owner for write access",
    ]
    assert not (kb_path / ".cacop").exists()
    # commands that need no index still work there
    assert listed.returncode == ExitCode.OK and '"entries"' in listed.stdout, listed.stderr


def test_a_second_writer_waits_then_says_busy(cli, kb_path):
    assert found(cli, kb_path) == [DETERRENCE]
    with index.write_lock(kb_path, wait=1):
        started = time.perf_counter()
        result = cli("index", "--rebuild", kb=kb_path, env={"CACOP_LOCK_WAIT": "0.3"})
        assert time.perf_counter() - started < 5
        assert result.exit_code == ExitCode.PROBLEMS
        assert "busy" in result.stderr and "Traceback" not in result.stderr
        # a fresh index needs no writer: searching goes on
        assert found(cli, kb_path) == [DETERRENCE]
        write_strategy(kb_path, "alpha-2024-new", body="moral voices again\n")
        stale = cli("search", "moral", kb=kb_path, env={"CACOP_LOCK_WAIT": "0.3"})
        assert stale.exit_code == ExitCode.PROBLEMS and "busy" in stale.stderr
    assert set(found(cli, kb_path)) == {DETERRENCE, "alpha-2024-new"}


def test_incremental_updates_equal_a_fresh_rebuild(cli, kb_path, tmp_path):
    assert found(cli, kb_path) == [DETERRENCE]
    write_strategy(kb_path, "alpha-2024-added", body="zeppelin\n")
    changed = kb_path / "kb/strategies/beta-2023-hot-spots-dosage.md"
    changed.write_text(changed.read_text().replace("## ", "## Zeppelin "))
    (kb_path / "kb/work-products/alpha-2024-shooting-review-checklist.md").unlink()
    result = cli("index", kb=kb_path)
    assert result.exit_code == ExitCode.OK
    assert "1 added, 1 changed, 1 removed" in result.stderr
    assert search.snapshot(load_kb(kb_path)) == fresh_snapshot(kb_path, tmp_path)
    assert "index up to date" in cli("index", kb=kb_path).stderr


def test_the_index_folder_is_invisible_to_git_and_flagged_when_committed(cli, git_kb):
    (git_kb / ".gitignore").write_text("")  # even without the KB's own ignore rule
    assert found(cli, git_kb) == [DETERRENCE]
    status = git(git_kb, "status", "--porcelain", "--untracked-files=all")
    assert ".cacop" not in status
    git(git_kb, "add", "-f", ".cacop/record.json")
    result = cli("validate", kb=git_kb)
    assert result.exit_code == ExitCode.PROBLEMS and ".cacop" in result.stdout


def test_vocabulary_problems_are_reported_by_validate(cli, kb_path):
    (kb_path / "kb" / "vocabulary.yaml").write_text(
        "groups:\n  - [LPR, license plate reader]\n  - [lpr, plate reader]\n  - [alone]\n"
    )
    result = cli("validate", kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "kb/vocabulary.yaml:3: error: group 2: 'lpr' is already in group 1" in result.stdout
    assert "kb/vocabulary.yaml:4: error: group 3: must be a list of at least two" in result.stdout


def test_a_kb_vocabulary_is_checked_against_the_default_one(cli, kb_path):
    (kb_path / "kb" / "vocabulary.yaml").write_text(
        "groups:\n  - [LPR, NIBIN]\ndisable: [lpr]\nextra: 1\n"
    )
    result = cli("validate", kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "kb/vocabulary.yaml:1: error: must hold 'groups:'" in result.stdout  # extra: 1
    (kb_path / "kb" / "vocabulary.yaml").write_text(
        "groups:\n  - [LPR, NIBIN]\n  - [Flock, ALPR]\ndisable: [no-such-group]\n"
    )
    result = cli("validate", kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    assert (
        "kb/vocabulary.yaml:2: error: the group [LPR, NIBIN] joins the default groups"
        in result.stdout
    )
    assert "kb/vocabulary.yaml:4: warning: disable: 'no-such-group' is not a group" in (
        result.stdout
    )
    (kb_path / "kb" / "vocabulary.yaml").write_text("groups:\n  Bad_Name: [a b, c d]\n")
    result = cli("validate", kb=kb_path)
    assert "kb/vocabulary.yaml:2: error: 'Bad_Name' is not a group name" in result.stdout
    (kb_path / "kb" / "vocabulary.yaml").write_text(
        "groups:\n  lpr: [Flock, ALPR]\n  plates: [tag reader, plate camera]\ndisable: [switch]\n"
    )
    assert cli("validate", kb=kb_path).exit_code == ExitCode.OK


def test_the_default_vocabulary_is_valid_named_and_large():
    from cacop_cli import vocabulary
    from cacop_cli.index import tokens

    default = vocabulary.load_default()
    assert default.issues == []
    assert len(default.groups) >= 150
    assert all(name and vocabulary.GROUP_NAME.fullmatch(name) for name in default.names)
    terms = {term.lower() for group in default.groups for term in group}
    needed = "nibin cgic gvi lpr alpr rtm cad rms nibrs ucr cpted hvip atf usao pni sna shotspotter"
    for term in [*needed.split(), "carjacking", "vehicle hijacking", "acoustic gunfire detection"]:
        assert term in terms
    for group in default.groups:  # a form the index reads as nothing would match everything
        for form in group:
            assert tokens(form), form
            words = form.replace("-", " ").split()
            if len(words) > 1:  # and none shrinks to one everyday word ("break-in" -> break)
                assert len(tokens(form)) > 1 or len(tokens(words[0])) == 0, form


def test_the_bundled_vocabulary_is_valid():
    from cacop_cli import vocabulary

    loaded = vocabulary.load(Path(__file__).resolve().parent.parent)
    assert loaded.issues == []
    terms = {term.lower() for group in loaded.groups for term in group}
    assert {"koper curve", "level i trauma center", "nibin", "carjacking"} <= terms


# ---------------------------------------------------------------- real processes


def many_entries(kb_path: Path, count: int) -> None:
    words = (
        "dosage", "patrol", "burglary", "robbery", "shooting", "group", "network", "place",
        "lighting", "corridor", "audit", "geocoding", "bulletin", "template", "deterrence",
        "outreach", "trauma", "hospital",
    )  # fmt: skip
    rng = random.Random(7)
    for number in range(count):
        body = " ".join(rng.choice(words) for _ in range(200)) + "\n"
        write_strategy(kb_path, f"alpha-2024-generated-{number:04d}", body=body)


@pytest.mark.slow
def test_rebuild_killed_at_random_moments_leaves_a_usable_index(cacop_exe, kb_path, tmp_path):
    many_entries(kb_path, 100)
    base = [*cacop_exe, "--kb", str(kb_path)]
    env = {**os.environ, "CACOP_LOCK_WAIT": "20"}
    started = time.perf_counter()
    subprocess.run([*base, "index", "--rebuild"], check=True, capture_output=True, env=env)
    duration = time.perf_counter() - started
    kb = load_kb(kb_path)
    rng = random.Random(23)
    for _ in range(10):
        process = subprocess.Popen(
            [*base, "index", "--rebuild"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        time.sleep(rng.uniform(0.3 * duration, 1.1 * duration))  # start-up is the first part
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert search.search(kb, "moral voices").hits[0].id == DETERRENCE
    subprocess.run([*base, "index"], check=True, capture_output=True, env=env)
    assert search.snapshot(kb) == fresh_snapshot(kb_path, tmp_path)
    subprocess.run([*base, "index", "--rebuild"], check=True, capture_output=True, env=env)
    folders = [p.name for p in (kb_path / ".cacop").iterdir() if p.is_dir() and p.name != "extract"]
    assert len(folders) == 1 and folders[0].startswith("gen-"), folders


@pytest.mark.slow
def test_an_update_killed_at_random_moments_leaves_a_working_index(cacop_exe, kb_path, tmp_path):
    """Killed while it reads the changed files, writes its segment, the cards or the bodies'
    shards, or signs the record: the next command finds an index that answers as the files
    do (the old one, brought up to date, or a rebuild), bodies included."""
    from cacop_cli.catalog import load_catalog
    from cacop_cli.entries import iter_entry_files

    many_entries(kb_path, 100)
    base = [*cacop_exe, "--kb", str(kb_path)]
    env = {**os.environ, "CACOP_LOCK_WAIT": "20"}
    subprocess.run([*base, "index"], check=True, capture_output=True, env=env)
    kb = load_kb(kb_path)
    files = sorted(iter_entry_files(kb_path))
    rng = random.Random(31)
    for number in range(8):
        for path in rng.sample(files, 10):
            with path.open("a", encoding="utf-8") as handle:
                handle.write(f"\nRevision {number}: zeppelin follow-up.\n")
        started = time.perf_counter()
        process = subprocess.Popen(
            [*base, "index"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        time.sleep(rng.uniform(0.2, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert time.perf_counter() - started < 60
        stored = load_catalog(kb)
        read = load_catalog(kb, list(iter_entry_files(kb_path)))
        assert [entry.body for entry in stored.entries] == [entry.body for entry in read.entries]
        assert len(search.search(kb, "zeppelin", limit=200).hits) == len(
            [entry for entry in read.entries if "zeppelin" in entry.body]
        )
    assert search.snapshot(kb) == fresh_snapshot(kb_path, tmp_path)


@pytest.mark.slow
def test_two_index_runs_and_a_search_at_once(cacop_exe, kb_path, tmp_path):
    many_entries(kb_path, 60)
    base = [*cacop_exe, "--kb", str(kb_path)]
    env = {**os.environ, "CACOP_LOCK_WAIT": "30"}
    runs = [
        subprocess.Popen([*base, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for args in (["index", "--rebuild"], ["index"], ["search", "moral voices", "--json"])
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (_, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0 or b"busy" in stderr, stderr
        assert b"Traceback" not in stderr
    assert search.snapshot(load_kb(kb_path)) == fresh_snapshot(kb_path, tmp_path)


def test_the_record_describes_the_schema_whoosh_builds():
    assert {name: type(kind).__name__ for name, kind in index.schema().items()} == index.FIELD_KINDS


def test_an_index_with_the_older_json_manifest_is_kept_not_rebuilt(cli, kb_path):
    assert found(cli, kb_path) == [DETERRENCE]
    record = index.read_record(kb_path)
    folder = kb_path / ".cacop" / record.generation
    manifest = index_build._read_manifest(folder)
    (folder / index.OLD_MANIFEST).write_text(json.dumps(manifest))
    (folder / index.MANIFEST).unlink()
    record.files = index_record.file_stats(folder)
    index_record.write_record(kb_path, record)
    result = cli("index", kb=kb_path)
    assert "index up to date" in result.stderr and "rebuilt" not in result.stderr
    write_strategy(kb_path, "alpha-2024-added", body="moral voices, once more\n")
    assert set(found(cli, kb_path)) == {DETERRENCE, "alpha-2024-added"}
    assert (folder / index.MANIFEST).exists() and not (folder / index.OLD_MANIFEST).exists()


def test_one_pass_gives_the_true_best_hits_and_every_match_across_segments(cli, kb_path):
    words = ["nibin", "shooting", "review", "gun"]
    rng = random.Random(7)
    for batch in range(4):  # each update commits a segment of its own
        for number in range(6):
            body = " ".join(rng.choice(words) for _ in range(rng.randint(1, 40))) + "\n"
            write_strategy(kb_path, f"alpha-2024-batch-{batch}-{number}", body=body)
        assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    with index.open_searcher(kb_path) as searcher:
        assert len(searcher.reader.leaf_readers()) > 1
        for text in ["nibin shooting", "review", '"gun review"', "nib*", "nibin OR gun"]:
            node = apply_mode(parse(text))
            for filters in ([], [Term("strategy", "type")]):
                compiled = searcher.compile(node)
                if filters:
                    compiled = index_query_and(compiled, searcher.compile(filters[0]))
                everything = searcher.searcher.search(compiled, limit=None)
                for limit in (1, 3):
                    docs, hits = searcher.search(node, filters, limit)
                    assert docs == set(everything.docs()), (text, filters)
                    best = [dict(hit.fields())["path"] for hit in everything[:limit]]
                    assert [hit.fields["path"] for hit in hits] == best, (text, filters, limit)


def index_query_and(*parts):
    from whoosh import query

    return query.And(list(parts))


def test_the_fused_stemming_analyser_gives_exactly_the_whoosh_chains_tokens():
    from whoosh.analysis.analyzers import CompositeAnalyzer

    fused, _ = index.analyzers()
    chain = CompositeAnalyzer(*fused.items)
    assert type(fused) is not CompositeAnalyzer
    assert pickle.loads(pickle.dumps(fused)) == fused  # Whoosh pickles it into its TOC
    body = (FILES / "valid/kb/strategies/alpha-2024-focused-deterrence-call-ins.md").read_text()
    texts = [
        body,
        "The Call-Ins are working: a of 24-013377 and 2024/013, co-offending x y",
        "İstanbul ŞEHİR the straße ΣΊΣΥΦΟΣ ǅemal", "", "the a an", "a b",
    ]  # fmt: skip
    options = [
        {}, {"positions": True}, {"positions": True, "removestops": False}, {"no_morph": True},
        {"mode": "query", "positions": True, "removestops": False, "start_pos": 7},
        {"chars": True, "positions": True}, {"tokenize": False},
    ]  # fmt: skip

    def seen(analyser, text, given):
        return [
            (t.text, t.stopped, getattr(t, "pos", None), getattr(t, "startchar", None), t.boost)
            for t in analyser(text, **given)
        ]

    for text in texts:
        for given in options:
            assert seen(fused, text, given) == seen(chain, text, given), (text[:30], given)


def test_lengths_read_once_score_exactly_as_whoosh_reads_them(cli, kb_path):
    for number in range(3):
        write_strategy(kb_path, f"alpha-2024-more-{number}", body="shooting review " * number)
        assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    record = index.read_record(kb_path)
    folder = kb_path / ".cacop" / record.generation
    plain = whoosh_internals.pinned_index(folder, record.toc, readonly=True).searcher()
    with index.open_searcher(kb_path) as searcher:
        kinds = {
            type(column).__name__
            for leaf, _ in searcher.reader.leaf_readers()
            for column in leaf._perdoc._readers.values()
        }
        assert kinds == {"_Lengths"}
        for text in ["shooting review", "moral voices", "review*"]:
            query = searcher.compile(apply_mode(parse(text)))
            ours = [(hit.docnum, hit.score) for hit in searcher.searcher.search(query, limit=None)]
            theirs = [(hit.docnum, hit.score) for hit in plain.search(query, limit=None)]
            assert ours == theirs and ours, text
    plain.close()


def segment_count(kb_path) -> int:
    with index.open_searcher(kb_path) as searcher:
        return len(searcher.reader.leaf_readers())


def test_updates_never_merge_and_a_merge_joins_their_segments(cli, kb_path, tmp_path, monkeypatch):
    monkeypatch.setattr(index_build, "MERGE_AT", 3)
    asked: list[Path] = []
    monkeypatch.setattr(index, "merge_in_background", asked.append)
    assert found(cli, kb_path) == [DETERRENCE]
    counts = []
    for number in range(4):
        write_strategy(kb_path, f"alpha-2024-update-{number}", body=f"zeppelin {number}\n")
        assert cli("index", kb=kb_path).exit_code == ExitCode.OK
        counts.append(segment_count(kb_path))
    assert counts == sorted(counts) and counts[-1] == counts[0] + 3  # one segment an update
    assert asked and set(asked) == {kb_path}  # once MERGE_AT gathered, a merge was asked for
    live = index.read_record(kb_path).generation
    assert index.merge(kb_path)
    assert segment_count(kb_path) == 1  # in this small KB, every segment is small
    state = kb_path / ".cacop"
    assert not (state / live).exists() and not list(state.glob("build-*"))
    assert search.snapshot(load_kb(kb_path)) == fresh_snapshot(kb_path, tmp_path)
    assert len(found(cli, kb_path, "zeppelin")) == 4


def gather_small_segments(cli, kb_path, monkeypatch) -> None:
    """Three updates, so a merge is due (MERGE_AT 2), and no merge started in the background."""
    monkeypatch.setattr(index_build, "MERGE_AT", 2)
    monkeypatch.setattr(index, "merge_in_background", lambda root: None)
    for number in range(3):
        write_strategy(kb_path, f"alpha-2024-small-{number}", body="zeppelin\n")
        assert cli("index", kb=kb_path).exit_code == ExitCode.OK


def test_a_merge_gives_way_to_an_update_made_meanwhile(cli, kb_path, monkeypatch):
    gather_small_segments(cli, kb_path, monkeypatch)
    kb, real = load_kb(kb_path), index_build._merge_small_segments
    updated: list[tuple[str, int]] = []

    def update_first(writer, segments):  # `cacop index` elsewhere, while this merge works
        write_strategy(kb_path, "alpha-2024-during-merge", body="zeppelin late\n")
        index.refresh(kb_path, lambda rel: index.document_for(kb, rel))
        updated.append(index.read_record(kb_path).version)
        return real(writer, segments)

    monkeypatch.setattr(index_build, "_merge_small_segments", update_first)
    assert index.merge(kb_path, attempts=2) is False  # an update came during each attempt
    assert len(updated) == 2 and index.read_record(kb_path).version == updated[-1]
    assert not list((kb_path / ".cacop").glob("build-*"))  # the live files untouched (verified)
    assert "alpha-2024-during-merge" in found(cli, kb_path, "zeppelin")


def test_a_merge_that_gave_way_tries_again(cli, kb_path, tmp_path, monkeypatch):
    gather_small_segments(cli, kb_path, monkeypatch)
    kb, real = load_kb(kb_path), index_build._merge_small_segments
    calls: list[int] = []

    def update_the_first_time(writer, segments):
        if not calls:
            write_strategy(kb_path, "alpha-2024-first-attempt", body="zeppelin once\n")
            index.refresh(kb_path, lambda rel: index.document_for(kb, rel))
        calls.append(1)
        return real(writer, segments)

    monkeypatch.setattr(index_build, "_merge_small_segments", update_the_first_time)
    assert index.merge(kb_path) is True and len(calls) == 2
    assert segment_count(kb_path) == 1
    assert search.snapshot(load_kb(kb_path)) == fresh_snapshot(kb_path, tmp_path)
    assert index.merge(kb_path) is False  # nothing left to merge


def test_one_merge_at_a_time(cli, kb_path):
    from cacop_cli.errors import Busy

    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    held = index_locks.locked(kb_path / ".cacop" / "merge.lock", True, 0, "merging it")
    with held, pytest.raises(Busy):
        index.merge(kb_path)


def test_a_detached_merge_joins_segments_after_the_command(cli, kb_path, tmp_path):
    kb = load_kb(kb_path)
    for number in range(index.MERGE_AT):  # the real threshold: the merge is another process
        write_strategy(kb_path, f"alpha-2024-many-{number}", body=f"zeppelin {number}\n")
        report = index.refresh(kb_path, lambda rel: index.document_for(kb, rel))
    assert report.merge_due and segment_count(kb_path) >= index.MERGE_AT
    index.merge_in_background(kb_path)
    deadline = time.monotonic() + 60
    while segment_count(kb_path) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert segment_count(kb_path) == 1
    assert search.snapshot(load_kb(kb_path)) == fresh_snapshot(kb_path, tmp_path)


def settled_file(path: Path) -> None:
    """Modified an hour ago: not racy (test_freshness), so no check reads it again."""
    an_hour_ago = time.time_ns() - 3_600 * 10**9
    os.utime(path, ns=(an_hour_ago, an_hour_ago))


def test_a_merge_killed_at_any_moment_leaves_a_working_index(cli, kb_path, tmp_path):
    kb = load_kb(kb_path)
    for number in range(index.MERGE_AT):
        written = write_strategy(kb_path, f"alpha-2024-kill-{number}", body=f"zeppelin {number}\n")
        settled_file(written)  # else the searches below read it again, and start merges
        index.refresh(kb_path, lambda rel: index.document_for(kb, rel))
    rng = random.Random(3)
    for _ in range(4):
        merging = subprocess.Popen([os.sys.executable, "-c", index.MERGE_COMMAND, str(kb_path)])
        time.sleep(rng.uniform(0.05, 0.8))
        merging.send_signal(signal.SIGKILL)
        merging.wait()
        assert len(found(cli, kb_path, "zeppelin")) == index.MERGE_AT
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    index.merge(kb_path)  # whichever way the kills fell, a merge now completes
    assert segment_count(kb_path) == 1 and not list((kb_path / ".cacop").glob("build-*"))
    assert search.snapshot(load_kb(kb_path)) == fresh_snapshot(kb_path, tmp_path)


def test_facet_table_counts_exactly_what_the_postings_hold(cli, kb_path):
    for number in range(4):  # several segments, a changed entry and a deleted one
        extra = "tags: [nibin]\n" if number % 2 else ""
        write_strategy(kb_path, f"alpha-2024-facet-{number}", extra=extra, body="review\n")
        assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    (kb_path / "kb/strategies/alpha-2024-facet-1.md").unlink()
    changed = kb_path / "kb/strategies/alpha-2024-facet-2.md"
    changed.write_text(changed.read_text().replace("crime-analysis", "gun-violence"))
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    with index.open_searcher(kb_path) as searcher:
        assert set(searcher.facets) == set(index.FACET_FIELDS)
        assert len(searcher.reader.leaf_readers()) > 1
        for text in ["review", "moral voices", "nibin OR review"]:
            docs, _ = searcher.search(apply_mode(parse(text)), [], 5)
            assert docs, text
            for name in index.FACET_FIELDS:
                from_postings = searcher._counts_from_postings(docs, name)
                assert searcher.counts(docs, name) == from_postings and from_postings
        topics = searcher.counts(searcher.search(parse("review"), [], 5)[0], "topic")
        assert topics.get("gun-violence", 0) >= 1


def segment_ids(kb_path) -> set[str]:
    with index.open_searcher(kb_path) as searcher:
        return {leaf.segment().segment_id() for leaf, _ in searcher.reader.leaf_readers()}


def test_a_refresh_reads_facets_from_new_segments_only(cli, kb_path, monkeypatch):
    for number in range(3):  # several segments
        write_strategy(kb_path, f"alpha-2024-parts-{number}", body="review\n")
        assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    before = segment_ids(kb_path)
    assert len(before) > 1
    read: list[str] = []
    real = index_facets._segment_facets

    def spy(leaf):
        read.append(leaf.segment().segment_id())
        return real(leaf)

    def gun_violence() -> int:
        with index.open_searcher(kb_path) as searcher:
            docs, _ = searcher.search(parse("review"), [], 5)
            return searcher.counts(docs, "topic").get("gun-violence", 0)

    counted = gun_violence()
    monkeypatch.setattr(index_facets, "_segment_facets", spy)
    changed = kb_path / "kb/strategies/alpha-2024-parts-1.md"
    changed.write_text(changed.read_text().replace("crime-analysis", "gun-violence"))
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    after = segment_ids(kb_path)
    assert read and set(read) == after - before  # the new segment, not the old ones
    with index.open_searcher(kb_path) as searcher:
        docs, _ = searcher.search(parse("review"), [], 5)
        for name in index.FACET_FIELDS:
            assert searcher.counts(docs, name) == searcher._counts_from_postings(docs, name)
    assert gun_violence() == counted + 1


def test_an_index_without_a_facet_table_gets_one_without_a_rebuild(cli, kb_path):
    assert found(cli, kb_path) == [DETERRENCE]
    record = index.read_record(kb_path)
    folder = kb_path / ".cacop" / record.generation
    (folder / index.FACETS).unlink()
    del record.files[index.FACETS]
    index_record.write_record(kb_path, record)
    with index.open_searcher(kb_path) as searcher:
        assert searcher.facets == {}  # counting still works, from the postings
    assert "rebuilt" not in cli("index", kb=kb_path).stderr
    assert index.read_record(kb_path).generation == record.generation
    with index.open_searcher(kb_path) as searcher:
        assert set(searcher.facets) == set(index.FACET_FIELDS)


def coordinated(query) -> bool:
    """Does the Whoosh query hold an Or with a coordination bonus (the "any words" mode)?"""
    return bool(getattr(query, "scale", None)) or any(
        coordinated(child) for child in query.children()
    )


def test_our_scoring_equals_whooshs_own_matchers_for_every_kind_of_query(cli, kb_path):
    words = ["nibin", "shooting", "review", "gun", "hot", "spot", "carjacking", "the"]
    rng = random.Random(11)
    for batch in range(3):  # several segments; then a deletion and a change
        for number in range(8):
            body = " ".join(rng.choice(words) for _ in range(rng.randint(1, 60))) + "\n"
            extra = "tags: [nibin, hot spots]\n" if number % 3 == 0 else ""
            write_strategy(kb_path, f"alpha-2024-score-{batch}-{number}", extra=extra, body=body)
        assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    (kb_path / "kb/strategies/alpha-2024-score-0-1.md").unlink()
    write_strategy(kb_path, "alpha-2024-score-1-2", body="gun gun gun review\n")
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    queries = [
        "nibin", "nibin shooting", "gun OR review", "nibin NOT shooting", "(gun OR hot) review",
        '"hot spot"', "carjack*", "tag:nibin", "title:burglary", "type:strategy gun",
        "created:[2024-01-01 TO 2024-12-31] review", "unheardof", "nibin shooting review gun",
        '"gun review"', '"gun gun"', '"nibin shooting review"', '"review the gun" nibin',
        'body:"shooting gun"', '"hot spot" OR "gun nibin"',
    ]  # fmt: skip
    kb = load_kb(kb_path)
    expander = Expander.for_kb(kb)
    with index.open_searcher(kb_path) as searcher:
        assert len(searcher.reader.leaf_readers()) > 1
        assert any(leaf.has_deletions() for leaf, _ in searcher.reader.leaf_readers())
        for text in queries:
            for mode in ("all", "any"):
                tree = apply_mode(expander.expand(parse(text)), mode)
                compiled = searcher.compile(tree)
                ours = searcher.scores(compiled)
                everything = searcher.searcher.search(compiled, limit=None)
                theirs = {hit.docnum: hit.score for hit in everything}
                assert set(ours) == set(theirs), (text, mode)
                if type(compiled).__name__ == "Coordinated":  # Whoosh's Or, times the share²
                    held: Counter[int] = Counter()  # each concept weighted by its rarity
                    documents, asked = searcher.reader.doc_count(), 0.0
                    for part in compiled.subqueries:
                        found = [hit.docnum for hit in searcher.searcher.search(part, limit=None)]
                        weight = math.log(1 + documents / max(1, len(found)))
                        held.update(dict.fromkeys(found, weight))
                        asked += weight
                    share = {doc: (held[doc] / asked) ** 2 for doc in held}
                    theirs = {doc: score * share[doc] for doc, score in theirs.items()}
                elif coordinated(compiled):
                    continue  # Whoosh's coordination bonus depends on when its collector
                    # replaces matchers; ours steps each matcher through once (see scores)
                for doc, score in theirs.items():
                    assert ours[doc] == pytest.approx(score, rel=1e-9), (text, mode, doc)
        assert searcher.scores(searcher.compile(parse("nibin"))), "the fast path ran"
        phrase = searcher.compile(parse('body:"gun review"'))
        assert searcher._phrase_scores(phrase), "the phrase's fast path ran"


def odd_kb_folders(kb_path: Path, tmp_path: Path) -> None:
    """Things the scan must pass over: hidden files, links, a stray file and folder."""
    rfis = kb_path / "kb/rfis"
    (kb_path / "kb/strategies/.draft.md").write_text("not an entry")
    (kb_path / "kb/strategies/notes.txt").write_text("not an entry")
    outside = tmp_path / "outside"
    (outside / "responses").mkdir(parents=True)
    (outside / "responses/evil.md").write_text("outside the KB")
    (rfis / "linked-rfi").symlink_to(outside)
    (rfis / "stray.txt").write_text("a file, not an RFI folder")
    (rfis / "empty-rfi").mkdir()
    (kb_path / "kb/strategies/link.md").symlink_to(outside / "responses/evil.md")


@pytest.mark.parametrize("rfi_folder_cost", [1, 4, 10_000])  # the child gets all, some, no RFIs
def test_the_scan_in_two_processes_finds_exactly_what_one_finds(
    kb_path, tmp_path, monkeypatch, rfi_folder_cost
):
    odd_kb_folders(kb_path, tmp_path)
    monkeypatch.setattr(scan, "RFI_FOLDER_COST", rfi_folder_cost)
    alone = scan.scan_entries(kb_path)
    assert not [path for path in alone if "evil" in path or ".draft" in path]
    # a link named like an entry is listed by its own lstat (never followed): the catalog
    # then holds it as unreadable, as validate reading the files reports it
    assert "kb/strategies/link.md" in alone
    assert sum("/responses/" in path for path in alone) == 2 and len(alone) == 7
    monkeypatch.setattr(scan, "PARALLEL_SCAN_FROM", 1)
    forks = []
    real = scan.in_second_process
    monkeypatch.setattr(scan, "in_second_process", lambda work: forks.append(1) or real(work))
    assert scan.scan_entries(kb_path) == alone and forks == [1]
    monkeypatch.setattr(scan, "PARALLEL_SCAN_FROM", 10**9)
    one = scan.dump(scan.scan_tree(kb_path))
    monkeypatch.setattr(scan, "PARALLEL_SCAN_FROM", 1)
    assert scan.dump(scan.scan_tree(kb_path)) == one  # the same bytes: the manifest's order
    monkeypatch.setattr(scan, "in_second_process", lambda work: lambda: None)  # no child
    assert scan.scan_entries(kb_path) == alone


@pytest.mark.parametrize("rfi_folder_cost", [1, 10_000])  # the child gets all, no RFIs
def test_the_second_process_sends_no_part_the_hint_already_holds(
    kb_path, tmp_path, monkeypatch, rfi_folder_cost
):
    odd_kb_folders(kb_path, tmp_path)
    monkeypatch.setattr(scan, "RFI_FOLDER_COST", rfi_folder_cost)
    monkeypatch.setattr(scan, "PARALLEL_SCAN_FROM", 1)
    sent = []
    real = scan.in_second_process

    def spied(work):
        collect = real(work)
        return lambda: sent.append(collect()) or sent[-1]

    monkeypatch.setattr(scan, "in_second_process", spied)
    hint = scan.scan_tree(kb_path)
    assert sent[-1] != scan.AS_KEPT  # no hint: the part itself
    again = scan.scan_tree(kb_path, hint)
    assert sent[-1] == scan.AS_KEPT and scan.dump(again) == scan.dump(hint)
    # a change in any folder of the second process's part: that part is sent, and seen
    entries = [*kb_path.glob("kb/*/*.md"), *kb_path.glob("kb/rfis/*/responses/*.md")]
    inside = kb_path.resolve()
    for changed in sorted(
        path for path in entries  # no link on the way (the scan follows none)
        if path.name[0] != "." and path.resolve() == inside / path.relative_to(kb_path)
    ):  # fmt: skip
        before = changed.read_bytes()
        changed.write_bytes(before + b"\n")
        found = scan.files_of(scan.scan_tree(kb_path, hint))
        rel = changed.relative_to(kb_path).as_posix()
        assert found[rel][0] == len(before) + 1, rel
        assert found == scan.files_of(scan.scan_tree(kb_path)), rel
        changed.write_bytes(before)
    assert scan.AS_KEPT in sent and len({repr(part) for part in sent}) > 2


def test_the_second_process_returns_its_result_or_nothing_when_it_fails():
    assert scan.in_second_process(lambda: {"kb/a.md": [1, 2]})() == {"kb/a.md": [1, 2]}
    assert scan.in_second_process(lambda: 1 / 0)() is None
    nulled = scan.in_second_process(  # the child lets go of our terminal and pipes
        lambda: [os.path.samestat(os.fstat(fd), os.stat(os.devnull)) for fd in (0, 1, 2)]
    )
    assert nulled() == [True, True, True]


def test_the_forked_scan_never_writes_our_buffered_output_twice(kb_path, tmp_path):
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from cacop_cli import scan\n"
        "scan.PARALLEL_SCAN_FROM = 1\n"
        "sys.stdout.write('once')\n"  # still in the buffer when the child starts
        f"found = scan.scan_entries(Path({str(kb_path)!r}))\n"
        "sys.stdout.write(f' {len(found)}')\n"
    )
    result = subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"once {len(scan.scan_entries(kb_path))}"


def scans_counted(monkeypatch) -> list[int]:
    """Spy on the index's own scan (it still runs): how often a refresh scanned itself."""
    calls: list[int] = []
    real = index_build.scan_tree
    monkeypatch.setattr(index_build, "scan_tree", lambda *a: calls.append(1) or real(*a))
    return calls


def test_an_early_scan_serves_the_refresh_of_its_own_kb(cli, kb_path, monkeypatch):
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    calls = scans_counted(monkeypatch)
    write_strategy(kb_path, "alpha-2024-early-scan", body="started before the CLI loaded\n")
    scan.start_early(["search", "early", "--kb", str(kb_path)])
    report = search.refresh(load_kb(kb_path))
    assert calls == [] and report.added == 1  # the early scan was used, and saw the new file
    assert scan._early is None  # taken once: a later refresh scans afresh
    search.refresh(load_kb(kb_path))
    assert calls == [1]
    (kb_path / ".cacop" / "record.json").unlink()  # a rebuild follows: the early scan is
    scan.start_early(["index", "--kb", str(kb_path)])  # still collected before it starts
    assert search.refresh(load_kb(kb_path)).rebuilt
    assert scan._early is None


def test_an_early_scan_of_another_folder_is_dropped(cli, kb_path, tmp_path, monkeypatch):
    other = tmp_path / "other"
    shutil.copytree(kb_path, other)
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    calls = scans_counted(monkeypatch)
    scan.start_early(["--kb", str(other), "search", "x"])
    assert scan._early is not None and scan._early[0] == str(other.resolve())
    write_strategy(kb_path, "alpha-2024-not-in-other", body="only here\n")
    assert search.refresh(load_kb(kb_path)).added == 1
    assert calls == [1] and scan._early is None


def test_the_early_scan_finds_the_kb_as_the_cli_does(kb_path, monkeypatch):
    from cacop_cli.config import find_root

    monkeypatch.delenv("CACOP_KB", raising=False)
    monkeypatch.chdir(kb_path / "kb" / "strategies")
    assert scan._early_root(["search", "x"]) == str(find_root())
    assert scan._early_root(["similar", "some-id"]) == str(find_root())
    assert scan._early_root(["index"]) == str(find_root())
    assert scan._early_root(["validate"]) == str(find_root())
    nothing_refreshed = (["index", "--rebuild"], ["validate", "--no-cache"])
    assert scan._early_root(["show", "x"]) == str(find_root())  # resolved from the listing
    entry_id = sorted(path.stem for path in (kb_path / "kb" / "strategies").glob("*.md"))[0]
    shown = ["show", entry_id]  # a top folder's file, opened alone
    for args in (shown, ["search", "--help"], *nothing_refreshed, [], ["--version"]):
        assert scan._early_root(args) is None, args
    monkeypatch.chdir(kb_path.parent)
    assert scan._early_root(["search", "x"]) is None  # no cacop.yaml here or above
    assert scan._early_root([f"--kb={kb_path}", "search", "x"]) == str(find_root(kb_path))
    monkeypatch.setenv("CACOP_KB", str(kb_path))
    assert scan._early_root(["search", "x"]) == str(find_root())
    assert scan._early_root(["search", "x", "--kb", str(kb_path.parent)]) is None  # not a KB
    monkeypatch.delenv("CACOP_KB")
    scan.start_early(["search", "x", "--kb"])  # a dangling option: no scan, no error
    assert scan._early is None and scan.take(kb_path) is None


def test_a_search_process_sees_a_change_made_just_before_it(cacop_exe, kb_path):
    base = [*cacop_exe, "--kb", str(kb_path)]
    assert subprocess.run([*base, "index"], capture_output=True).returncode == 0
    for number in range(3):
        write_strategy(kb_path, f"alpha-2024-just-before-{number}", body="zanzibar review\n")
        run = subprocess.run([*base, "search", "zanzibar", "--json"], capture_output=True)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["total"] == number + 1


def remembered_stems(kb_path) -> dict[str, str]:
    import marshal

    folder = kb_path / ".cacop" / index.read_record(kb_path).generation
    return marshal.loads((folder / index.STEMS_FILE).read_bytes())


def test_stems_are_remembered_beside_the_index_and_used_by_the_next_writer(cli, kb_path):
    from whoosh.lang.porter2 import stem

    assert cli("index", "--rebuild", kb=kb_path).exit_code == ExitCode.OK
    stems = remembered_stems(kb_path)
    assert stems["deterrence"] == stem("deterrence") and len(stems) > 100
    assert all(stemmed == stem(word) for word, stemmed in stems.items())
    index.STEMS.clear()  # as in a new process
    write_strategy(kb_path, "alpha-2024-stems", body="Zanzibarizations were reviewed.\n")
    assert search.refresh(load_kb(kb_path)).added == 1
    assert set(stems) <= set(index.STEMS)  # the remembered stems were loaded, not recomputed
    after = remembered_stems(kb_path)
    assert after["zanzibarizations"] == stem("zanzibarizations") and set(stems) < set(after)
    assert found(cli, kb_path, "zanzibarization") == ["alpha-2024-stems"]


def test_equal_scans_dump_to_equal_bytes_however_their_objects_are_shared():
    import marshal

    fresh = {f"kb/strategies/{n}.md": [1000 + n, 1_700_000_000_000_000_000 + n] for n in range(50)}
    shared = marshal.loads(marshal.dumps(fresh))
    held = list(shared) + [stats for stats in shared.values()]  # more references to each
    assert shared == fresh and held
    assert scan.dump(shared) == scan.dump(fresh)
    assert marshal.loads(scan.dump(fresh)) == fresh


def manifest_loads_counted(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = index_build._read_manifest
    monkeypatch.setattr(index_build, "_read_manifest", lambda *a: calls.append(1) or real(*a))
    return calls


def test_an_unchanged_kb_is_known_fresh_from_bytes_alone(cli, kb_path, monkeypatch):
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    loads = manifest_loads_counted(monkeypatch)
    kb = load_kb(kb_path)
    assert search.refresh(kb).changed == 0  # scanned here, the manifest loaded as its hint
    assert len(loads) == 1
    scan.start_early(["search", "x", "--kb", str(kb_path)])
    assert search.refresh(kb).changed == 0  # scanned early, in the forked process
    assert len(loads) == 1  # neither the scan nor the manifest was loaded to compare them
    new = write_strategy(kb_path, "alpha-2024-bytes-differ", body="a new entry\n")
    settled_file(new)
    scan.start_early(["search", "x", "--kb", str(kb_path)])
    assert search.refresh(kb).added == 1 and len(loads) == 2  # bytes differ: compared in full
    scan.start_early(["search", "x", "--kb", str(kb_path)])
    assert search.refresh(kb).added == 0 and len(loads) == 2  # the new manifest: bytes again


@pytest.mark.parametrize("older", ["another order", "files only, without ctime"])
def test_a_manifest_in_an_older_format_is_rewritten_once(cli, kb_path, monkeypatch, older):
    """Another order in marshal's default format, or the flat path -> [size, mtime] kept
    before folders and ctimes were: rewritten, and no entry is read again for it."""
    import dataclasses
    import marshal

    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    folder = live_folder(kb_path)
    record = index.read_record(kb_path)
    written = marshal.loads((folder / index.MANIFEST).read_bytes())
    if older == "another order":
        held = dict(reversed(written.items()))
    else:
        held = {path: stats[:2] for path, stats in scan.files_of(written).items()}
    (folder / index.MANIFEST).write_bytes(marshal.dumps(held))
    files = index_record.file_stats(folder)
    index_record.write_record(kb_path, dataclasses.replace(record, files=files))
    loads = manifest_loads_counted(monkeypatch)
    report = search.refresh(load_kb(kb_path))
    assert (report.added, report.changed, report.removed, report.rebuilt) == (0, 0, 0, False)
    assert (folder / index.MANIFEST).read_bytes() == scan.dump(scan.scan_tree(kb_path))
    before = len(loads)
    scan.start_early(["search", "x", "--kb", str(kb_path)])
    search.refresh(load_kb(kb_path))
    assert len(loads) == before  # from now on, bytes alone
    assert found(cli, kb_path, "moral voices")  # the re-signed record still opens


def test_updates_write_their_segments_without_compressing_blocks(cli, kb_path):
    assert cli("index", "--rebuild", kb=kb_path).exit_code == ExitCode.OK
    body = " ".join(["nibin shooting review"] * 60) + "\n"  # blocks well over zlib's minimum
    write_strategy(kb_path, "alpha-2024-uncompressed", body=body)
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    with index.open_searcher(kb_path) as searcher:
        segments = whoosh_internals.segments(searcher.index)
        assert [segment.codec()._compression for segment in segments][-1] == 0
        assert segments[0].codec()._compression > 0  # a rebuild still compresses
    assert "alpha-2024-uncompressed" in found(cli, kb_path, '"shooting review nibin"')


def slow_early_scan(monkeypatch, kb_path, seconds=0.6) -> None:
    """Start the early scan in a child that takes `seconds` first, like a scan of a large KB."""
    real = scan.scan_tree

    def slow(*args):
        time.sleep(seconds)
        return real(*args)

    monkeypatch.setattr(scan, "scan_tree", slow)  # the forked child calls this one
    scan.start_early(["search", "x", "--kb", str(kb_path)])
    monkeypatch.setattr(scan, "scan_tree", real)


def opened_and_taken(monkeypatch) -> list[str]:
    """The order in which a search opened the index and collected the early scan."""
    events: list[str] = []
    real_open, real_take = index.open_searcher, index_build.early_scan
    monkeypatch.setattr(index, "open_searcher", lambda *a: events.append("open") or real_open(*a))
    monkeypatch.setattr(
        index_build, "early_scan", lambda root: events.append("take") or real_take(root)
    )
    return events


def test_running_tells_whether_the_early_scan_has_finished(kb_path, monkeypatch):
    assert not scan.running(kb_path)
    slow_early_scan(monkeypatch, kb_path)
    assert scan.running(kb_path.resolve()) and not scan.running(kb_path.parent)
    taken, hinted = scan.take(kb_path.resolve())
    assert taken == scan.dump(scan.scan_tree(kb_path)) and hinted == scan.NO_HINT  # no index
    assert not scan.running(kb_path.resolve())


def test_a_search_runs_while_the_early_scan_does_and_keeps_a_fresh_result(
    cli, kb_path, monkeypatch
):
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    events = opened_and_taken(monkeypatch)
    slow_early_scan(monkeypatch, kb_path)
    result = search.search(load_kb(kb_path), "moral voices")
    assert [hit.id for hit in result.hits] == [DETERRENCE]
    assert events == ["open", "take"]  # searched first; the scan then found nothing new


def test_a_search_made_while_scanning_is_redone_when_a_file_changed(cli, kb_path, monkeypatch):
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    events = opened_and_taken(monkeypatch)
    slow_early_scan(monkeypatch, kb_path)
    write_strategy(kb_path, "alpha-2024-while-scanning", body="moral voices, new\n")
    result = search.search(load_kb(kb_path), "moral voices")
    assert {hit.id for hit in result.hits} == {DETERRENCE, "alpha-2024-while-scanning"}
    assert events == ["open", "take", "open"]  # the first result was stale: searched again
    assert result.refresh.added == 1


def test_a_search_made_while_scanning_is_redone_when_another_writer_came(cli, kb_path, monkeypatch):
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK
    events = opened_and_taken(monkeypatch)
    slow_early_scan(monkeypatch, kb_path)
    real_refresh = search.refresh

    def another_writer_first(kb, progress=None):  # an `index` elsewhere, just before ours
        write_strategy(kb_path, "alpha-2024-other-writer", body="moral voices, other\n")
        index.refresh(kb_path, lambda rel: index.document_for(kb, rel))
        return real_refresh(kb, progress)

    monkeypatch.setattr(search, "refresh", another_writer_first)
    result = search.search(load_kb(kb_path), "moral voices")
    assert result.refresh.added == 0  # ours found the files indexed: by the other writer
    assert {hit.id for hit in result.hits} == {DETERRENCE, "alpha-2024-other-writer"}
    assert events[:2] == ["open", "take"] and events[-1] == "open"


def test_a_toc_overwritten_in_place_with_its_mtime_restored_is_rebuilt_not_unpickled(
    cli, kb_path, tmp_path
):
    """Same inode, same size, same mtime: only the content differs, and it is the pickle."""
    assert found(cli, kb_path) == [DETERRENCE]
    folder = live_folder(kb_path)
    toc = next(folder.glob("*.toc"))
    before = os.lstat(toc)
    marker = tmp_path / "PWNED"
    crafted_toc(tmp_path / "crafted", marker)
    payload = (tmp_path / "crafted" / "_MAIN_1.toc").read_bytes()
    original = toc.read_bytes()
    # the same size as the real TOC: pad a short payload (pickle stops at STOP), or fail
    assert len(payload) <= len(original), "the crafted TOC must fit in the real one"
    with open(toc, "r+b") as handle:  # in place: the inode stays
        handle.write(payload + b"\x00" * (len(original) - len(payload)))
    os.utime(toc, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.lstat(toc)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    result = cli("search", "moral voices", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK and "Traceback" not in result.stderr
    assert [hit["id"] for hit in json.loads(result.stdout)["results"]] == [DETERRENCE]
    assert "changed after cacop wrote them" in result.stderr
    assert not marker.exists()
    assert live_folder(kb_path) != folder  # a fresh generation, built by us


def test_the_record_holds_each_tocs_sha256(cli, kb_path):
    import hashlib

    assert found(cli, kb_path) == [DETERRENCE]
    folder = live_folder(kb_path)
    files = json.loads((kb_path / ".cacop" / "record.json").read_text())["files"]
    tocs = sorted(folder.glob("*.toc"))
    assert tocs
    for toc in tocs:
        assert files[toc.name][3] == hashlib.sha256(toc.read_bytes()).hexdigest()


def test_an_early_scan_of_an_unchanged_kb_sends_no_bytes_and_serves_the_refresh(
    cli, kb_path, monkeypatch
):
    """Nothing changed: the early scan finds what its hint (the live manifest) keeps and
    sends SAME_AS_HINT instead of the scan's bytes; the refresh takes it as the manifest's
    own bytes and scans nothing itself."""
    assert cli("index", kb=kb_path).exit_code == ExitCode.OK  # in-process: nothing racy
    held = scan._live_manifest(str(kb_path))
    assert scan._early_scan(str(kb_path)) == scan.identity(held) + scan.SAME_AS_HINT
    calls = scans_counted(monkeypatch)
    scan.start_early(["list", "--kb", str(kb_path)])
    report = search.refresh(load_kb(kb_path))
    assert calls == [] and report.unchanged is not None
    write_strategy(kb_path, "alpha-2024-after", body="a change: the scan's bytes are sent\n")
    assert scan._early_scan(str(kb_path)) != scan.identity(held) + scan.SAME_AS_HINT
