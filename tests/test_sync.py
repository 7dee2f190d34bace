"""`cacop sync` over real git: what arrives, what leaves, and the clone kept exactly as it was."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from gitserver import FILES, GitDaemon, Network, entry_text, git, snapshot, write

from cacop_cli.errors import ExitCode

STRATEGY = "kb/strategies/beta-2023-hot-spots-dosage.md"


def commit_entry(site: Path, entry_id: str, title: str, tlp: str = "green", body: str = "") -> None:
    write(site / f"kb/strategies/{entry_id}.md", entry_text(entry_id, "alpha", title, tlp, body))
    git(site, "add", "-A")
    git(site, "commit", "-qm", f"Add {entry_id}")


def remote_main(net: Network) -> str:
    return git(net.bare, "rev-parse", "main").strip()


RFI = """---
id: {id}
type: rfi
title: {title}
site: beta
authors: [B. Analyst]
created: 2025-02-01
topics: [investigations]
tlp: green
status: open
priority: routine
needed_by: 2025-03-01
to: [{to}]
---

Question.
"""


def test_sync_reports_what_arrived_and_sends_local_commits(cli, net, site_a):
    commit_entry(site_a, "alpha-2025-local-work", "Local work")
    response = (
        "---\nid: beta-20250301-bbbb\ntype: response\ntitle: Our answer\nsite: beta\n"
        "authors: [B. Analyst]\ncreated: 2025-03-01\ntopics: [gun-violence]\ntlp: green\n"
        "rfi: alpha-2025-question\n---\n\nAnswer.\n"
    )
    alpha_rfi = RFI.format(id="alpha-2025-question", title="Alpha asks", to="all").replace(
        "site: beta", "site: alpha"
    )
    net.other_site_commits("alpha-earlier", {"kb/rfis/alpha-2025-question.md": alpha_rfi}, "rfi")
    git(site_a, "pull", "-q", "--rebase", "origin", "main")
    net.other_site_commits(
        "beta",
        {
            "kb/strategies/beta-2025-new-idea.md": entry_text(
                "beta-2025-new-idea", "beta", "A new idea"
            ),
            "kb/rfis/beta-2025-to-alpha.md": RFI.format(
                id="beta-2025-to-alpha", title="For alpha", to="alpha"
            ),
            "kb/rfis/beta-2025-to-gamma.md": RFI.format(
                id="beta-2025-to-gamma", title="For gamma", to="gamma"
            ),
            "kb/rfis/alpha-2025-question/responses/beta-20250301-bbbb.md": response,
            STRATEGY: (FILES / "valid" / STRATEGY).read_text() + "\nMore.\n",
        },
        "beta shares",
    )
    result = cli("sync", "--json", kb=site_a)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["how"] == "rebased 1 local commit(s)"
    arrived = {(item["entry_id"], item["status"]) for item in report["arrived"]}
    assert ("beta-2025-new-idea", "new") in arrived
    assert ("beta-2023-hot-spots-dosage", "updated") in arrived
    assert [item["entry_id"] for item in report["rfis_for_site"]] == ["beta-2025-to-alpha"]
    assert [item["entry_id"] for item in report["responses_for_site"]] == ["beta-20250301-bbbb"]
    assert report["pushed"] and report["to_push"] == 1
    assert remote_main(net) == git(site_a, "rev-parse", "HEAD").strip()
    assert (site_a / "kb/strategies/beta-2025-new-idea.md").is_file()
    text = cli("sync", kb=site_a)
    assert text.exit_code == 0 and "up to date" in text.stdout


def test_human_report_groups_by_site_and_type(cli, net, site_a):
    net.other_site_commits(
        "beta",
        {"kb/strategies/beta-2025-x.md": entry_text("beta-2025-x", "beta", "Idea X")},
        "x",
    )
    result = cli("sync", kb=site_a)
    assert result.exit_code == 0, result.stderr
    assert "main ← origin/main: fast-forward" in result.stdout
    assert "beta — strategy: 1 new, 0 updated" in result.stdout
    assert "+ Idea X  [beta-2025-x]" in result.stdout


# ---------------------------------------------------------------- hostile case 27


def test_uncommitted_edits_are_kept_byte_for_byte(cli, net, site_a):
    commit_entry(site_a, "alpha-2025-local", "Local")  # so that sync must rebase
    strategy = site_a / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md"
    strategy.write_bytes(strategy.read_bytes() + b"\r\nlocal edit \xe2\x80\x94 keep\r\n")
    staged = site_a / "kb/work-products/alpha-2024-shooting-review-checklist/checklist.md"
    write(staged, staged.read_text() + "- staged\n")
    git(site_a, "add", str(staged))
    write(site_a / "notes.txt", "untracked\n")
    git(site_a, "stash", "list")
    write(site_a / "kb/strategies/draft-two.md", "draft\n")
    before = snapshot(site_a)
    net.other_site_commits("beta", {STRATEGY: "changed by beta\n"}, "beta edits")
    result = cli("sync", "--no-push", kb=site_a)
    assert result.exit_code == 0, result.stderr
    after = snapshot(site_a)
    changed = {
        name
        for name in set(before["files"]) | set(after["files"])
        if before["files"].get(name) != after["files"].get(name)
    }
    assert changed == {STRATEGY}  # only what arrived; every uncommitted byte kept
    assert git(site_a, "diff", "--cached", "--name-only").split() == [
        str(staged.relative_to(site_a))
    ]
    assert git(site_a, "worktree", "list").count("\n") == 1


def test_uncommitted_edit_to_a_file_that_also_arrives_stops_and_keeps_everything(cli, net, site_a):
    write(site_a / STRATEGY, "my uncommitted version\n")
    git(site_a, "stash", "push", "-q", "-m", "older stash", "--", STRATEGY)
    write(site_a / STRATEGY, "my uncommitted version, again\n")
    before = snapshot(site_a)
    net.other_site_commits("beta", {STRATEGY: "changed by beta\n"}, "beta edits")
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT
    assert STRATEGY in result.stderr
    assert snapshot(site_a) == before


def test_uncommitted_edit_merges_cleanly_with_a_change_elsewhere_in_the_file(cli, net, site_a):
    original = (site_a / STRATEGY).read_text()
    mine = original.replace("---\n", "---\n", 1) + "\nMy uncommitted paragraph.\n"
    write(site_a / STRATEGY, mine)
    write(site_a / "notes.txt", "untracked\n")
    theirs = original.replace("title: ", "title: Updated: ", 1)
    net.other_site_commits("beta", {STRATEGY: theirs}, "beta retitles")
    stash_before = git(site_a, "stash", "list")
    result = cli("sync", "--json", kb=site_a)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["merged_edits"] == [STRATEGY]
    merged = (site_a / STRATEGY).read_text()
    assert "title: Updated: " in merged and merged.endswith("My uncommitted paragraph.\n")
    assert git(site_a, "diff", "--name-only").split() == [STRATEGY]  # still uncommitted
    assert git(site_a, "rev-parse", "HEAD") == git(net.bare, "rev-parse", "main")
    assert git(site_a, "stash", "list") == stash_before
    assert (site_a / "notes.txt").read_text() == "untracked\n"


def test_untracked_file_identical_to_an_arrival_is_no_obstacle(cli, net, site_a):
    text = entry_text("alpha-2025-shared", "alpha", "Shared")
    write(site_a / "kb/strategies/alpha-2025-shared.md", text)
    net.other_site_commits("maintainer", {"kb/strategies/alpha-2025-shared.md": text}, "merged")
    assert cli("sync", kb=site_a).exit_code == 0
    assert git(site_a, "status", "--porcelain") == ""
    different = "kb/strategies/beta-2025-other.md"
    write(site_a / different, "mine\n")
    before = snapshot(site_a)
    net.other_site_commits("beta", {different: entry_text("beta-2025-other", "beta", "O")}, "o")
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT and different in result.stderr
    assert snapshot(site_a) == before


# ---------------------------------------------------------------- hostile case 28


def test_conflict_lists_files_and_restores_head_tree_and_stash(cli, net, site_a):
    write(site_a / STRATEGY, "alpha's committed version\n")
    git(site_a, "commit", "-qam", "alpha edits")
    write(site_a / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md", "wip\n")
    git(site_a, "stash", "push", "-q")
    write(site_a / "scratch.txt", "untracked\n")
    write(site_a / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md", "wip 2\n")
    before = snapshot(site_a)
    net.other_site_commits("beta", {STRATEGY: "beta's version\n"}, "beta edits")
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT
    assert STRATEGY in result.stderr and "same lines" in result.stderr
    assert snapshot(site_a) == before
    gitdir = site_a / ".git"
    assert not (gitdir / "rebase-merge").exists() and not (gitdir / "rebase-apply").exists()
    assert not (gitdir / "MERGE_HEAD").exists() and not (gitdir / "index.lock").exists()
    assert "<<<<<<<" not in (site_a / STRATEGY).read_text()
    assert remote_main(net) != before["head"]


# ---------------------------------------------------------------- hostile case 29


def _start_conflict(site: Path, command: list[str]) -> None:
    subprocess.run(["git", *command], cwd=site, capture_output=True, check=False)


@pytest.mark.parametrize("state", ["rebase", "merge", "cherry-pick", "bisect", "detached"])
def test_sync_refuses_unsafe_states(cli, net, site_a, state):
    write(site_a / STRATEGY, "ours\n")
    git(site_a, "commit", "-qam", "ours")
    git(site_a, "branch", "theirs", "HEAD~1")
    git(site_a, "switch", "-q", "theirs")
    write(site_a / STRATEGY, "theirs\n")
    git(site_a, "commit", "-qam", "theirs")
    git(site_a, "switch", "-q", "main")
    if state == "rebase":
        _start_conflict(site_a, ["rebase", "theirs"])
    elif state == "merge":
        _start_conflict(site_a, ["merge", "theirs"])
    elif state == "cherry-pick":
        _start_conflict(site_a, ["cherry-pick", "theirs"])
    elif state == "bisect":
        git(site_a, "bisect", "start")
    else:
        git(site_a, "switch", "-q", "--detach", "HEAD~1")
    before = snapshot(site_a)
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT
    expected = "detached" if state == "detached" else f"middle of a {state}"
    assert expected in result.stderr
    assert "hint:" in result.stderr
    assert snapshot(site_a) == before


def test_sync_without_upstream_says_what_to_do(cli, net, site_a):
    git(site_a, "switch", "-q", "-c", "local-only")
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT
    assert "no upstream" in result.stderr and "--set-upstream-to=origin/main" in result.stderr


def test_sync_following_a_branch_the_remote_lacks_names_it_not_the_network(cli, net, site_a):
    git(site_a, "config", "branch.main.merge", "refs/heads/gone")  # deleted on the remote
    before = snapshot(site_a)
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT
    assert result.stderr.splitlines() == [
        "error: the remote 'origin' has no branch 'gone' (it has: main)",
        "hint: follow the shared branch: `git branch --set-upstream-to=origin/BRANCH`; "
        "nothing here was changed",
    ]
    assert snapshot(site_a) == before


def test_sync_in_a_new_kb_with_no_shared_repository_says_how_to_add_one(cli, tmp_path):
    root = tmp_path / "fresh"
    assert cli("init", str(root), "--site", "alpha").exit_code == 0
    before = git(root, "rev-parse", "HEAD")
    result = cli("sync", kb=root)
    assert result.exit_code == ExitCode.GIT
    assert "no remote called 'origin'" in result.stderr
    assert "git remote add origin URL" in result.stderr
    assert git(root, "rev-parse", "HEAD") == before


# ---------------------------------------------------------------- hostile case 30


def test_push_rejected_by_server_hook_is_exit_4_with_reason(cli, net, site_a):
    hook = net.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is frozen for the audit' >&2\nexit 1\n")
    hook.chmod(0o755)
    commit_entry(site_a, "alpha-2025-local", "Local")
    head = git(site_a, "rev-parse", "HEAD").strip()
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT
    assert "pre-receive hook declined" in result.stderr
    assert "frozen for the audit" in result.stderr
    assert git(site_a, "rev-parse", "HEAD").strip() == head  # commits kept


def test_push_rejected_non_fast_forward_is_exit_4(cli, net, site_a, git_daemon):  # noqa: F811
    # pushes go to a repository that moved on since the fetch (as if someone raced us)
    other = git_daemon.bare(f"{net.tmp.name}-push.git")
    git(net.bare, "push", "-q", str(other), "main")
    racer = net.tmp / "racer"
    git(net.tmp, "clone", "-q", str(other), str(racer))
    write(racer / "race.txt", "first\n")
    git(racer, "add", "race.txt")
    git(racer, "commit", "-qm", "race")
    git(racer, "push", "-q", "origin", "main")
    git(site_a, "config", "remote.origin.pushurl", git_daemon.url(other.name))
    commit_entry(site_a, "alpha-2025-local", "Local")
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT
    assert "rejected" in result.stderr and "fetch first" in result.stderr
    assert git(other, "log", "-1", "--format=%s", "main").strip() == "race"


# ---------------------------------------------------------------- hostile case 31


def test_stopped_daemon_unresolvable_host_and_silent_port_are_exit_4_quickly(
    cli, net, site_a, tmp_path, monkeypatch
):
    monkeypatch.setenv("CACOP_GIT_TIMEOUT", "1")
    own = GitDaemon(tmp_path / "served-here")
    own.base.mkdir()
    own.start()
    bare = own.bare("kb.git")
    git(net.bare, "push", "-q", str(bare), "main")
    git(site_a, "remote", "set-url", "origin", own.url("kb.git"))
    commit_entry(site_a, "alpha-2025-local", "Local")
    assert cli("sync", "--no-push", kb=site_a).exit_code == 0  # reachable first
    own.stop()  # the remote vanishes
    before = snapshot(site_a)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        urls = [
            own.url("kb.git"),
            "git://cacop-no-such-host.invalid/kb.git",
            f"git://127.0.0.1:{silent.getsockname()[1]}/kb.git",
        ]
        for url in urls:
            git(site_a, "remote", "set-url", "origin", url)
            started = time.monotonic()
            result = cli("sync", kb=site_a)
            assert result.exit_code == ExitCode.GIT, (url, result.stderr)
            assert time.monotonic() - started < 8, url
            assert "cannot reach the remote" in result.stderr or "did not finish" in result.stderr
    git(site_a, "remote", "set-url", "origin", own.url("kb.git"))
    assert snapshot(site_a) == before


# ---------------------------------------------------------------- hostile case 34


@pytest.mark.parametrize("url", ["ext::sh -c touch% PWNED", "--upload-pack=touch PWNED"])
def test_sync_refuses_dangerous_remote_urls(cli, net, site_a, url):
    git(site_a, "config", "remote.origin.url", url)
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT and "is refused" in result.stderr
    assert not list(site_a.rglob("PWNED"))


# ---------------------------------------------------------------- hostile case 35-38 on push


def test_red_entry_deleted_later_still_blocks_the_push(cli, net, site_a):
    commit_entry(site_a, "alpha-2025-red-brief", "Red brief", tlp="red")
    git(site_a, "rm", "-q", "kb/strategies/alpha-2025-red-brief.md")
    git(site_a, "commit", "-qm", "oops, remove it")
    head, remote_before = git(site_a, "rev-parse", "HEAD").strip(), remote_main(net)
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "kb/strategies/alpha-2025-red-brief.md:9: tlp:" in result.stderr
    assert remote_main(net) == remote_before  # nothing left
    assert git(site_a, "rev-parse", "HEAD").strip() == head  # commits kept


@pytest.mark.parametrize("tlp", ["amber", "amber+strict"])
def test_amber_entry_blocks_the_push(cli, net, site_a, tlp):
    commit_entry(site_a, "alpha-2025-amber", "Amber", tlp=tlp)
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS and "share.max_tlp" in result.stderr
    assert remote_main(net) != git(site_a, "rev-parse", "HEAD").strip()


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("Victim SSN 536-22-1234.", "ssn"),
        ("A juvenile, DOB: 2012-05-06.", "date-of-birth"),
        ('password = "Hunter2Secret!99"', "secret"),
    ],
)
def test_personal_data_or_secret_in_a_commit_blocks_the_push(cli, net, site_a, body, kind):
    commit_entry(site_a, "alpha-2025-notes", "Notes", body=body)
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS
    assert f"kb/strategies/alpha-2025-notes.md:14: {kind}:" in result.stderr
    assert remote_main(net) != git(site_a, "rev-parse", "HEAD").strip()


def test_recorded_override_lets_the_push_through(cli, net, site_a):
    body = "Public tip line (901) 555-0142."
    text = entry_text("alpha-2025-tips", "alpha", "Tips", body=body).replace(
        "status: active",
        "pii_override:\n  reason: Published tip line of the agency\n  by: A. Analyst\n"
        "  date: 2025-01-15\n  kinds: [phone]\nstatus: active",
    )
    write(site_a / "kb/strategies/alpha-2025-tips.md", text)
    git(site_a, "add", "-A")
    git(site_a, "commit", "-qm", "tips")
    result = cli("sync", kb=site_a)
    assert result.exit_code == 0, result.stderr
    assert remote_main(net) == git(site_a, "rev-parse", "HEAD").strip()


# ---------------------------------------------------------------- hostile case 32


def _sync_process(site: Path, exe: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [*exe, "--kb", str(site), "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CACOP_GIT_TIMEOUT": "30"},
    )


def _wait_for_git_child(process: subprocess.Popen, limit: float = 10.0) -> None:
    """Wait until cacop has started its first git command (Linux /proc)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if children.read_text().split():
                return
        except OSError:
            return
        time.sleep(0.005)


@pytest.mark.ctrl_c
def test_ctrl_c_while_the_remote_hangs_is_130_and_changes_nothing(net, site_a, cacop_exe):
    commit_entry(site_a, "alpha-2025-local", "Local")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        git(site_a, "remote", "set-url", "origin", f"git://127.0.0.1:{silent.getsockname()[1]}/x")
        before = snapshot(site_a)
        process = _sync_process(site_a, cacop_exe)
        _wait_for_git_child(process)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert b"Traceback" not in stderr
    assert snapshot(site_a) == before
    assert not (site_a / ".git/index.lock").exists()


@pytest.mark.ctrl_c
def test_ctrl_c_at_random_moments_leaves_before_or_after(net, site_a, cacop_exe):
    commit_entry(site_a, "alpha-2025-local", "Local")
    write(site_a / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md", "uncommitted\n")
    rng = random.Random(32)
    for round_number in range(3):
        net.other_site_commits(
            "beta",
            {
                f"kb/strategies/beta-2025-r{round_number}.md": entry_text(
                    f"beta-2025-r{round_number}", "beta", f"Round {round_number}"
                )
            },
            f"round {round_number}",
        )
        before = snapshot(site_a)
        process = _sync_process(site_a, cacop_exe)
        _wait_for_git_child(process)  # past start-up: the sync itself is under way
        time.sleep(rng.uniform(0.0, 0.6))
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode in (0, ExitCode.INTERRUPTED), stderr
        assert b"Traceback" not in stderr
        after = snapshot(site_a)
        assert not (site_a / ".git/index.lock").exists()
        assert after["worktrees"] == 1
        assert (site_a / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md").read_text() == (
            "uncommitted\n"
        )
        if after["head"] == before["head"]:
            assert after["files"] == before["files"]
        else:  # after: the round's entry arrived, our commit on top, or shared already
            assert f"kb/strategies/beta-2025-r{round_number}.md" in after["files"]
            ours = "Add alpha-2025-local"
            if git(site_a, "log", "-1", "--format=%s").strip() != ours:  # an earlier round
                assert ours in git(site_a, "log", "--format=%s", "@{upstream}").splitlines()
            assert ours in git(site_a, "log", "--format=%s").splitlines()


def test_a_branch_named_like_an_option_is_never_an_option(cli, net, site_a):
    git(site_a, "update-ref", "refs/heads/--output=PWNED", "HEAD")
    git(site_a, "symbolic-ref", "HEAD", "refs/heads/--output=PWNED")
    before = snapshot(site_a)
    result = cli("sync", kb=site_a)
    assert result.exit_code == ExitCode.GIT and "a name git itself would refuse" in result.stderr
    assert snapshot(site_a) == before and not list(site_a.rglob("PWNED"))
    bundle = cli("bundle", "create", str(net.tmp / "x.bundle"), kb=site_a)
    assert bundle.exit_code == ExitCode.GIT and not (net.tmp / "x.bundle").exists()


def test_missing_remote_is_exit_4_and_nothing_changes(cli, net, site_a, git_daemon):  # noqa: F811
    commit_entry(site_a, "alpha-2025-local", "Local")
    before = snapshot(site_a)
    git(site_a, "remote", "set-url", "origin", git_daemon.url("no-such-repository.git"))
    gone = cli("sync", kb=site_a)
    assert gone.exit_code == ExitCode.GIT and "cannot reach the remote" in gone.stderr
    git(site_a, "remote", "rename", "origin", "elsewhere")
    git(site_a, "config", "branch.main.remote", "origin")
    unnamed = cli("sync", kb=site_a)
    assert unnamed.exit_code == ExitCode.GIT and "no remote called 'origin'" in unnamed.stderr
    git(site_a, "remote", "rename", "elsewhere", "origin")
    git(site_a, "remote", "set-url", "origin", net.url)
    git(site_a, "config", "branch.main.remote", "origin")
    assert snapshot(site_a) == before
