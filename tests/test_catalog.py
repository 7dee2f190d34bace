"""The catalog kept with the index (docs/architecture.md, "The catalog"): the entries it
gives are those reading the files gives, field by field and type by type; it is never
older than the files, never decoded when changed on disk, and when the index cannot be
used the files are read as before. The read commands' `--json` output is the same with
the index kept through every kind of change as with no index at all."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_genkb import load_script

from cacop_cli.catalog import load_catalog
from cacop_cli.config import load_kb
from cacop_cli.entries import iter_entry_files
from cacop_cli.index import cards, record
from cacop_cli.models import Entry

from conftest import REPO, git

FIELDS = ("path", "rel", "meta", "body", "lines", "raw_values", "body_line", "pending")


def typed(value):
    """A value with the type of every part beside it: equal only if the types are too."""
    if isinstance(value, dict):
        return ("dict", {key: typed(item) for key, item in value.items()})
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    return (type(value).__name__, value)


def assert_catalog_is_the_files(root: Path) -> None:
    kb = load_kb(root)
    stored = load_catalog(kb)
    read = load_catalog(kb, list(iter_entry_files(kb.root)))
    assert stored.entries, "a KB with entries"
    assert all(type(entry) is not Entry for entry in stored.entries), "not from the index"
    assert all(type(entry) is Entry for entry in read.entries)
    assert [entry.rel for entry in stored.entries] == [entry.rel for entry in read.entries]
    for mine, theirs in zip(stored.entries, read.entries, strict=True):
        for name in FIELDS:
            assert typed(getattr(mine, name)) == typed(getattr(theirs, name)), (mine.rel, name)
        assert mine == theirs and theirs == mine
    assert stored.unreadable == read.unreadable


def copy_bundled(target: Path) -> Path:
    for name in ("kb", "schemas"):
        shutil.copytree(REPO / name, target / name)
    shutil.copy2(REPO / "cacop.yaml", target / "cacop.yaml")
    return target


def test_the_catalog_of_the_bundled_kb_is_its_files(tmp_path):
    assert_catalog_is_the_files(copy_bundled(tmp_path / "bundled"))


def test_the_catalog_of_a_generated_kb_is_its_files(tmp_path):
    out = tmp_path / "generated"
    load_script("genkb").write_kb(out, 80, seed=5)
    assert_catalog_is_the_files(out)


def test_the_catalog_keeps_unreadable_files_as_their_issues(tmp_path):
    from conftest import FILES

    shutil.copytree(FILES / "invalid", tmp_path / "invalid")
    assert_catalog_is_the_files(tmp_path / "invalid")
    stored = load_catalog(load_kb(tmp_path / "invalid"))
    assert len(stored.unreadable) >= 5  # the fixture's broken files, each with its own code
    assert len({issue.code for issue in stored.unreadable}) >= 5


def rewrite_unseen(path: Path, data: bytes) -> None:
    """Replace a file's bytes (same size) and put its modification time back: a change
    that no stat can see."""
    info = path.stat()
    assert len(data) == info.st_size
    with open(path, "r+b") as handle:  # in place: the same inode
        handle.write(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_the_catalog_opens_no_entry_file_but_explicit_paths_are_read(kb_path, monkeypatch):
    from cacop_cli import scan

    monkeypatch.setattr(scan, "_HAS_CTIME", False)  # else the rewrite shows by its ctime
    kb = load_kb(kb_path)
    before = load_catalog(kb)
    path = kb_path / before.entries[0].rel
    text = path.read_bytes()
    rewrite_unseen(path, text.replace(b"title:", b"titlx:", 1))
    after = load_catalog(kb)
    assert after.entries[0].meta == before.entries[0].meta  # from the catalog: not opened
    explicit = load_catalog(kb, [path])
    assert "titlx" in explicit.entries[0].meta  # given paths are read from the files


def test_a_catalog_changed_on_disk_is_rebuilt_never_decoded(kb_path):
    kb = load_kb(kb_path)
    load_catalog(kb)
    live = record.read_record(kb_path)
    folder = kb_path / ".cacop" / live.generation
    held = (folder / cards.CARDS).read_bytes()
    forged = held.replace(b"Hot spots", b"FORGED!!!", 1)
    assert forged != held
    rewrite_unseen(folder / cards.CARDS, forged)
    catalog = load_catalog(kb)
    assert any("catalog" in notice and "rebuilt" in notice for notice in catalog.notices)
    assert not any("FORGED" in entry.title for entry in catalog.entries)
    assert load_catalog(kb).notices == []  # rebuilt once
    assert_catalog_is_the_files(kb_path)


@pytest.fixture
def small_shards(monkeypatch):
    """About one body a shard: the fixture KB's bodies then fill several shards."""
    monkeypatch.setattr(cards, "SHARD_BODIES", 1)


def shard_files(kb_path: Path) -> dict[str, Path]:
    folder = kb_path / ".cacop" / record.read_record(kb_path).generation
    return {path.name: path for path in folder.glob(f"{record.BODIES_PREFIX}*")}


def shard_holding(kb_path: Path, rel: str) -> Path:
    files = shard_files(kb_path)
    count = int(next(iter(files)).split("-")[1])
    return files[cards.shard_name(cards.shard_of(rel, count), count)]


def bodies_are_the_files(kb) -> None:
    read = load_catalog(kb, list(iter_entry_files(kb.root)))
    stored = load_catalog(kb)
    assert all(type(entry) is not Entry for entry in stored.entries), "not from the index"
    assert [entry.body for entry in stored.entries] == [entry.body for entry in read.entries]


def test_bodies_are_kept_in_shards_each_hashed_in_the_record(kb_path, small_shards):
    kb = load_kb(kb_path)
    load_catalog(kb)
    live = record.read_record(kb_path)
    files = shard_files(kb_path)
    entries = len(list(iter_entry_files(kb_path)))
    assert len(files) == cards.shard_count(entries) >= 4
    for name in files:
        assert len(live.files[name]) == 4  # inode, size, mtime and SHA-256
    bodies_are_the_files(kb)


def test_a_changed_bodies_shard_is_never_decoded(kb_path, small_shards):
    kb = load_kb(kb_path)
    load_catalog(kb)
    rels = [entry.rel for entry in load_catalog(kb).entries if entry.body.count("the") > 1]
    forged = shard_holding(kb_path, rels[0])
    held = forged.read_bytes()
    rewrite_unseen(forged, held.replace(b"the", b"THE"))
    bodies_are_the_files(kb)  # the forged shard's bodies are read from the files
    elsewhere = next(rel for rel in rels if shard_holding(kb_path, rel) != forged)
    (kb_path / elsewhere).write_text((kb_path / elsewhere).read_text() + "\nMore.\n")
    assert load_catalog(kb).notices == []  # another shard changed: updated, not rebuilt
    assert forged.read_bytes() != held  # left as it was, still never decoded
    bodies_are_the_files(kb)
    (kb_path / rels[0]).write_text((kb_path / rels[0]).read_text() + "\nMore.\n")
    assert any("rebuilt" in notice for notice in load_catalog(kb).notices)  # not updated
    bodies_are_the_files(kb)


def test_an_update_rewrites_only_the_shards_its_files_live_in(kb_path, small_shards):
    kb = load_kb(kb_path)
    load_catalog(kb)
    before = {name: path.stat().st_ino for name, path in shard_files(kb_path).items()}
    rel = load_catalog(kb).entries[0].rel
    (kb_path / rel).write_text((kb_path / rel).read_text() + "\nOne line more.\n")
    bodies_are_the_files(kb)
    after = {name: path.stat().st_ino for name, path in shard_files(kb_path).items()}
    assert set(after) == set(before)
    assert {name for name in after if after[name] != before[name]} == {
        shard_holding(kb_path, rel).name
    }


def test_a_body_from_a_shard_is_the_files_after_every_kind_of_change(kb_path, small_shards):
    """Edited (a longer body, the same size, an emptied body), added, renamed, removed,
    made unreadable and mended: after each, every body the catalog gives is the file's."""
    kb = load_kb(kb_path)
    bodies_are_the_files(kb)
    rels = [entry.rel for entry in load_catalog(kb).entries]
    first, second, third, fourth = (kb_path / rel for rel in rels[:4])
    steps = [
        lambda: first.write_text(first.read_text() + "\nA line more.\n"),
        lambda: second.write_text(second.read_text().replace("e", "E")),  # the same size
        lambda: third.write_text(third.read_text().split("\n---\n")[0] + "\n---\n"),
        lambda: shutil.copy2(fourth, fourth.with_name("alpha-2099-a-copy.md")),
        lambda: fourth.with_name("alpha-2099-a-copy.md").unlink(),
        lambda: os.rename(fourth, fourth.with_name(fourth.name.replace(".md", "-x.md"))),
        lambda: os.rename(fourth.with_name(fourth.name.replace(".md", "-x.md")), fourth),
        lambda: first.write_text("---\nnot: [closed\n"),  # unreadable: no body
        lambda: first.write_text((kb_path / rels[4]).read_text()),
        lambda: first.unlink(),
    ]
    for step in steps:
        step()
        bodies_are_the_files(kb)
        assert load_catalog(kb).notices == []  # updated each time, never rebuilt


def test_a_format_change_rebuilds_once_with_the_notice(kb_path, monkeypatch):
    kb = load_kb(kb_path)
    assert load_catalog(kb).notices == []  # the first build says nothing
    monkeypatch.setattr(record, "FORMAT", record.FORMAT + 1)
    assert load_catalog(kb).notices == [
        "the search index was rebuilt: it was made by another version of cacop"
    ]
    assert load_catalog(kb).notices == []
    assert_catalog_is_the_files(kb_path)


def test_without_a_usable_index_the_files_are_read(kb_path):
    (kb_path / ".cacop").write_text("not a folder")
    kb = load_kb(kb_path)
    catalog = load_catalog(kb)
    read = load_catalog(kb, list(iter_entry_files(kb_path)))
    assert catalog.entries and all(type(entry) is Entry for entry in catalog.entries)
    assert catalog.entries == read.entries and catalog.unreadable == read.unreadable
    assert (kb_path / ".cacop").read_text() == "not a folder"


def test_a_busy_index_reads_the_files(kb_path, monkeypatch):
    from cacop_cli.index import build, locks

    kb = load_kb(kb_path)
    load_catalog(kb)
    entry = kb_path / "kb" / "strategies" / "beta-2023-hot-spots-dosage.md"
    entry.write_text(entry.read_text().replace("Hot spots", "Cold spots", 1))
    monkeypatch.setattr(locks, "LOCK_WAIT", 0.2)
    monkeypatch.setattr(build, "LOCK_WAIT", 0.2)
    with locks.write_lock(kb_path, 0):
        catalog = load_catalog(kb)
    assert all(type(item) is Entry for item in catalog.entries)
    assert any("Cold spots" in item.title for item in catalog.entries)


# ---------------------------------------------------------------- the read commands


def read_outputs(cli, root: Path) -> dict[str, tuple[int, str]]:
    """Every read command's --json output (exit code, stdout)."""
    entry_id = sorted(path.stem for path in iter_entry_files(root))[0]
    commands = {
        "list": ["list"],
        "rfi list": ["rfi", "list"],
        "status": ["status"],
        "gaps": ["gaps"],
        "experts": ["experts", "nibin"],
        "digest": ["digest", "--since", "2020-01-01"],
        "show": ["show", entry_id],
        "validate": ["validate"],
        "search": ["search", "nibin"],
    }
    found = {}
    for name, args in commands.items():
        result = cli(*args, "--json", kb=root)
        found[name] = (result.exit_code, result.stdout)
    return found


def scoreless(outputs: dict[str, tuple[int, str]]) -> dict[str, tuple[int, object]]:
    """The outputs, with `experts`' and `search`'s scores left out: an updated Whoosh index
    counts deleted documents in its term statistics until its segments merge, so BM25
    scores differ from a fresh build's in the third digit (the entries found are the same,
    the search's hits are compared in the order of their paths)."""

    def drop(value):
        if isinstance(value, dict):
            return {k: drop(v) for k, v in value.items() if k not in ("score", "weight")}
        return [drop(item) for item in value] if isinstance(value, list) else value

    found: dict[str, tuple[int, object]] = dict(outputs)
    for name in ("experts", "search"):
        code, text = outputs[name]
        found[name] = (code, drop(json.loads(text)) if code == 0 else text)
    code, hits = found["search"]
    if code == 0:  # entries of near-equal scores may change places: compared as a set
        hits["results"].sort(key=lambda hit: hit["path"])  # type: ignore[index]
    return found


def without_index(cli, root: Path) -> dict[str, tuple[int, str]]:
    """The outputs with no index at all (a fresh .cacop/); the kept one is put back after."""
    state, aside = root / ".cacop", root.parent / "cacop-aside"
    state.rename(aside)
    try:
        return read_outputs(cli, root)
    finally:
        shutil.rmtree(state)
        aside.rename(state)


def test_deleting_the_index_gives_the_same_outputs(cli, git_kb):
    kept = read_outputs(cli, git_kb)
    assert kept["list"][0] == 0 and '"total"' in kept["list"][1]
    assert read_outputs(cli, git_kb) == kept  # answered from the catalog now
    shutil.rmtree(git_kb / ".cacop")
    assert read_outputs(cli, git_kb) == kept


def test_every_way_a_file_changes_is_seen_by_every_read_command(cli, git_kb, tmp_path):
    strategies = git_kb / "kb" / "strategies"
    hot_spots = strategies / "beta-2023-hot-spots-dosage.md"
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(git_kb), str(bare))
    git(git_kb, "remote", "add", "origin", str(bare))
    git(git_kb, "fetch", "-q", "origin")
    git(git_kb, "branch", "-q", "--set-upstream-to", "origin/main")
    git(git_kb, "checkout", "-q", "-b", "other")
    hot_spots.write_text(hot_spots.read_text().replace("Hot spots", "Warm spots", 1))
    git(git_kb, "rm", "-q", str(strategies / "alpha-2024-focused-deterrence-call-ins.md"))
    git(git_kb, "commit", "-q", "-am", "another branch")
    git(git_kb, "checkout", "-q", "main")
    other = tmp_path / "other-clone"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    pulled = other / "kb" / "strategies" / "beta-2023-hot-spots-dosage.md"
    pulled.write_text(pulled.read_text().replace("Hot spots", "Pulled spots", 1))
    git(other, "commit", "-q", "-am", "from another analyst")
    git(other, "push", "-q", "origin", "main")

    def same_as_without_index(step: str) -> None:
        kept = read_outputs(cli, git_kb)
        assert scoreless(kept) == scoreless(without_index(cli, git_kb)), step

    same_as_without_index("start")
    git(git_kb, "checkout", "-q", "other")
    same_as_without_index("git checkout of another branch")
    git(git_kb, "checkout", "-q", "main")
    same_as_without_index("git checkout back")
    git(git_kb, "pull", "-q", "--ff-only")
    assert "Pulled spots" in hot_spots.read_text()
    same_as_without_index("git pull from a bare remote")
    text = hot_spots.read_text()
    hot_spots.write_text(text.replace("Pulled spots", "Pullet spots", 1))  # the same size
    assert hot_spots.stat().st_size == len(text.encode())
    same_as_without_index("edit in place keeping the size")
    for old, new in (("Pullet", "Pullew"), ("Pullew", "Pullex")):  # within the same second
        hot_spots.write_text(hot_spots.read_text().replace(old, new, 1))
        same_as_without_index(f"edit within the same second ({new})")
    hot_spots.rename(strategies / "beta-2023-hot-spots-renamed.md")
    same_as_without_index("rename")
    (strategies / "beta-2023-hot-spots-renamed.md").unlink()
    same_as_without_index("delete")
    source = git_kb / "kb" / "rfis" / "beta-2025-nibin-and-group-data.md"
    text = source.read_text().replace("beta-2025-nibin-and-group-data", "beta-2025-new-rfi")
    (source.parent / "beta-2025-new-rfi.md").write_text(text)
    same_as_without_index("new untracked file")
    deterrence = strategies / "alpha-2024-focused-deterrence-call-ins.md"
    before = deterrence.stat()
    deterrence.write_text(deterrence.read_text().replace("call-ins", "call-inz", 1))
    os.utime(deterrence, ns=(before.st_atime_ns, before.st_mtime_ns))  # as touch -r does
    assert deterrence.stat().st_size == before.st_size
    same_as_without_index("same-size edit with its mtime put back")
    response = source.with_suffix("") / "responses" / "alpha-20250210-1a2b.md"
    responses = source.parent / "beta-2025-new-rfi" / "responses"
    responses.mkdir(parents=True)
    answer = response.read_text().replace("alpha-20250210-1a2b", "alpha-20250212-3c4d")
    answer = answer.replace("beta-2025-nibin-and-group-data", "beta-2025-new-rfi")
    (responses / "alpha-20250212-3c4d.md").write_text(answer)
    same_as_without_index("a new responses folder")
    response.rename(responses / response.name)  # as mv does: size and mtime kept
    same_as_without_index("a response moved to another RFI's folder")
    deterrence.rename(strategies / "elsewhere.txt")
    deterrence.symlink_to("elsewhere.txt")
    same_as_without_index("a file replaced by a link of the same name")


@pytest.fixture(autouse=True)
def _no_merge_in_background(monkeypatch):
    """No detached merge process outliving a test (it would race the folder's removal)."""
    from cacop_cli.index import build

    monkeypatch.setattr(build, "MERGE_AT", 10_000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and links as POSIX makes them")
def test_links_fifos_and_dot_folders_are_in_the_catalog_as_reading_the_files_finds_them(
    tmp_path,
):
    """What the freshness scan used to pass over (a link named like an entry, a FIFO, the
    responses of an RFI folder whose name starts with a dot) is listed as unreadable from
    the index, exactly as reading the files lists it: `validate` never loses a finding."""
    root = copy_bundled(tmp_path / "bundled")
    strategies = root / "kb" / "strategies"
    (strategies / "linked.md").symlink_to("/etc/hostname")
    os.mkfifo(strategies / "waiting.md")
    hidden = root / "kb" / "rfis" / ".hidden" / "responses"
    hidden.mkdir(parents=True)
    shutil.copy2(next(strategies.glob("*.md")), hidden / "copied.md")
    assert_catalog_is_the_files(root)
    unreadable = {issue.path for issue in load_catalog(load_kb(root)).unreadable}
    assert {"kb/strategies/linked.md", "kb/strategies/waiting.md"} <= unreadable


def test_a_read_command_that_builds_the_index_first_shows_a_progress_bar(tmp_path, cacop_exe):
    """In a KB with no index yet, `list` builds one before it answers (minutes at 10,000
    entries): on a terminal, the bar says so; in a pipe, nothing is drawn."""
    import pty
    import subprocess

    from ptytools import drain

    out = tmp_path / "generated"
    load_script("genkb").write_kb(out, 80, seed=5)
    parent, child = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "LINES": "40"}
    process = subprocess.Popen(
        [*cacop_exe, "--kb", str(out), "list"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child, env=env,
    )  # fmt: skip
    os.close(child)
    screen = drain(parent, process, 60).decode("utf-8", "replace")
    assert process.wait(timeout=60) == 0
    assert "indexing entries" in screen, screen
    shutil.rmtree(out / ".cacop")
    piped = subprocess.run(
        [*cacop_exe, "--kb", str(out), "list"], capture_output=True, text=True, timeout=60
    )
    assert piped.returncode == 0 and "indexing" not in piped.stderr
