"""Issue 18: a new community's first minutes, as it lives them: `cacop init`, then new,
search, submit, rfi open, gaps; and the first `sync` or `bundle apply` into a clone
that has no entries yet, from a community that has a few."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from gitserver import git
from hypothesis import HealthCheck, given, settings
from smallkb import HOME, SmallKB, small_kbs, write_kb
from test_empty_kb import strategy

from cacop_cli.errors import ExitCode


def no_crash(result) -> None:
    both = result.stdout + result.stderr
    assert "unexpected error" not in both and "Traceback" not in both, both


def test_a_new_community_from_init_to_gaps(cli, cacop_exe, tmp_path):
    """Only `cacop init` sets anything up; every step is a real command, the last ones a
    real process, as an analyst would type them."""
    root = tmp_path / "milwaukee-kb"
    steps = [
        ("init", str(root), "--site", HOME),
        ("search", "nibin"),
        ("new", "strategy", "--title", "NIBIN leads into the shooting review",
         "--topic", "gun-violence", "--tag", "nibin", "--no-edit"),
        ("search", "nibin"),
    ]  # fmt: skip
    for args in steps:
        result = cli(*args, kb=root if args[0] != "init" else None)
        no_crash(result)
        assert result.exit_code == ExitCode.OK, (args, result.stderr)
    assert "NIBIN leads into the shooting review" in result.stdout
    entry_id = next((root / "kb" / "strategies").glob("*.md")).stem

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([*cacop_exe, *args], cwd=root, capture_output=True, text=True)
        no_crash(done)
        assert done.returncode == ExitCode.OK, (args, done.stderr)
        return done

    refused = subprocess.run([*cacop_exe, "submit", entry_id, "--no-push"], cwd=root,
                             capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == ExitCode.PROBLEMS  # the template's prompts are still there
    assert "## Problem: the template's prompt is left unchanged" in refused.stderr
    written = next((root / "kb" / "strategies").glob("*.md"))
    front = written.read_text().split("\n---\n")[0]
    written.write_text(f"{front}\n---\n## Problem\n\nNIBIN leads reach the review late.\n")
    run("submit", entry_id, "--no-push")
    assert git(root, "branch", "--show-current").strip() in (f"submit/{entry_id}", "main")
    assert entry_id in git(root, "log", "--all", "--format=%s %b")
    run("rfi", "open", "--title", "Who links NIBIN to group audits?", "--needed-by",
        "2099-01-01", "--topic", "gun-violence", "--message", "How do you join them?")  # fmt: skip
    listed = json.loads(run("rfi", "list", "--json").stdout)
    assert listed["total"] == 1
    gaps = json.loads(run("gaps", "--json").stdout)
    assert gaps["matrix"]["gun-violence"][HOME] >= 2
    assert "gun-violence" not in gaps["topics_without_strategy"]
    found = json.loads(run("search", "--json", "nibin").stdout)
    assert found["total"] == 2


# ---------------------------------------------------------------- the first sync or bundle


def community(tmp_path: Path, cli) -> tuple[Path, Path, str]:
    """A shared bare repository holding only `cacop init`'s commit, and a work clone."""
    origin = tmp_path / "origin"
    assert cli("init", str(origin), "--site", HOME).exit_code == 0
    start = git(origin, "rev-parse", "HEAD").strip()
    shared = tmp_path / "shared.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(shared))
    git(origin, "remote", "add", "origin", str(shared))
    git(origin, "fetch", "-q", "origin")
    git(origin, "branch", "-q", "--set-upstream-to=origin/main")
    return origin, shared, start


def add_and_commit(root: Path, kb: SmallKB) -> None:
    write_kb(root, kb)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Share the first entries")


def check_arrived(cli, clone: Path, kb: SmallKB) -> None:
    listed = cli("list", "--json", kb=clone)
    no_crash(listed)
    assert json.loads(listed.stdout)["total"] == len(kb.entries)
    for args in (("search", "--json", "nibin"), ("index",), ("gaps", "--json")):
        result = cli(*args, kb=clone)
        no_crash(result)
        assert result.exit_code == ExitCode.OK, (args, result.stderr)


def first_sync(cli, tmp_path: Path, kb: SmallKB) -> None:
    origin, shared, _start = community(tmp_path, cli)
    newcomer = tmp_path / "newcomer"
    git(tmp_path, "clone", "-q", str(shared), str(newcomer))
    searched = cli("search", "nibin", kb=newcomer)  # builds the empty index first
    no_crash(searched)
    assert searched.exit_code == ExitCode.OK
    add_and_commit(origin, kb)
    git(origin, "push", "-q", "origin", "main")
    synced = cli("sync", "--no-push", kb=newcomer)
    no_crash(synced)
    assert synced.exit_code == ExitCode.OK, synced.stderr
    check_arrived(cli, newcomer, kb)


def first_bundle(cli, tmp_path: Path, kb: SmallKB) -> None:
    origin, shared, start = community(tmp_path, cli)
    newcomer = tmp_path / "newcomer"
    git(tmp_path, "clone", "-q", str(shared), str(newcomer))
    no_crash(cli("index", kb=newcomer))
    add_and_commit(origin, kb)
    bundle = tmp_path / "first.bundle"
    made = cli("bundle", "create", str(bundle), "--since", start, kb=origin)
    no_crash(made)
    assert made.exit_code == ExitCode.OK, made.stderr
    applied = cli("bundle", "apply", str(bundle), kb=newcomer)
    no_crash(applied)
    assert applied.exit_code == ExitCode.OK, applied.stderr
    check_arrived(cli, newcomer, kb)


SHAREABLE = ("clear", "green")  # what share.max_tlp lets out by default


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kb=small_kbs(max_entries=4, tlps=SHAREABLE))
def test_first_sync_and_bundle_into_a_clone_with_no_entries(cli, tmp_path, kb):
    for number, first in enumerate((first_sync, first_bundle)):
        folder = tmp_path / f"example-{number}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        first(cli, folder, kb)


def test_first_sync_of_one_entry_into_an_empty_clone(cli, tmp_path):
    """The issue's case: the fast-forward works, then refreshing the empty index did not."""
    first_sync(cli, tmp_path, SmallKB([HOME], [strategy()]))


def test_first_bundle_of_one_entry_into_an_empty_clone(cli, tmp_path):
    first_bundle(cli, tmp_path, SmallKB([HOME], [strategy()]))
