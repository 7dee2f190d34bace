"""Freshness: every way an entry file can change in a git clone, and the search sees it.

Each test is a real git repository; the index is built first, the change made, and the
next search (which brings the index up to date first) must find the new words and not the
old ones. docs/architecture.md, "Freshness", says how changes are found and why no git
shortcut is taken.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from kbtools import BODY, write_strategy

from cacop_cli import scan
from cacop_cli.errors import ExitCode

from conftest import git

OLD, NEW = "quokkaphrase", "wombatphrase"  # the same length: an edit keeps the file's size
AN_HOUR = 3_600 * 1_000_000_000
REAL_RACY_NS = 2_000_000_000  # conftest narrows scan.RACY_NS for other tests


def hits(cli, kb_path: Path, word: str) -> dict[str, str]:
    """Entry id -> path of every search hit for `word`."""
    result = cli("search", word, "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    return {hit["id"]: hit["path"] for hit in json.loads(result.stdout)["results"]}


def age(kb_path: Path) -> None:
    """Every entry file modified an hour ago: nothing is racy, so what is found is found by
    its size and time, not because it was just written."""
    then = time.time_ns() - AN_HOUR
    for path in (kb_path / "kb").rglob("*.md"):
        os.utime(path, ns=(then, then))


def just_written(path: Path) -> None:
    """Stamped as if the clock of the file system were a little ahead: the file stays racy
    for the next ~30 s, however long a loaded machine takes to index it."""
    soon = time.time_ns() + 30 * 1_000_000_000
    os.utime(path, ns=(soon, soon))


def edit_keeping_size(path: Path, restore_time: bool = False) -> None:
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    assert OLD in text
    with open(path, "r+", encoding="utf-8") as handle:  # in place: same inode, same size
        handle.write(text.replace(OLD, NEW))
    if restore_time:  # as if written within the same tick of the file system's clock
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    assert (after.st_mtime_ns == before.st_mtime_ns) == restore_time


@pytest.fixture
def repo(git_kb: Path) -> Path:
    """The valid fixture KB in git, plus one committed strategy holding OLD, indexed."""
    write_strategy(git_kb, "alpha-2024-marker", body=f"{BODY}\nThe {OLD} marker.\n")
    git(git_kb, "add", "-A")
    git(git_kb, "commit", "-q", "-m", "marker")
    age(git_kb)
    return git_kb


MARKER = "kb/strategies/alpha-2024-marker.md"


def indexed(cli, kb_path: Path) -> None:
    assert hits(cli, kb_path, OLD) == {"alpha-2024-marker": MARKER}
    assert hits(cli, kb_path, NEW) == {}


def test_an_edit_in_place_keeping_the_size_is_seen(cli, repo):
    indexed(cli, repo)
    edit_keeping_size(repo / MARKER)
    assert hits(cli, repo, NEW) == {"alpha-2024-marker": MARKER}
    assert hits(cli, repo, OLD) == {}


def test_an_edit_in_the_same_tick_keeping_size_and_time_is_seen(cli, repo):
    """The file was indexed moments after it was written, then written again with the same
    size in the same tick of the clock (its time put back stands for that): it was written
    down as racy, so it is read again."""
    just_written(write_strategy(repo, "alpha-2024-marker", body=f"{BODY}\nThe {OLD} marker.\n"))
    indexed(cli, repo)
    edit_keeping_size(repo / MARKER, restore_time=True)
    assert hits(cli, repo, NEW) == {"alpha-2024-marker": MARKER}
    assert hits(cli, repo, OLD) == {}


def test_racy_files_and_folders_are_written_down_as_such_until_they_have_aged(monkeypatch):
    """Racy by mtime or by ctime (a `touch -r` just before the manifest puts the mtime back,
    not the ctime)."""
    monkeypatch.setattr(scan, "RACY_NS", REAL_RACY_NS)
    now, old, racy = time.time_ns(), time.time_ns() - AN_HOUR, scan.RACY
    files = {"new.md": [10, now - 1, now - 1], "old.md": [10, old, old], "back.md": [10, old, now]}
    tree = {"kb/strategies": [[old, now - 1], files], "kb/rfis/x/responses": None}
    assert scan.settled(tree, now) == {
        "kb/strategies": [
            [racy, now - 1],
            {"new.md": [10, racy, now - 1], "old.md": files["old.md"], "back.md": [10, racy, now]},
        ],
        "kb/rfis/x/responses": None,
    }
    aged = {"kb/strategies": [[old, old], {"old.md": files["old.md"]}]}
    assert scan.settled(aged, now) == aged


def test_a_rename_is_seen(cli, repo):
    indexed(cli, repo)
    git(repo, "mv", MARKER, "kb/strategies/alpha-2024-renamed.md")
    assert hits(cli, repo, OLD) == {"alpha-2024-marker": "kb/strategies/alpha-2024-renamed.md"}


def test_a_delete_is_seen(cli, repo):
    indexed(cli, repo)
    (repo / MARKER).unlink()
    assert hits(cli, repo, OLD) == {}


def test_a_new_untracked_file_is_seen(cli, repo):
    indexed(cli, repo)
    write_strategy(repo, "alpha-2024-untracked", body=f"{BODY}\nThe {NEW} marker.\n")
    assert "kb/strategies/alpha-2024-untracked.md" in git(repo, "status", "--porcelain", "-uall")
    assert hits(cli, repo, NEW) == {"alpha-2024-untracked": "kb/strategies/alpha-2024-untracked.md"}


def test_a_checkout_of_another_branch_is_seen(cli, repo):
    git(repo, "switch", "-q", "-c", "other")
    edit_keeping_size(repo / MARKER)
    git(repo, "commit", "-q", "-am", "other words")
    git(repo, "switch", "-q", "main")
    age(repo)
    indexed(cli, repo)
    git(repo, "checkout", "-q", "other")
    assert hits(cli, repo, NEW) == {"alpha-2024-marker": MARKER}
    assert hits(cli, repo, OLD) == {}
    git(repo, "checkout", "-q", "main")
    indexed(cli, repo)


def test_a_pull_from_a_bare_remote_is_seen(cli, repo, tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    git(tmp_path, "clone", "-q", str(remote), str(ours))
    git(tmp_path, "clone", "-q", str(remote), str(theirs))
    age(ours)
    indexed(cli, ours)
    edit_keeping_size(theirs / MARKER)
    write_strategy(theirs, "alpha-2024-pulled", body=f"{BODY}\nThe {NEW} marker.\n")
    git(theirs, "add", "-A")
    git(theirs, "commit", "-q", "-m", "theirs")
    git(theirs, "push", "-q", "origin", "HEAD")
    git(ours, "pull", "-q", "--ff-only")
    assert hits(cli, ours, NEW) == {
        "alpha-2024-marker": MARKER,
        "alpha-2024-pulled": "kb/strategies/alpha-2024-pulled.md",
    }
    assert hits(cli, ours, OLD) == {}


def test_a_staged_uncommitted_change_is_seen(cli, repo):
    indexed(cli, repo)
    edit_keeping_size(repo / MARKER)
    git(repo, "add", MARKER)
    assert git(repo, "status", "--porcelain").startswith("M ")  # staged, not committed
    assert hits(cli, repo, NEW) == {"alpha-2024-marker": MARKER}
    assert hits(cli, repo, OLD) == {}


def test_a_stash_and_its_pop_are_seen(cli, repo):
    indexed(cli, repo)
    edit_keeping_size(repo / MARKER)
    assert hits(cli, repo, NEW) == {"alpha-2024-marker": MARKER}
    git(repo, "stash", "-q")
    indexed(cli, repo)
    git(repo, "stash", "pop", "-q")
    assert hits(cli, repo, NEW) == {"alpha-2024-marker": MARKER}
    assert hits(cli, repo, OLD) == {}


def test_the_same_tick_edit_is_seen_by_the_installed_command(cacop_exe, repo):
    """As a real process, the scan is started early, in a forked process, and compared with
    the manifest as bytes: the racy file's bytes differ, so it is read again."""

    def search(word: str) -> list[str]:
        done = subprocess.run(
            [*cacop_exe, "search", word, "--json"], cwd=repo, capture_output=True, text=True,
            env={**os.environ, "NO_COLOR": "1"}, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return [hit["id"] for hit in json.loads(done.stdout)["results"]]

    just_written(write_strategy(repo, "alpha-2024-marker", body=f"{BODY}\nThe {OLD} marker.\n"))
    assert search(OLD) == ["alpha-2024-marker"]
    edit_keeping_size(repo / MARKER, restore_time=True)
    assert search(NEW) == ["alpha-2024-marker"]
    assert search(OLD) == []


# ---------------------------------------------------------------- folders kept by their times

RFI = "kb/rfis/beta-2025-nibin-and-group-data"
RESPONSE = f"{RFI}/responses/alpha-20250210-1a2b.md"


def second_rfi(kb_path: Path) -> Path:
    """Another RFI, with a responses folder of its own holding one response (with NEW)."""
    rfi = (kb_path / f"{RFI}.md").read_text(encoding="utf-8")
    (kb_path / "kb/rfis/beta-2025-second.md").write_text(
        rfi.replace("beta-2025-nibin-and-group-data", "beta-2025-second"), encoding="utf-8"
    )
    responses = kb_path / "kb/rfis/beta-2025-second/responses"
    responses.mkdir(parents=True)
    text = (kb_path / RESPONSE).read_text(encoding="utf-8")
    text = text.replace("alpha-20250210-1a2b", "alpha-20250211-2b3c")
    text = text.replace("beta-2025-nibin-and-group-data", "beta-2025-second")
    written = responses / "alpha-20250211-2b3c.md"
    written.write_text(f"{text}\nThe {NEW} answer.\n", encoding="utf-8")
    return written


def listed_folders(monkeypatch) -> list[str]:
    """The folders the scan lists (os.listdir of an open folder), by their kept key."""
    listed: list[int] = []
    real = os.listdir
    monkeypatch.setattr(scan.os, "listdir", lambda fd=".": listed.append(fd) or real(fd))
    return listed


def manifest(kb_path: Path) -> dict:
    import marshal

    from cacop_cli.index import read_record

    folder = kb_path / ".cacop" / read_record(kb_path).generation
    return marshal.loads((folder / "manifest.marshal").read_bytes())


def test_an_unchanged_folder_is_not_listed_and_a_changed_one_is(cli, repo, monkeypatch):
    indexed(cli, repo)
    monkeypatch.setattr(scan, "_listed_anyway", lambda: -1)  # no periodic full check
    kept = manifest(repo)
    assert set(kept) == {"kb/strategies", "kb/work-products", "kb/rfis", f"{RFI}/responses"}
    listed = listed_folders(monkeypatch)
    assert scan.scan_tree(repo, kept) == scan.scan_tree(repo) and len(listed) == 4
    listed.clear()
    assert scan.dump(scan.scan_tree(repo, kept)) == scan.dump(kept) and listed == []
    write_strategy(repo, "alpha-2024-untracked", body=f"{BODY}\nThe {NEW} marker.\n")
    assert scan.scan_tree(repo, kept) == scan.scan_tree(repo)
    assert len(listed) == 1 + 4  # kb/strategies, its time changed; then all four unhinted


def test_the_periodic_full_check_lists_a_folder_whose_times_did_not_change(repo, monkeypatch):
    """As on a file system that leaves a folder's times alone when a file is added (FAT
    written by Windows): the hint's names miss the file until its folder's slice of the
    full check lists it."""
    tree = scan.scan_tree(repo)
    hidden = dict(tree["kb/strategies"][1])
    hidden.pop(MARKER.rsplit("/", 1)[1])
    stale = {**tree, "kb/strategies": [tree["kb/strategies"][0], hidden]}
    monkeypatch.setattr(scan, "_listed_anyway", lambda: -1)
    assert MARKER not in scan.files_of(scan.scan_tree(repo, stale))
    monkeypatch.setattr(scan, "_listed_anyway", lambda: 0)  # kb/strategies is folder 0
    assert scan.scan_tree(repo, stale) == tree
    monkeypatch.undo()
    assert {scan._listed_anyway() for _ in range(2_000)} == set(range(scan.FULL_CHECK_SLICES))


def test_a_new_file_in_a_racy_folder_is_seen(cli, repo, monkeypatch):
    """The folder was changed just before the manifest was written, and a file added to it
    after, within the same tick (its mtime put back stands for that; without ctime, as on
    Windows, so only the racy rule can see it): written down as racy, it is listed."""
    monkeypatch.setattr(scan, "RACY_NS", REAL_RACY_NS)
    monkeypatch.setattr(scan, "_HAS_CTIME", False)
    monkeypatch.setattr(scan, "_listed_anyway", lambda: -1)
    strategies = repo / "kb" / "strategies"
    write_strategy(repo, "alpha-2024-just-before", body=f"{BODY}\nJust before.\n")
    before = strategies.stat()
    indexed(cli, repo)
    assert manifest(repo)["kb/strategies"][0] == [scan.RACY]
    write_strategy(repo, "alpha-2024-same-tick", body=f"{BODY}\nThe {NEW} marker.\n")
    os.utime(strategies, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert hits(cli, repo, NEW) == {"alpha-2024-same-tick": "kb/strategies/alpha-2024-same-tick.md"}


def test_a_new_responses_folder_is_seen(cli, repo):
    indexed(cli, repo)
    written = second_rfi(repo)
    assert hits(cli, repo, NEW) == {"alpha-20250211-2b3c": str(written.relative_to(repo))}


def test_a_response_moved_to_another_rfis_folder_is_seen(cli, repo):
    second = second_rfi(repo)
    age(repo)
    response = repo / RESPONSE
    before = response.stat()
    assert hits(cli, repo, "incident")["alpha-20250210-1a2b"] == RESPONSE
    moved = second.parent / response.name
    subprocess.run(["mv", str(response), str(moved)], check=True)  # keeps size and mtime
    after = moved.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert hits(cli, repo, "incident")["alpha-20250210-1a2b"] == str(moved.relative_to(repo))


def test_a_file_replaced_by_a_link_of_the_same_name_is_seen(cli, repo):
    indexed(cli, repo)
    target = repo / "kb" / "strategies" / "alpha-2024-elsewhere.txt"
    os.replace(repo / MARKER, target)
    (repo / MARKER).symlink_to(target.name)
    assert hits(cli, repo, OLD) == {}  # a link is never followed: the entry is unreadable
    listed = json.loads(cli("list", "--json", kb=repo).stdout)
    assert MARKER not in json.dumps(listed["entries"])


@pytest.mark.parametrize("how", ["touch -r", "cp -p"])
def test_a_same_size_edit_with_its_mtime_put_back_is_seen(cli, repo, tmp_path, how):
    """The file's mtime is as before; its ctime, which no one can set back, is not."""
    indexed(cli, repo)
    path = repo / MARKER
    before = path.stat()
    edited = path.read_text(encoding="utf-8").replace(OLD, NEW)
    if how == "touch -r":
        reference = tmp_path / "reference"
        subprocess.run(["touch", "-r", str(path), str(reference)], check=True)
        path.write_text(edited, encoding="utf-8")
        subprocess.run(["touch", "-r", str(reference), str(path)], check=True)
    else:
        copy = tmp_path / "copy.md"
        copy.write_text(edited, encoding="utf-8")
        os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
        subprocess.run(["cp", "-p", str(copy), str(path)], check=True)
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert hits(cli, repo, NEW) == {"alpha-2024-marker": MARKER}
    assert hits(cli, repo, OLD) == {}


def test_an_early_scan_hinted_by_another_manifest_is_not_trusted(cli, repo, monkeypatch):
    """The forked scan reads the manifest before anything is verified. Given a forged one
    (kb/strategies kept with its present times, a new file's name left out), its scan
    misses the file; the refresh finds the hint is not the verified manifest and scans
    again, hinted by the one it verified."""
    import marshal

    from cacop_cli import search
    from cacop_cli.config import load_kb

    indexed(cli, repo)
    monkeypatch.setattr(scan, "_listed_anyway", lambda: -1)
    write_strategy(repo, "alpha-2024-untracked", body=f"{BODY}\nThe {NEW} marker.\n")
    forged = manifest(repo)
    forged["kb/strategies"][0] = scan.scan_tree(repo)["kb/strategies"][0]
    assert "kb/strategies/alpha-2024-untracked.md" not in scan.files_of(
        scan.scan_tree(repo, forged)
    )  # what the early scan finds
    forged_bytes = scan.dump(forged)
    monkeypatch.setattr(scan, "_live_manifest", lambda root: forged_bytes)
    rescans = []
    real = scan.scan_tree
    from cacop_cli.index import build

    monkeypatch.setattr(build, "scan_tree", lambda *a: rescans.append(1) or real(*a))
    scan.start_early(["search", NEW, "--kb", str(repo)])
    assert scan._early is not None
    report = search.refresh(load_kb(repo))
    assert report.added == 1 and rescans == [1]  # scanned again, and found the file
    assert hits(cli, repo, NEW) == {"alpha-2024-untracked": "kb/strategies/alpha-2024-untracked.md"}
    assert marshal.loads(scan.dump(manifest(repo))) == manifest(repo)


def test_an_rfi_folder_replaced_by_a_link_to_its_copy_is_seen(cli, repo, tmp_path):
    """The scan lstat-s an RFI's folder and its responses folder, and stats the responses
    by path when the folder's times are the kept ones: a link put in the folder's place
    (to a copy with the same names, sizes and times) is never followed."""
    age(repo)
    folder = repo / RFI
    assert hits(cli, repo, "incident")["alpha-20250210-1a2b"] == RESPONSE
    copy = tmp_path / "outside"
    subprocess.run(["cp", "-a", str(folder), str(copy)], check=True)  # keeps every time
    folder.rename(tmp_path / "aside")
    folder.symlink_to(copy)
    assert "alpha-20250210-1a2b" not in hits(cli, repo, "incident")
    listed = json.loads(cli("list", "--json", kb=repo).stdout)
    assert RESPONSE not in json.dumps(listed["entries"])


def test_an_early_scan_that_found_a_forged_hint_unchanged_is_not_trusted(cli, repo, monkeypatch):
    """The early scan sends only SAME_AS_HINT when it finds what its hint keeps. Hinted by
    a forged manifest that leaves a new file out (and so finds exactly that manifest), it
    says so of the forged one: the refresh, which verified another, scans again."""
    from cacop_cli import search
    from cacop_cli.config import load_kb
    from cacop_cli.index import build

    indexed(cli, repo)
    monkeypatch.setattr(scan, "_listed_anyway", lambda: -1)
    write_strategy(repo, "alpha-2024-untracked", body=f"{BODY}\nThe {NEW} marker.\n")
    forged = manifest(repo)
    forged["kb/strategies"][0] = scan.scan_tree(repo)["kb/strategies"][0]
    forged = scan.scan_tree(repo, forged)  # what a scan hinted by it finds: itself
    assert scan.scan_tree(repo, forged) == forged
    assert "kb/strategies/alpha-2024-untracked.md" not in scan.files_of(forged)
    forged_bytes = scan.dump(forged)
    monkeypatch.setattr(scan, "_live_manifest", lambda root: forged_bytes)
    assert scan._early_scan(str(repo)) == scan.identity(forged_bytes) + scan.SAME_AS_HINT
    rescans = []
    real = scan.scan_tree
    monkeypatch.setattr(build, "scan_tree", lambda *a: rescans.append(1) or real(*a))
    scan.start_early(["search", NEW, "--kb", str(repo)])
    report = search.refresh(load_kb(repo))
    assert report.added == 1 and rescans == [1]  # scanned again, and found the file


def test_a_racy_file_read_again_unchanged_keeps_its_document_and_the_scores(cli, repo, monkeypatch):
    """A file written down as racy is read again at the next check; when it holds what was
    indexed, its document stays (re-adding it would leave the old one counted in BM25's
    statistics until a merge: scores moved by a few percent between the first and second
    command after a copy or a pull). An edit keeping the size is still indexed."""
    from cacop_cli import search
    from cacop_cli.config import load_kb
    from cacop_cli.index.record import read_record

    monkeypatch.setattr(scan, "RACY_NS", 3_600 * 10**9)  # every file was written just now
    # an entry with attachments is indexed again anyway (their text is not in its card)
    (repo / "kb/work-products/alpha-2024-shooting-review-checklist.md").unlink()
    kb = load_kb(repo)
    search.rebuild(kb)
    version = read_record(repo).version
    first = [(hit.id, hit.score) for hit in search.search(kb, "deterrence").hits]
    again = search.refresh(kb)  # every file is racy: read again, found as indexed
    assert again.unchanged == version and (again.added, again.changed) == (0, 0)
    assert [(hit.id, hit.score) for hit in search.search(kb, "deterrence").hits] == first
    edit_keeping_size(repo / MARKER)
    edited = search.refresh(kb)
    assert edited.unchanged is None  # this one was indexed again
    assert [hit.id for hit in search.search(kb, NEW).hits] == ["alpha-2024-marker"]
    assert search.search(kb, OLD).hits == []


def test_a_card_is_as_kept_only_with_the_same_values_of_the_same_types():
    from cacop_cli.index.cards import CARD_KEY, ENTRY, Cards, as_kept

    def card(**meta):
        fields = {"meta": meta, "lines": {"id": 2}, "raw_values": {}, "body_line": 9,
                  "body_sha256": "ab"}  # fmt: skip
        return (ENTRY, fields)

    held = Cards({"kb/strategies/a.md": card(id="a", status=1, tags=["x"])})
    for meta, kept in [({"id": "a", "status": 1, "tags": ["x"]}, True),
                       ({"id": "a", "status": True, "tags": ["x"]}, False),  # 1 == True
                       ({"id": "a", "status": 1.0, "tags": ["x"]}, False),
                       ({"id": "a", "status": 1, "tags": ("x",)}, False),
                       ({"status": 1, "id": "a", "tags": ["x"]}, False),  # another order
                       ({"id": "a", "status": 1, "tags": ["y"]}, False)]:  # fmt: skip
        document = {CARD_KEY: (card(**meta), "body")}
        assert as_kept(held, "kb/strategies/a.md", document) is kept, meta
        assert not as_kept(held, "kb/strategies/b.md", document)
    with_files = card(id="a", attachments=["map.pdf"])
    held = Cards({"kb/work-products/a.md": with_files})
    assert not as_kept(held, "kb/work-products/a.md", {CARD_KEY: (with_files, "body")})
