"""Sharing and history (issue 13 items 5, 6, 10): a rewritten upstream is not undone by a
sync, a submit branch never rests on history the remote has not seen, settings files are
named on arrival, and a killed or concurrent sync or submit leaves nothing behind."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from gitserver import entry_text, git, write

from cacop_cli.errors import ExitCode


def commit_entry(site: Path, entry_id: str, title: str, tlp: str = "green") -> str:
    write(site / f"kb/strategies/{entry_id}.md", entry_text(entry_id, "alpha", title, tlp))
    git(site, "add", "-A")
    git(site, "commit", "-qm", f"Add {entry_id}")
    return git(site, "rev-parse", "HEAD").strip()


def remote_refs(net) -> str:
    return git(net.bare, "for-each-ref", "--format=%(refname) %(objectname)")


def purge_upstream(net, bad: str) -> str:
    """What a maintainer does to take a commit back: rebuild main without it, force-push."""
    place = net.tmp / "maintainer"
    git(net.tmp, "clone", "-q", str(net.bare), str(place))
    git(place, "rebase", "-q", "--onto", f"{bad}^", bad, "main")
    git(place, "push", "-q", "--force", "origin", "main")
    return git(place, "rev-parse", "HEAD").strip()


# ---------------------------------------------------------------- item 6: rewritten history


@pytest.mark.parametrize("tlp", ["red", "green"])
def test_sync_refuses_to_push_again_what_a_force_push_purged(cli, net, tlp):
    site_a, site_b = net.clone("alpha"), net.clone("beta")
    # A commit reaches the remote past cacop (plain git, no hook), then is purged upstream.
    bad = commit_entry(site_a, "alpha-2025-purged", "Should never have left", tlp)
    commit_entry(site_a, "alpha-2025-after", "After it")
    git(site_a, "push", "-q", "origin", "main")
    assert cli("sync", "--no-push", kb=site_b).exit_code == 0  # beta now holds the commit
    commit_entry(site_b, "alpha-2025-beta-work", "Beta's own work")
    purge_upstream(net, bad)
    published = remote_refs(net)

    result = cli("sync", kb=site_b)

    assert result.exit_code == ExitCode.PROBLEMS, result.stderr
    assert "was rewritten (force-pushed)" in result.stderr
    assert "publish again what was removed" in result.stderr
    assert "git rebase --onto origin/main" in result.stderr
    assert remote_refs(net) == published  # nothing left
    assert bad not in git(net.bare, "rev-list", "--all")
    assert cli("sync", "--no-push", kb=site_b).exit_code == ExitCode.PROBLEMS  # still held


def test_sync_after_the_suggested_rebase_sends_only_ones_own_work(cli, net):
    site_a, site_b = net.clone("alpha"), net.clone("beta")
    bad = commit_entry(site_a, "alpha-2025-purged", "Purged")
    git(site_a, "push", "-q", "origin", "main")
    assert cli("sync", kb=site_b).exit_code == 0
    commit_entry(site_b, "alpha-2025-beta-work", "Beta's own work")
    purge_upstream(net, bad)
    refused = cli("sync", kb=site_b)
    command = re.search(r"`(git rebase --onto origin/main \S+ main)`", refused.stderr)
    assert command, refused.stderr
    git(site_b, *command.group(1).split()[1:])

    result = cli("sync", kb=site_b)

    assert result.exit_code == 0, result.stderr
    shared = git(net.bare, "rev-list", "main").split()
    assert bad not in shared
    assert "alpha-2025-beta-work" in git(net.bare, "log", "--format=%s", "-1", "main")


def test_a_clone_with_no_work_of_its_own_is_told_to_reset(cli, net):
    site_a, site_b = net.clone("alpha"), net.clone("beta")
    bad = commit_entry(site_a, "alpha-2025-purged", "Purged")
    git(site_a, "push", "-q", "origin", "main")
    assert cli("sync", kb=site_b).exit_code == 0
    purge_upstream(net, bad)
    published = remote_refs(net)
    result = cli("sync", kb=site_b)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "git reset --keep origin/main" in result.stderr
    assert remote_refs(net) == published


def test_a_plain_forward_move_upstream_is_no_rewrite(cli, net):
    site_a, site_b = net.clone("alpha"), net.clone("beta")
    commit_entry(site_a, "alpha-2025-one", "One")
    git(site_a, "push", "-q", "origin", "main")
    commit_entry(site_b, "alpha-2025-two", "Two")
    result = cli("sync", kb=site_b)
    assert result.exit_code == 0, result.stderr
    assert "rewritten" not in result.stderr


def test_submit_offline_without_a_fetched_base_gates_all_local_history(cli, tmp_path, git_kb):
    git(git_kb, "remote", "add", "origin", "git://127.0.0.1:9/nowhere")  # never answers
    write(git_kb / "notes/contacts.txt", "Witness SSN: 512-44-7319\n")
    git(git_kb, "add", "-A")
    git(git_kb, "commit", "-qm", "notes")
    attachment = write(tmp_path / "summary.txt", "Monthly counts by beat.\n")
    result = cli(
        "submit", str(attachment), "--title", "Monthly counts", "--topic", "crime-analysis",
        "--no-push", kb=git_kb, env={"CACOP_GIT_TIMEOUT": "3"},
    )  # fmt: skip
    assert result.exit_code == ExitCode.PROBLEMS, result.stdout + result.stderr
    assert "notes/contacts.txt" in result.stderr
    assert git(git_kb, "branch", "--list", "submit/*").strip() == ""


def test_submit_offline_without_a_fetched_base_says_what_the_branch_carries(cli, tmp_path, git_kb):
    git(git_kb, "remote", "add", "origin", "git://127.0.0.1:9/nowhere")
    commit_entry(git_kb, "alpha-2025-local", "Local, never pushed")
    attachment = write(tmp_path / "summary.txt", "Monthly counts by beat.\n")
    result = cli(
        "submit", str(attachment), "--title", "Monthly counts", "--topic", "crime-analysis",
        "--no-push", kb=git_kb, env={"CACOP_GIT_TIMEOUT": "3"},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "no copy of the shared branch was ever fetched" in result.stderr
    assert "carries 2 commit(s) the remote has not seen" in result.stderr


# ---------------------------------------------------------------- item 5: settings arrive


def test_sync_names_every_settings_ci_and_hook_file_that_arrived(cli, net, site_a):
    net.other_site_commits(
        "beta",
        {
            "kb/vocabulary.yaml": "topics: [anything]\n",
            "schemas/extra.json": "{}\n",
            ".github/workflows/steal.yml": "on: push\n",
            ".pre-commit-config.yaml": "repos: []\n",
            ".gitattributes": "* text\n",
            "kb/strategies/beta-2025-idea.md": entry_text("beta-2025-idea", "beta", "Idea"),
            "notes/readme.txt": "plain note\n",
        },
        "beta changes the rules",
    )
    result = cli("sync", "--no-push", "--json", kb=site_a)
    assert result.exit_code == 0, result.stderr
    arrived = {
        item["path"]: item["status"] for item in json.loads(result.stdout)["settings_arrived"]
    }
    assert arrived == {
        ".gitattributes": "new",
        ".github/workflows/steal.yml": "new",
        ".pre-commit-config.yaml": "new",
        "kb/vocabulary.yaml": "new",
        "schemas/extra.json": "new",
    }
    net.other_site_commits("beta", {".gitlab-ci.yml": "x: 1\n"}, "ci")
    text = cli("sync", "--no-push", kb=site_a)
    assert "Settings, schema, CI or hook files that arrived" in text.stdout
    assert "new      .gitlab-ci.yml" in text.stdout


# ---------------------------------------------------------------- item 10: nothing left behind


def _run(exe, site, tmp, *args):
    env = {**os.environ, "TMPDIR": str(tmp), "CACOP_GIT_TIMEOUT": "20", "NO_COLOR": "1"}
    return subprocess.Popen(
        [*exe, "--kb", str(site), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )  # fmt: skip


def _wait_for_its_children(process: subprocess.Popen, seconds: float = 30) -> None:
    """Wait until no process of `process`'s group runs: a SIGKILL ends cacop alone, and the
    git it had started (`worktree add`, `fetch`) goes on as an orphan and may still write
    its checkout after the next command has cleared the leftovers (that one clears it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _left_behind(site: Path, tmp: Path) -> tuple[int, list[str]]:
    worktrees = git(site, "worktree", "list", "--porcelain").count("worktree ")
    return worktrees, sorted(p.name for p in tmp.iterdir() if p.name.startswith("cacop-"))


def test_killed_submits_and_syncs_leave_no_checkout_after_the_next_command(
    net, site_a, cacop_exe, tmp_path
):
    temp = tmp_path / "temp"
    temp.mkdir()
    rng = random.Random(10)
    attachment = write(tmp_path / "counts.txt", "Monthly counts by beat.\n")
    seen_a_checkout = 0
    for round_number in range(20):
        net.other_site_commits(
            "beta",
            {f"kb/strategies/beta-2025-k{round_number}.md": entry_text(
                f"beta-2025-k{round_number}", "beta", f"K {round_number}")},
            f"beta {round_number}",
        )  # fmt: skip
        commit_entry(site_a, f"alpha-2025-k{round_number}", f"Local {round_number}")
        if round_number % 2:
            args = ["sync"]
        else:
            args = [
                "submit",
                str(attachment),
                "--title",
                f"Counts {round_number}",
                "--topic",
                "crime-analysis",
            ]
        process = _run(cacop_exe, site_a, temp, *args)
        time.sleep(rng.uniform(0.3, 1.6))
        seen_a_checkout += any(p.name.startswith("cacop-share-") for p in temp.iterdir())
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
        _wait_for_its_children(process)
        after = _run(cacop_exe, site_a, temp, "status")
        _, stderr = after.communicate(timeout=60)
        assert after.returncode == 0, stderr
        assert b"Traceback" not in stderr
        left = _left_behind(site_a, temp)
        assert left == (1, []), f"round {round_number}: {args[0]}: {left}, status said {stderr!r}"
    assert seen_a_checkout  # the kills did land while a checkout existed


def test_sync_clears_a_checkout_left_by_a_dead_process(cli, net, site_a, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    dead = subprocess.Popen(["true"])
    dead.wait()
    leftover = tmp_path / "temp" / f"cacop-share-{dead.pid}-x"
    git(site_a, "worktree", "add", "-q", "--detach", str(leftover / "tree"), "HEAD")
    git(site_a, "worktree", "lock", str(leftover / "tree"))  # as a kill mid-`add` leaves it
    alive = tmp_path / "temp" / f"cacop-share-{os.getppid()}-y"
    alive.mkdir()
    assert cli("sync", "--no-push", kb=site_a).exit_code == 0
    assert git(site_a, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not leftover.exists()
    assert alive.exists()  # a running cacop's checkout is never touched


def test_two_syncs_at_once_one_says_another_cacop_is_sharing(net, site_a, cacop_exe, tmp_path):
    hook = net.bare / "hooks" / "pre-receive"
    marker = tmp_path / "receiving"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\nsleep 4\n")
    hook.chmod(0o755)
    commit_entry(site_a, "alpha-2025-slow", "Slow push")
    first = _run(cacop_exe, site_a, tmp_path, "sync")
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), first.communicate(timeout=30)
    second = _run(cacop_exe, site_a, tmp_path, "sync")
    _, said = second.communicate(timeout=30)
    first_out, first_err = first.communicate(timeout=60)
    assert second.returncode == ExitCode.PROBLEMS, said
    assert b"another cacop is sharing from this clone" in said
    assert b"Traceback" not in said
    assert first.returncode == 0, first_err


def _killed_while_set_aside(exe, site: Path, temp: Path) -> None:
    """Start `cacop sync --no-push`, and SIGKILL it once it has set files aside in
    .git/cacop-sync-* (it waits there when CACOP_TEST_PAUSE=set-aside)."""
    env = {**os.environ, "TMPDIR": str(temp), "CACOP_GIT_TIMEOUT": "20",
           "CACOP_TEST_PAUSE": "set-aside"}  # fmt: skip
    process = subprocess.Popen([*exe, "--kb", str(site), "sync", "--no-push"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    deadline = time.monotonic() + 90
    while not list((site / ".git").glob("cacop-sync-*/manifest.json")):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "sync never set anything aside"
        time.sleep(0.05)
    time.sleep(0.3)  # the moves follow the manifest; the pause comes after them
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)


def test_a_sync_killed_with_files_set_aside_gets_them_back_at_the_next_command(
    net, site_a, cacop_exe, tmp_path
):
    """An untracked file identical to one arriving, and uncommitted edits to a file that
    arrives changed, are set aside while the branch moves; a kill there used to leave them
    only in .git/cacop-sync-*. The next command (`status`) puts them back."""
    temp = tmp_path / "temp"
    temp.mkdir()
    lines = [f"line {number}\n" for number in range(12)]
    net.other_site_commits("beta", {"notes/log.md": "".join(lines)}, "beta starts a log")
    assert _run(cacop_exe, site_a, temp, "sync", "--no-push").wait(timeout=90) == 0
    arriving = entry_text("beta-2025-same", "beta", "Same")
    rel = "kb/strategies/beta-2025-same.md"
    changed = lines[:-1] + ["line 11, corrected by beta\n"]
    net.other_site_commits("beta", {rel: arriving, "notes/log.md": "".join(changed)}, "beta")
    write(site_a / rel, arriving)  # the analyst has the same file, not committed
    edited = "line 0, edited here\n" + "".join(lines[1:])
    write(site_a / "notes/log.md", edited)
    git(site_a, "add", "notes/log.md")  # staged: its staged state comes back too
    head = git(site_a, "rev-parse", "HEAD").strip()
    _killed_while_set_aside(cacop_exe, site_a, temp)
    assert not (site_a / rel).exists()  # the kill landed while they were set aside
    assert (site_a / "notes/log.md").read_text() == "".join(lines)
    after = _run(cacop_exe, site_a, temp, "status")
    _, stderr = after.communicate(timeout=90)
    assert after.returncode == 0, stderr
    assert (site_a / rel).read_text() == arriving
    assert (site_a / "notes/log.md").read_text() == edited
    assert "notes/log.md" in git(site_a, "diff", "--cached", "--name-only")
    assert git(site_a, "rev-parse", "HEAD").strip() == head
    assert not list((site_a / ".git").glob("cacop-sync-*"))
    assert _run(cacop_exe, site_a, temp, "sync", "--no-push").wait(timeout=90) == 0
    assert (site_a / "notes/log.md").read_text() == edited.replace(lines[-1], changed[-1])
