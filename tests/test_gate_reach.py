"""How much the sharing gate reads: each file's bytes once (findings kept by content in
`.cacop/scan/`), and on a first push only what the remote lacks (issue 13, Speed)."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from pathlib import Path

import pytest
from gitserver import committed_copy, git, write

from cacop_cli.config import load_kb
from cacop_cli.models import EntryDraft
from cacop_cli.share import Sending, check_pre_push, check_range, gates, scancache, submit_files

TODAY = dt.date(2025, 6, 1)
CSV = "incident,beat,name,DOB\n" + "".join(
    f"I{number:08d},B{number % 90 + 10},,\n" for number in range(2000)
)


@pytest.fixture
def scanned(monkeypatch) -> list[str]:
    """The path of every file the gate really scans (a spy: the scan itself runs)."""
    paths: list[str] = []
    real = gates._scan_file

    def counting(data, path, **options):
        paths.append(path)
        return real(data, path, **options)

    monkeypatch.setattr(gates, "_scan_file", counting)
    return paths


def test_submit_scans_each_attachment_once_and_a_second_check_scans_nothing(tmp_path, scanned):
    """The entry gate (in a temporary checkout) and the commit gate read the same bytes; the
    findings kept by content in the clone's `.cacop/scan/` make the second read free."""
    site = committed_copy(tmp_path / "site")
    source = write(tmp_path / "outside" / "counts.csv", CSV)
    kb = load_kb(site)
    draft = EntryDraft("work-product", "Weekly counts", ["gun-violence"], tlp="green")
    result = submit_files(kb, [source], draft, Sending(push=False, today=TODAY))
    attachment = f"kb/work-products/{result.entry_id}/counts.csv"
    assert scanned.count(attachment) == 1, scanned
    assert list((site / ".cacop" / "scan").glob("*.json"))
    scanned.clear()
    again = check_range(kb, f"main..{result.branch}", today=TODAY)
    assert again.commits == 1 and again.ok
    assert scanned == [], scanned  # every blob of the branch was read by submit already


def test_the_kept_findings_follow_the_settings_and_a_damaged_file_means_a_new_scan(
    tmp_path, scanned
):
    cache = tmp_path / ".cacop" / "extract"
    data = b"Contact: j.doe@mailbox.org about the case.\n"
    options = {"max_tlp": "green", "today": TODAY, "cache_dir": cache}
    first = gates.scan_file(data, "notes/a.md", **options)
    assert [finding.kind for finding in first] == ["email"]
    assert gates.scan_file(data, "kb/a.md", **options)[0].path == "kb/a.md"
    assert len(scanned) == 1  # the same bytes under another path: kept findings, own path
    allowed = gates.scan_file(data, "notes/a.md", **options, email_allowlist=["mailbox.org"])
    assert allowed == [] and len(scanned) == 2  # the allowlist is part of the key
    for kept in (tmp_path / ".cacop" / "scan").glob("*.json"):
        kept.write_text('{"key": "not this", "findings": [[1]]}')
    assert gates.scan_file(data, "notes/a.md", **options) == first
    assert len(scanned) == 3
    for kept in (tmp_path / ".cacop" / "scan").glob("*.json"):
        kept.write_bytes(b"\x80\x04 not json")  # a pickle's first bytes: never unpickled
    assert gates.scan_file(data, "notes/a.md", **options) == first
    assert len(scanned) == 4
    assert scancache.load(tmp_path, "0" * 64, "x", TODAY) is None


def _long_history(root: Path, count: int) -> None:
    """`count` commits on main, each adding one note, made at once with git fast-import."""
    parent = git(root, "rev-parse", "HEAD").strip()
    stream = []
    for number in range(count):
        text = f"Night shift note {number}: calls for service in beat {number % 90}.\n"
        message = f"Note {number}\n"
        stream.append(
            f"commit refs/heads/main\ncommitter A <a@example.org> {1700000000 + number} +0000\n"
            f"data {len(message)}\n{message}"
            + (f"from {parent}\n" if number == 0 else "")
            + f"M 100644 inline notes/n{number}.md\ndata {len(text.encode())}\n{text}\n"
        )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, check=True,
                   input="".join(stream).encode())  # fmt: skip
    git(root, "reset", "-q", "--hard", "main")


def test_a_first_push_on_a_long_history_checks_only_what_the_remote_lacks(tmp_path, scanned):
    """2,000 commits of which the remote has all but three: a new branch's push (pre-push
    hook) and `check-share` read those three commits and their three files, no more."""
    site = committed_copy(tmp_path / "site")
    _long_history(site, 2000)
    git(tmp_path, "clone", "-q", "--bare", str(site), "remote.git")
    git(tmp_path / "remote.git", "update-ref", "refs/heads/main", "main~3")
    git(site, "remote", "add", "origin", str(tmp_path / "remote.git"))
    git(site, "fetch", "-q", "origin")
    git(site, "switch", "-q", "-c", "night-notes")
    kb = load_kb(site)
    tip = git(site, "rev-parse", "HEAD").strip()
    started = time.monotonic()
    pushed = check_pre_push(kb, f"refs/heads/night-notes {tip} refs/heads/night-notes {'0' * 40}\n")
    assert pushed.commits == 3 and pushed.ok
    assert sorted(scanned) == ["notes/n1997.md", "notes/n1998.md", "notes/n1999.md"]
    scanned.clear()
    assert check_range(kb).commits == 3  # origin/main..HEAD
    assert scanned == []  # and the findings kept from the hook's run
    assert time.monotonic() - started < 30  # seconds: a loose bound, on a loaded machine
