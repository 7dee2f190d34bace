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
