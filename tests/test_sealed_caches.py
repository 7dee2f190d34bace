"""The gate's caches cannot be planted: a record under `.cacop/` that this user did not write
(carried in by a commit with `git add -f`, then pulled) is a miss, never a verdict."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from gitserver import committed_copy, git, write

from cacop_cli import sealed, textextract
from cacop_cli.config import load_kb
from cacop_cli.share import check_range, gates, scancache

TODAY = dt.date(2025, 6, 1)
LEAK = b"name,DOB\nJane Roe,03/04/2009\n"


def _as_another_user(monkeypatch, tmp_path: Path, work) -> None:
    """Run `work()` with another user's key (another state folder), then come back."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "attacker-state"))
    try:
        work()
    finally:
        monkeypatch.undo()


def test_a_seal_binds_the_user_and_the_file_name(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = tmp_path / "a.json"
    kept = sealed.seal(path, b'{"x": 1}')
    assert kept is not None and sealed.opened(path, kept) == b'{"x": 1}'
    assert sealed.opened(tmp_path / "b.json", kept) is None  # moved under another key
    assert sealed.opened(path, kept[:-1] + b"2") is None  # payload changed
    assert sealed.opened(path, b'{"x": 1}') is None  # plain JSON: not sealed
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "other"))
    assert sealed.opened(path, kept) is None  # another user's key


def test_planted_scan_and_extraction_records_do_not_let_personal_data_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cache = tmp_path / "clone" / ".cacop" / "extract"
    options = {"max_tlp": "green", "today": TODAY, "email_allowlist": ()}
    name = "people.csv"
    truth = gates.scan_file(LEAK, f"notes/{name}", cache_dir=None, **options)
    assert truth, "the CSV's names and dates of birth are findings"

    def plant() -> None:  # what an attacker computes and commits: "nothing found"
        place = scancache.folder(cache)
        key = scancache.key(LEAK, name, max_tlp="green", email_allowlist=())
        scancache.store(place, key, [], scancache.kept_day(TODAY))
        empty = textextract.Extracted("text", True, "", (), ())
        textextract._store(textextract._cache_file(cache, LEAK), empty)

    _as_another_user(monkeypatch, tmp_path, plant)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert list(scancache.folder(cache).glob("*.json")), "the planted records are there"
    assert textextract.extract_bytes(LEAK, name, cache_dir=cache).parts  # the real text
    found = gates.scan_file(LEAK, f"notes/{name}", cache_dir=cache, **options)
    assert found == truth


def test_records_pulled_into_dot_cacop_do_not_open_the_gate(tmp_path, monkeypatch):
    """End to end: the planted records arrive by a commit in the clone's history; the
    commit gate over the range still refuses the CSV."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    site = committed_copy(tmp_path / "site")
    kb = load_kb(site)
    write(site / "notes" / "people.csv", LEAK.decode())
    cache = site / ".cacop" / "extract"

    def plant() -> None:
        key = scancache.key(
            LEAK, "people.csv", max_tlp=kb.max_tlp, email_allowlist=tuple(kb.email_allowlist)
        )
        scancache.store(scancache.folder(cache), key, [], scancache.kept_day(TODAY))

    _as_another_user(monkeypatch, tmp_path, plant)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    git(site, "add", "-f", "notes/people.csv", ".cacop/scan")
    git(site, "commit", "-qm", "counts")
    checked = check_range(kb, "HEAD~1..HEAD", today=TODAY)
    assert not checked.ok
    assert any("people.csv" in json.dumps(str(item)) for item in checked.findings)
    shutil.rmtree(site / ".cacop", ignore_errors=True)
