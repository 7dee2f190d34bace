"""The read commands work while the early freshness scan runs (listing.while_checking), as a
search does: on the live index's listing, kept only if the check then finds that version up
to date. Each case runs a real early scan (a forked child made slow, as in a large KB) and
compares the command's `--json` with a run on a fresh index and one with no index at all."""

from __future__ import annotations

import json
import shutil

import pytest
from kbtools import write_strategy
from test_catalog import copy_bundled
from test_index import slow_early_scan

from cacop_cli import index, listing, search
from cacop_cli.errors import ExitCode

TODAY = "2026-06-15"
COMMANDS = [
    ("list", "--json"),
    ("rfi", "list", "--json", "--today", TODAY),
    ("gaps", "--json", "--today", TODAY),
    ("digest", "--json", "--today", TODAY, "--since", "2020-01-01"),
    ("experts", "analysis", "--json", "--today", TODAY),
    ("status", "--json"),  # outside git: the RFIs waiting for this site
]
NEW_ID = "baton-rouge-2026-analysis-asked-while-scanning"
NEW_RFI = f"""---
id: {NEW_ID}
type: rfi
title: Which crime analysis products do you share weekly?
site: baton-rouge
authors: [Z. Newcomer]
created: 2026-06-10
topics: [crime-analysis]
tlp: clear
summary: Baton Rouge asks which crime analysis products other sites share every week.
status: open
priority: routine
needed_by: 2026-06-12
to: [all]
---

## Question

Which crime analysis products do you share every week, and with whom?
"""


def write_rfi(kb) -> None:
    (kb / "kb" / "rfis" / f"{NEW_ID}.md").write_text(NEW_RFI)


@pytest.fixture
def bundled(tmp_path):
    return copy_bundled(tmp_path / "bundled")


def output(cli, kb, command) -> dict:
    result = cli(*command, kb=kb)
    assert result.exit_code == ExitCode.OK, result.stderr
    return json.loads(result.stdout)


def without_index(cli, kb, command) -> dict:
    shutil.rmtree(kb / ".cacop", ignore_errors=True)
    return output(cli, kb, command)


def comparable(document: dict) -> object:
    """A command's output, but of experts only who is named and how many entries matched."""
    if "people" not in document:
        return document
    return (
        sorted(person["name"] for person in document["people"]),
        sorted(site["name"] for site in document["sites"]),
        document["matched_entries"],
    )


def recorded(monkeypatch) -> list[str]:
    """The order in which the listing was read and the freshness check made."""
    events: list[str] = []
    real_read, real_refresh = listing._read_listing, search.refresh
    monkeypatch.setattr(listing, "_read_listing", lambda *a: events.append("read") or real_read(*a))
    monkeypatch.setattr(search, "refresh", lambda *a: events.append("check") or real_refresh(*a))
    return events


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_work_done_while_scanning_stands_when_the_check_finds_the_index_fresh(
    cli, bundled, monkeypatch, command
):
    fresh = output(cli, bundled, command)  # builds the index
    with monkeypatch.context() as patched:
        events = recorded(patched)
        slow_early_scan(patched, bundled)
        assert output(cli, bundled, command) == fresh
    assert events == ["read", "check"]  # made first, then checked: nothing read again
    assert without_index(cli, bundled, command) == fresh


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_work_done_while_scanning_is_redone_when_a_file_changed(cli, bundled, monkeypatch, command):
    before = output(cli, bundled, command)  # builds the index
    with monkeypatch.context() as patched:
        events = recorded(patched)
        slow_early_scan(patched, bundled)
        write_rfi(bundled)  # while the early scan sleeps: it finds the new file
        changed = output(cli, bundled, command)
    # the guess was stale: made again (experts' search then checks again: the first check
    # updated the index, so there is no fresh version for it to stand on)
    assert events == ["read", "check", "read"] + ["check"] * (command[0] == "experts")
    assert changed != before
    # experts' scores and order are left out: an updated index's scores differ in the third
    # digit from a fresh build's, and again once its segments merge (test_catalog.py)
    again = comparable(output(cli, bundled, command))  # the same files, no early scan
    assert comparable(changed) == again == comparable(without_index(cli, bundled, command))


def test_work_done_while_scanning_is_redone_when_another_writer_came(cli, bundled, monkeypatch):
    command = ("list", "--json")
    output(cli, bundled, command)
    real_refresh = search.refresh

    def another_writer_first(kb, progress=None):  # an `index` elsewhere, just before ours
        write_strategy(bundled, NEW_ID)
        index.refresh(bundled, lambda rel: index.document_for(kb, rel))
        return real_refresh(kb, progress)

    with monkeypatch.context() as patched:
        slow_early_scan(patched, bundled)
        patched.setattr(search, "refresh", another_writer_first)
        listed = output(cli, bundled, command)
    assert NEW_ID in {entry["id"] for entry in listed["entries"]}
    assert listed == without_index(cli, bundled, command)


def test_a_failed_check_after_work_done_while_scanning_reads_the_files_once(
    cli, bundled, monkeypatch
):
    """A check that fails (a busy or damaged index) is not made twice: the files are read."""
    command = ("rfi", "list", "--json", "--today", TODAY)
    fresh = output(cli, bundled, command)
    slow_early_scan(monkeypatch, bundled)
    checks = []

    def failing(kb, progress=None):
        checks.append(kb)
        raise OSError("the index cannot be read")

    monkeypatch.setattr(search, "refresh", failing)
    assert output(cli, bundled, command) == fresh
    assert len(checks) == 1


def test_experts_searches_the_version_it_listed_and_leaves_the_early_scan_to_the_check(
    cli, bundled, monkeypatch
):
    """The search inside `experts` stands on the listing's version while scanning: it opens
    the index without a check of its own (which would take the early scan), and the one
    check after it takes the scan."""
    from cacop_cli.index import build as index_build

    command = ("experts", "analysis", "--json", "--today", TODAY)
    fresh = output(cli, bundled, command)
    events: list[str] = []
    real_open, real_take = index.open_searcher, index_build.early_scan
    monkeypatch.setattr(index, "open_searcher", lambda *a: events.append("open") or real_open(*a))
    monkeypatch.setattr(
        index_build, "early_scan", lambda root: events.append("take") or real_take(root)
    )
    slow_early_scan(monkeypatch, bundled)
    assert output(cli, bundled, command) == fresh
    assert events == ["open", "take"]


@pytest.mark.parametrize("named", ["a prefix", "a typo", "a title"])
def test_show_resolves_a_name_while_scanning(cli, bundled, monkeypatch, named):
    """A name other than a top folder's file (a prefix, a typo and its "did you mean", a
    title) is resolved from the listing while the early scan runs, as with a fresh index."""
    entry = sorted((bundled / "kb/strategies").glob("*.md"))[0]
    title = next(
        line[len("title: ") :].strip().strip("'\"")
        for line in entry.read_text().splitlines()
        if line.startswith("title: ")
    )
    name = {"a prefix": entry.stem[:-3], "a typo": entry.stem[:-1] + "x", "a title": title}[named]
    assert cli("index", kb=bundled).exit_code == ExitCode.OK  # else the folders are walked
    fresh = cli("show", name, "--json", kb=bundled)
    with monkeypatch.context() as patched:
        events = recorded(patched)
        slow_early_scan(patched, bundled)
        again = cli("show", name, "--json", kb=bundled)
    assert (again.exit_code, again.stdout, again.stderr) == (
        fresh.exit_code, fresh.stdout, fresh.stderr,
    )  # fmt: skip
    assert events == ["read", "check"]
    if named == "a typo":
        assert fresh.exit_code == ExitCode.PROBLEMS and entry.stem in fresh.stderr
    else:
        assert fresh.exit_code == ExitCode.OK and json.loads(fresh.stdout)["id"] == entry.stem
