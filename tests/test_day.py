"""An analyst's day over real git (two clones and a bare remote): `status` says what is
pending, `edit` changes an entry, `open` opens an attachment, and every writing command
names `cacop submit ID`."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

import pytest
from gitserver import Network, git, write
from test_sync import RFI, remote_main

from cacop_cli.errors import ExitCode

TODAY = dt.date.today().isoformat()
STRATEGY = "alpha-2024-focused-deterrence-call-ins"
STRATEGY_FILE = f"kb/strategies/{STRATEGY}.md"
WORK_PRODUCT = "alpha-2024-shooting-review-checklist"
RESPONSE = """---
id: beta-20250301-cccc
type: response
title: Our answer
site: beta
authors: [B. Analyst]
created: 2025-03-01
topics: [investigations]
tlp: green
rfi: alpha-2025-question
---

Answer.
"""


def status_of(cli, site: Path) -> dict:
    result = cli("status", "--json", kb=site)
    assert result.exit_code == ExitCode.OK, result.stderr
    return json.loads(result.stdout)


def fake_editor(tmp_path: Path, monkeypatch, script: str) -> None:
    editor = tmp_path / "editor"
    editor.write_text(f"#!/bin/sh\n{script}\n")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="shell-script editors")


# ---------------------------------------------------------------- status


def test_status_of_a_fresh_clone_has_nothing_pending(cli, site_a):
    found = status_of(cli, site_a)
    assert found["unshared"] == [] and found["submissions"] == [] and found["answers"] == []
    assert found["git"] is True and found["site"] == "alpha"
    result = cli("status", kb=site_a)
    assert "nothing pending" in result.stdout


def test_status_lists_new_and_changed_entries_with_the_command_that_shares_them(cli, site_a):
    path = site_a / STRATEGY_FILE
    path.write_text(path.read_text() + "\nA new finding.\n")
    created = cli("new", "strategy", "--title", "Street lights", "--topic", "crime-analysis",
                  "--no-edit", kb=site_a)  # fmt: skip
    assert created.exit_code == ExitCode.OK, created.stderr
    new_id = Path(created.stdout.strip()).stem
    assert f"share it with `cacop submit {new_id}`" in created.stderr
    # with --no-edit the sections hold the template's prompts, which submit refuses
    assert f"write its sections with `cacop edit {new_id}`" in created.stderr
    assert "is ready" not in created.stderr
    found = {item["entry_id"]: item for item in status_of(cli, site_a)["unshared"]}
    assert found[STRATEGY]["state"] == "changed"
    assert found[STRATEGY]["command"] == f"cacop submit {STRATEGY}"
    assert found[new_id]["state"] == "new"
    text = cli("status", kb=site_a).stdout
    assert f"cacop submit {new_id}" in text and f"cacop submit {STRATEGY}" in text


def _git_status_all(root: Path) -> list[tuple[str, str]]:
    """What `git status --untracked-files=all -- kb` lists: (code, path), a rename's new path."""
    fields = iter(
        git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "kb").split("\0")
    )
    found = []
    for record in fields:
        if len(record) >= 4:
            found.append((record[:2], record[3:]))
            if record[0] in "RC":
                next(fields)
    return sorted(found)


@pytest.mark.parametrize("setting", [None, "false"])
def test_status_sees_every_kind_of_change_git_status_lists_with_or_without_its_cache(
    site_a, setting
):
    """status lists what `git status --untracked-files=all -- kb` lists: with git's untracked
    cache (unless the clone's config turns it off), a wholly untracked folder is asked for
    its files, and a file added to a folder the cache knows is still seen."""
    from cacop_cli import gitrepo

    if setting:
        git(site_a, "config", "core.untrackedCache", setting)
    kb = site_a / "kb"
    product = next(p for p in (kb / "work-products").iterdir() if p.is_dir())
    (site_a / ".gitignore").write_text(
        (site_a / ".gitignore").read_text() + "kb/strategies/*-draft.md\n"
    )
    steps = [
        lambda: (kb / "strategies" / f"{STRATEGY}.md").write_text("changed\n"),
        lambda: write(
            kb / "rfis" / "alpha-2026-new" / "responses" / "beta-20260101-aaaa.md", "r\n"
        ),
        lambda: write(kb / "rfis" / "alpha-2026-new.md", "q\n"),
        lambda: write(kb / "work-products" / "alpha-2026-new-map" / "map.pdf", "%PDF\n"),
        lambda: write(product / "added.csv", "a,b\n"),
        lambda: write(kb / "strategies" / "alpha-2026-plan-draft.md", "ignored\n"),
        lambda: write(site_a / "notes" / "outside.md", "not the KB\n"),
        lambda: (kb / "empty-folder").mkdir(),
        lambda: git(
            site_a,
            "mv",
            f"kb/work-products/{WORK_PRODUCT}.md",
            "kb/work-products/alpha-2026-moved.md",
        ),
        lambda: git(site_a, "rm", "-q", git(site_a, "ls-files", "kb/rfis/*.md").split()[0]),
        lambda: (
            write(kb / "strategies" / "alpha-2026-staged.md", "s\n"),
            git(site_a, "add", "kb/strategies/alpha-2026-staged.md"),
        ),
        lambda: write(
            kb / "rfis" / "alpha-2026-new" / "responses" / "gamma-20260102-bbbb.md", "r\n"
        ),
    ]
    for step in steps:
        step()
        for _ in range(
            2
        ):  # the first run of each state may update git's cache, the second reads it
            assert sorted(gitrepo.working_changes(site_a, "kb")) == _git_status_all(site_a)
    listed = _git_status_all(site_a)
    assert ("??", "kb/rfis/alpha-2026-new/responses/gamma-20260102-bbbb.md") in listed
    assert ("??", f"{product.relative_to(site_a).as_posix()}/added.csv") in listed
    assert not any("draft" in path or path.startswith("notes") for _, path in listed)
    has_cache = b"UNTR" in (site_a / ".git" / "index").read_bytes()
    assert has_cache == (setting is None)  # the cache was used, unless turned off


def test_status_follows_a_submission_from_no_push_to_merged(cli, net: Network, site_a):
    path = site_a / STRATEGY_FILE
    path.write_text(path.read_text() + "\nA new finding.\n")
    made = cli("submit", STRATEGY, "--no-push", kb=site_a)
    assert made.exit_code == ExitCode.OK, made.stderr
    found = status_of(cli, site_a)
    assert found["unshared"] == []  # the branch holds it exactly as it is here
    [sub] = found["submissions"]
    assert (sub["branch"], sub["pushed"], sub["merged"]) == (f"submit/{STRATEGY}", False, False)
    assert "not pushed" in cli("status", kb=site_a).stdout

    pushed = cli("submit", STRATEGY, kb=site_a)
    assert pushed.exit_code == ExitCode.OK, pushed.stderr
    git(site_a, "remote", "set-url", "origin", "https://github.com/psp/kb.git")  # a forge
    [sub] = status_of(cli, site_a)["submissions"]
    assert sub["pushed"] and sub["up_to_date"] and not sub["merged"]
    assert sub["pr_url"] == f"https://github.com/psp/kb/compare/main...submit/{STRATEGY}?expand=1"
    assert sub["pr_url"] in cli("status", kb=site_a).stdout

    git(site_a, "remote", "set-url", "origin", net.url)
    net.maintainer_merge(f"submit/{STRATEGY}")
    git(site_a, "fetch", "-q", "origin")
    [sub] = status_of(cli, site_a)["submissions"]
    assert sub["merged"] and sub["pr_url"] is None


def test_status_lists_rfis_to_this_site_and_answers_since_the_last_sync(cli, net, site_a):
    alpha_rfi = RFI.format(id="alpha-2025-question", title="Alpha asks", to="all").replace(
        "site: beta", "site: alpha"
    )
    net.other_site_commits(
        "beta",
        {
            "kb/rfis/alpha-2025-question.md": alpha_rfi,
            "kb/rfis/beta-2025-to-alpha.md": RFI.format(
                id="beta-2025-to-alpha", title="For alpha", to="alpha"
            ),
            "kb/rfis/beta-2025-to-gamma.md": RFI.format(
                id="beta-2025-to-gamma", title="For gamma", to="gamma"
            ),
        },
        "beta asks",
    )
    synced = cli("sync", kb=site_a)
    assert synced.exit_code == ExitCode.OK, synced.stderr
    assert git(site_a, "config", "cacop.last-sync").strip() == remote_main(net)
    found = status_of(cli, site_a)
    assert [rfi["entry_id"] for rfi in found["rfis_to_answer"]] == ["beta-2025-to-alpha"]
    assert found["rfis_to_answer"][0]["command"] == "cacop rfi respond beta-2025-to-alpha"
    assert found["answers"] == []

    net.other_site_commits(
        "beta",
        {"kb/rfis/alpha-2025-question/responses/beta-20250301-cccc.md": RESPONSE},
        "beta answers",
    )
    git(site_a, "fetch", "-q", "origin")  # what `submit` (or any fetch) learns
    [answer] = status_of(cli, site_a)["answers"]
    assert (answer["entry_id"], answer["rfi"], answer["site"]) == (
        "beta-20250301-cccc", "alpha-2025-question", "beta",
    )  # fmt: skip
    assert cli("sync", kb=site_a).exit_code == ExitCode.OK
    assert status_of(cli, site_a)["answers"] == []  # brought in: no longer pending

    responded = cli("rfi", "respond", "beta-2025-to-alpha", "--message", "We did.", kb=site_a)
    assert responded.exit_code == ExitCode.OK, responded.stderr
    assert "cacop submit" in responded.stderr
    assert status_of(cli, site_a)["rfis_to_answer"] == []


def test_an_entry_only_on_its_submit_branch_is_found_by_show_and_list(cli, site_a, tmp_path):
    source = write(tmp_path / "outside" / "map.md", "# A map\n\nHot spots this week.\n")
    made = cli("submit", str(source), "--title", "Hot spot map", "--topic", "crime-analysis",
               "--no-push", kb=site_a)  # fmt: skip
    assert made.exit_code == ExitCode.OK, made.stderr
    entry_id = f"alpha-{dt.date.today().year}-hot-spot-map"
    assert not (site_a / f"kb/work-products/{entry_id}.md").exists()
    shown = cli("show", entry_id, kb=site_a)
    assert shown.exit_code == ExitCode.OK, shown.stderr
    assert "Hot spot map" in shown.stdout and f"submit/{entry_id}" in shown.stdout
    document = json.loads(cli("show", entry_id, "--json", kb=site_a).stdout)
    assert document["pending"] == f"submit/{entry_id}"
    assert document["attachment_paths"] == [f"kb/work-products/{entry_id}/map.md"]
    listed = json.loads(cli("list", "--json", kb=site_a).stdout)["entries"]
    [item] = [item for item in listed if item["id"] == entry_id]
    assert item["pending"] == f"submit/{entry_id}"
    assert "pending" in cli("list", kb=site_a).stdout
    refused = cli("edit", entry_id, kb=site_a)
    assert refused.exit_code == ExitCode.PROBLEMS and f"submit/{entry_id}" in refused.stderr


def test_status_outside_git_says_one_thing_what_it_can_and_cannot_tell(cli, kb_path):
    found = status_of(cli, kb_path)
    assert found["git"] is False and found["rfis_to_answer"] == []
    # what cannot be told there is null ("unknown"), never [] ("nothing pending")
    assert found["unshared"] is None and found["submissions"] is None
    assert found["answers"] is None
    said = cli("status", kb=kb_path)
    assert said.exit_code == ExitCode.OK, said.stderr
    assert "nothing pending" not in said.stdout + said.stderr
    assert said.stdout.count("not a git clone") == 1 and "not a git clone" not in said.stderr
    assert said.stdout.strip().endswith("wait for your answer: none")


def test_status_outside_git_lists_the_rfis_under_its_one_statement(cli, kb_path):
    question = RFI.format(id="beta-2025-question", title="Who has NIBIN leads?", to="alpha")
    write(kb_path / "kb/rfis/beta-2025-question.md", question)
    said = cli("status", kb=kb_path)
    assert said.exit_code == ExitCode.OK, said.stderr
    lines = said.stdout.splitlines()
    assert lines[0].startswith("not a git clone") and lines[0].endswith("wait for your answer:")
    assert any("beta-2025-question" in line for line in lines[1:])
    assert "nothing pending" not in said.stdout


# ---------------------------------------------------------------- edit


def test_edit_sets_updated_keeps_other_bytes_and_names_submit(cli, site_a, tmp_path, monkeypatch):
    path = site_a / STRATEGY_FILE
    before = path.read_bytes()
    fake_editor(tmp_path, monkeypatch, 'printf "\\nAnother finding.\\n" >> "$1"')
    result = cli("edit", STRATEGY, kb=site_a)
    assert result.exit_code == ExitCode.OK, result.stderr
    after = path.read_bytes()
    assert f"updated: {TODAY}".encode() in after
    assert after.endswith(b"Another finding.\n")
    # only the `updated` field was added: every other byte is as the editor left it
    old_line = re.search(rb"^updated: .*\n", before, re.M).group()
    expected = before.replace(old_line, f"updated: {TODAY}\n".encode()) + b"\nAnother finding.\n"
    assert after == expected
    assert f"`cacop submit {STRATEGY}`" in result.stderr
    [item] = status_of(cli, site_a)["unshared"]
    assert (item["entry_id"], item["state"]) == (STRATEGY, "changed")


def test_edit_without_a_change_leaves_the_file_alone(cli, site_a, tmp_path, monkeypatch):
    path = site_a / STRATEGY_FILE
    before = path.read_bytes()
    fake_editor(tmp_path, monkeypatch, "true")
    result = cli("edit", STRATEGY, kb=site_a)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert path.read_bytes() == before and "did not change" in result.stderr


def test_edit_reports_problems_with_their_lines(cli, site_a, tmp_path, monkeypatch):
    fake_editor(tmp_path, monkeypatch, "sed -i 's/^tlp: green/tlp: purple/' \"$1\"")
    result = cli("edit", STRATEGY, kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS
    assert f"{STRATEGY_FILE}:" in result.stderr and "purple" in result.stderr


def test_edit_without_an_editor_says_what_to_do_as_new_does(cli, site_a):
    result = cli("edit", STRATEGY, kb=site_a)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "no $EDITOR is set" in result.stderr


def test_edit_of_an_unknown_id(cli, site_a):
    result = cli("edit", "alpha-2025-nothing", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS and "no entry has the id" in result.stderr


def test_sync_with_a_clashing_edit_names_submit_not_git_commit(cli, net, site_a, tmp_path):
    beta_strategy = "kb/strategies/beta-2023-hot-spots-dosage.md"
    (site_a / beta_strategy).write_text("---\nbroken\n")
    original = (site_a / beta_strategy).read_text()
    net.other_site_commits("beta", {beta_strategy: "---\nother\n---\n"}, "beta edits")
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT
    assert "not yet shared: beta-2023-hot-spots-dosage" in result.stderr.lower()
    assert "cacop submit beta-2023-hot-spots-dosage" in result.stderr
    assert "git commit" not in result.stderr
    assert (site_a / beta_strategy).read_text() == original


def test_submit_path_of_an_entry_is_submit_id(cli, site_a, monkeypatch):
    path = site_a / STRATEGY_FILE
    path.write_text(path.read_text() + "\nA new finding.\n")
    monkeypatch.chdir(site_a)
    result = cli("submit", STRATEGY_FILE, "--no-push", kb=site_a)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert f"submit/{STRATEGY}" in result.stdout


def test_rfi_close_names_submit(cli, site_a):
    opened = cli("rfi", "open", "--title", "Who has a plate reader SOP?", "--needed-by",
                 "2099-01-01", "--message", "Please share.", kb=site_a)  # fmt: skip
    assert opened.exit_code == ExitCode.OK, opened.stderr
    rfi_id = Path(opened.stdout.strip()).stem
    closed = cli("rfi", "close", rfi_id, kb=site_a)
    assert closed.exit_code == ExitCode.OK, closed.stderr
    assert f"`cacop submit {rfi_id}`" in closed.stderr and "cacop sync" not in closed.stderr


# ---------------------------------------------------------------- open


@pytest.fixture
def opener(tmp_path, monkeypatch) -> Path:
    """A fake `xdg-open` (and `open`) first on PATH that records what it was given."""
    folder = tmp_path / "bin"
    folder.mkdir()
    record = tmp_path / "opened.txt"
    for name in ("xdg-open", "open"):
        script = folder / name
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{record}"\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return record


def test_open_runs_the_system_opener_on_the_attachment(cli, git_kb, opener):
    result = cli("open", WORK_PRODUCT, kb=git_kb)
    assert result.exit_code == ExitCode.OK, result.stderr
    target = git_kb / f"kb/work-products/{WORK_PRODUCT}/checklist.md"
    assert opener.read_text().splitlines() == [str(target)]
    again = cli("open", WORK_PRODUCT, f"kb/work-products/{WORK_PRODUCT}/checklist.md", kb=git_kb)
    assert again.exit_code == ExitCode.OK, again.stderr
    shown = cli("show", WORK_PRODUCT, kb=git_kb)
    assert f"kb/work-products/{WORK_PRODUCT}/checklist.md" in shown.stdout


@pytest.mark.parametrize("name", ["../x", "/etc/hostname", "a/../../x", "..", "link.md"])
def test_open_refuses_names_outside_the_folder_and_links(cli, git_kb, opener, name):
    (git_kb / f"kb/work-products/{WORK_PRODUCT}/link.md").symlink_to("/etc/hostname")
    result = cli("open", WORK_PRODUCT, name, kb=git_kb)
    assert result.exit_code == ExitCode.PROBLEMS, result.stdout
    assert not opener.exists()
    assert "Traceback" not in result.stderr


def test_open_of_an_entry_without_attachments(cli, git_kb, opener):
    result = cli("open", STRATEGY, kb=git_kb)
    assert result.exit_code == ExitCode.PROBLEMS and "no attachments" in result.stderr
    assert not opener.exists()
