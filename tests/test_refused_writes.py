"""Writes the system refuses: a message that says where and what to do, nothing half-written.

The refusal is real: each command runs as a subprocess under a file-size limit
(RLIMIT_FSIZE), so every write past a few bytes fails with EFBIG, as a full disk fails
with ENOSPC. Both reach the same handling (checked by hand on a full tmpfs: the same
messages, with "no space left on device").
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys

import pytest
from kbtools import snapshot, write_strategy

from cacop_cli.errors import ExitCode

CACOP = shutil.which("cacop", path=os.path.dirname(sys.executable)) or "cacop"  # as installed
RFI_ID = "beta-2025-nibin-and-group-data"
# File-size limits, in bytes. For entries: room for an empty lock file, not for an entry.
# For the index: its empty table of contents (4 KB) is written, a segment (7.5 KB for one
# small entry, 57 KB for the fixture KB) is not, so builds fail inside Whoosh's commit,
# where a full disk makes them fail.
ENTRY_LIMIT = 64
INDEX_LIMIT = 6 * 1024
INDEX_REFUSED = [
    "error: the search index cannot be written in {kb}/.cacop: file too large",
    "hint: free some space or repair the folder, then try again",
]


def cacop(kb, *args: str, limit: int | None = ENTRY_LIMIT, site: str = "alpha"):
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [CACOP, "--kb", str(kb), *args],
        capture_output=True, text=True, timeout=120, preexec_fn=limited if limit else None,
        env={**os.environ, "CACOP_SITE": site, "EDITOR": "true"},
    )  # fmt: skip


def search_ids(kb, query: str = "moral voices") -> list[str]:
    result = cacop(kb, "search", query, "--json", limit=None)
    assert result.returncode == ExitCode.OK, result.stderr
    return [hit["id"] for hit in json.loads(result.stdout)["results"]]


@pytest.mark.parametrize(
    ("args", "site", "written"),
    [
        (["new", "strategy", "--title", "Full disk", "--topic", "gun-violence", "--no-edit"],
         "alpha", "kb/strategies/alpha-{year}-full-disk.md"),
        (["rfi", "close", RFI_ID], "beta", f"kb/rfis/{RFI_ID}.md"),
    ],
)  # fmt: skip
def test_an_entry_that_cannot_be_written_is_left_as_it_was(kb_path, args, site, written):
    before = snapshot(kb_path)
    result = cacop(kb_path, *args, site=site)
    assert result.returncode == ExitCode.PROBLEMS, result.stderr
    path = kb_path / written.format(year=dt.date.today().year)
    assert result.stderr.splitlines() == [
        f"error: cannot write {path}: file too large; the file is as it was before",
        "hint: free some space or fix the folder's permissions, then run the command again",
    ]
    assert snapshot(kb_path) == before  # no half-written entry, no temporary file left
    assert cacop(kb_path, *args, site=site, limit=None).returncode == ExitCode.OK


def test_a_response_that_cannot_be_written_leaves_no_file(kb_path):
    before = snapshot(kb_path)
    result = cacop(kb_path, "rfi", "respond", RFI_ID, "--message", "We tried this in 2023.")
    assert result.returncode == ExitCode.PROBLEMS, result.stderr
    first, hint = result.stderr.splitlines()
    assert first.startswith(f"error: cannot write {kb_path}/kb/rfis/{RFI_ID}/responses/alpha-")
    assert first.endswith(".md: file too large; the file is as it was before")
    assert hint.startswith("hint: free some space")
    assert snapshot(kb_path) == before


def test_a_first_index_that_cannot_be_written_says_so_and_leaves_nothing_behind(kb_path):
    result = cacop(kb_path, "search", "moral voices", limit=INDEX_LIMIT)
    assert result.returncode == ExitCode.PROBLEMS, result.stderr
    assert result.stderr.splitlines() == [line.format(kb=kb_path) for line in INDEX_REFUSED]
    left = (kb_path / ".cacop").iterdir()
    # the attachments' text cache (.cacop/extract) is kept: the next try uses it
    assert sorted(path.name for path in left if path.name != "extract") == [
        ".gitignore",
        "write.lock",
    ]  # the half-built index was removed, giving its space back
    assert search_ids(kb_path) == ["alpha-2024-focused-deterrence-call-ins"]  # once there is room


def test_a_rebuild_or_update_that_cannot_be_written_keeps_the_live_index(kb_path):
    assert search_ids(kb_path) == ["alpha-2024-focused-deterrence-call-ins"]
    index_before = snapshot(kb_path / ".cacop")
    for args in (["index", "--rebuild"], ["index"]):
        if args == ["index"]:  # an entry changed: the update's segment cannot be written
            write_strategy(kb_path, "alpha-2024-moral-voices-again", body="Moral voices.\n")
        result = cacop(kb_path, *args, limit=INDEX_LIMIT)
        assert result.returncode == ExitCode.PROBLEMS, result.stderr
        assert result.stderr.splitlines() == [line.format(kb=kb_path) for line in INDEX_REFUSED]
        assert not [path for path in (kb_path / ".cacop").iterdir() if "build-" in path.name]
        live = (kb_path / ".cacop" / "record.json").read_bytes()
        assert live == index_before["record.json"]  # still the same live generation
    assert set(search_ids(kb_path)) == {
        "alpha-2024-focused-deterrence-call-ins",
        "alpha-2024-moral-voices-again",
    }


def test_an_emptied_gitignore_of_the_index_is_written_again(kb_path):
    assert search_ids(kb_path)
    ignore = kb_path / ".cacop" / ".gitignore"
    ignore.write_text("")  # what a full disk left behind
    assert search_ids(kb_path)
    assert ignore.read_text().splitlines()[-1] == "*"
