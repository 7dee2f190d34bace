"""Plain git is guarded too: `check-share`, the pre-push hook, and the gate in CI templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gitserver import committed_copy, entry_text, git, write

from cacop_cli.errors import ExitCode

RED = "kb/strategies/alpha-2025-red-secret.md"
CLEAN = "kb/strategies/alpha-2025-clean-idea.md"


@pytest.fixture
def clone(tmp_path) -> Path:
    """The valid KB with a bare remote in tmp_path that holds its first commit."""
    site = committed_copy(tmp_path / "site")
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(site, "remote", "add", "origin", str(bare))
    git(site, "push", "-q", "-u", "origin", "main")
    return site


def add(site: Path, path: str, tlp: str = "green", body: str = "") -> str:
    entry_id = Path(path).stem
    write(site / path, entry_text(entry_id, "alpha", f"Entry {entry_id}", tlp, body))
    git(site, "add", "-A")
    git(site, "commit", "-qm", f"Add {entry_id}")
    return git(site, "rev-parse", "HEAD").strip()


def remote_head(site: Path) -> str:
    return git(site.parent / "shared.git", "rev-parse", "main").strip()


def push(site: Path, *args: str, cacop_on_path: bool = True) -> subprocess.CompletedProcess:
    """A plain `git push`, with this environment's cacop on PATH, as an analyst has it."""
    env = dict(os.environ)
    paths = [p for p in env.get("PATH", "").split(os.pathsep) if not Path(p, "cacop").exists()]
    if cacop_on_path:
        paths.insert(0, os.path.dirname(sys.executable))
    env["PATH"] = os.pathsep.join(paths)
    return subprocess.run(
        ["git", "push", *args], cwd=site, capture_output=True, text=True, env=env, check=False
    )


# ---------------------------------------------------------------- check-share


def test_check_share_by_default_checks_what_the_shared_branch_lacks(cli, clone):
    result = cli("check-share", "--json", kb=clone)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert json.loads(result.stdout) == {
        "ok": True, "range": "origin/main..HEAD", "commits": 0, "findings": [],
        "unscanned_allowed": [], "unscanned_reason": None,
    }  # fmt: skip
    add(clone, CLEAN)
    add(clone, RED, tlp="red")
    result = cli("check-share", "--json", kb=clone)
    assert result.exit_code == ExitCode.PROBLEMS
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["commits"] == 2
    assert [(item["path"], item["category"]) for item in document["findings"]] == [(RED, "tlp")]


def test_check_share_lists_findings_as_path_line_kind_and_exits_1(cli, clone):
    add(clone, RED, tlp="red")
    result = cli("check-share", "origin/main..HEAD", kb=clone)
    assert result.exit_code == ExitCode.PROBLEMS
    assert result.stdout.startswith(f"{RED}:9: tlp: marked TLP:RED")
    assert "1 problem(s) in 1 commit(s)" in result.stderr


def test_check_share_without_a_remote_branch_checks_all_of_head(cli, git_kb):
    add(git_kb, RED, tlp="red")
    result = cli("check-share", "--json", kb=git_kb)
    document = json.loads(result.stdout)
    assert result.exit_code == ExitCode.PROBLEMS
    assert document["range"] == "HEAD" and document["commits"] == 2


def test_check_share_finds_personal_data_in_a_green_entry(cli, clone):
    add(clone, CLEAN, body="The suspect's SSN: 123-45-6789 was on file.")
    result = cli("check-share", "--json", kb=clone)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "ssn" in {item["kind"] for item in json.loads(result.stdout)["findings"]}


@pytest.mark.parametrize(
    "revisions", ["--all", "-x..HEAD", "nosuchbranch..HEAD", "HEAD..nosuch", "a...b", " "]
)
def test_a_bad_range_is_a_usage_error(cli, clone, revisions):
    result = cli("check-share", "--", revisions, kb=clone)
    assert result.exit_code == ExitCode.USAGE, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_stdin_pre_push_skips_deletions_and_checks_new_branches(cli, clone):
    red = add(clone, RED, tlp="red")
    zeros = "0" * 40
    deletion = f"(delete) {zeros} refs/heads/old {red}\n"
    result = cli("check-share", "--stdin-pre-push", "--json", kb=clone, input=deletion)
    assert result.exit_code == ExitCode.OK and json.loads(result.stdout)["commits"] == 0
    new_branch = f"refs/heads/topic {red} refs/heads/topic {zeros}\n"
    result = cli("check-share", "--stdin-pre-push", "--json", kb=clone, input=new_branch)
    assert result.exit_code == ExitCode.PROBLEMS and json.loads(result.stdout)["commits"] == 1
    result = cli("check-share", "--stdin-pre-push", kb=clone, input="garbage\n")
    assert result.exit_code == ExitCode.USAGE


# ---------------------------------------------------------------- the pre-push hook


def test_plain_git_push_of_a_red_entry_is_refused_by_the_hook(cli, clone):
    assert cli("hooks", "install", kb=clone).exit_code == ExitCode.OK
    hook = clone / ".git" / "hooks" / "pre-push"
    assert os.access(hook, os.X_OK) and hook.read_bytes().startswith(b"#!/bin/sh\n")
    before = remote_head(clone)
    add(clone, RED, tlp="red")
    refused = push(clone)
    assert refused.returncode != 0
    assert f"{RED}:9: tlp" in refused.stdout + refused.stderr
    assert remote_head(clone) == before
    refused = push(clone, "origin", "HEAD:refs/heads/elsewhere")  # a new branch: same gate
    assert refused.returncode != 0
    assert "elsewhere" not in git(clone.parent / "shared.git", "branch", "--list")


def test_plain_git_push_of_a_clean_commit_passes_the_hook(cli, clone):
    assert cli("hooks", "install", kb=clone).exit_code == ExitCode.OK
    clean = add(clone, CLEAN)
    pushed = push(clone)
    assert pushed.returncode == 0, pushed.stderr
    assert remote_head(clone) == clean


def test_without_cacop_on_path_the_hook_runs_the_python_that_installed_it(cli, clone):
    assert cli("hooks", "install", kb=clone).exit_code == ExitCode.OK
    before = remote_head(clone)
    add(clone, RED, tlp="red")
    refused = push(clone, cacop_on_path=False)
    assert refused.returncode != 0 and f"{RED}:9: tlp" in refused.stdout + refused.stderr
    assert remote_head(clone) == before


def test_the_hook_goes_where_core_hooks_path_points(cli, clone):
    git(clone, "config", "core.hooksPath", "githooks")
    assert cli("hooks", "install", kb=clone).exit_code == ExitCode.OK
    assert (clone / "githooks" / "pre-push").is_file()
    assert not (clone / ".git" / "hooks" / "pre-push").exists()


def test_a_foreign_hook_is_never_overwritten_and_force_chains_it(cli, clone):
    hook = clone / ".git" / "hooks" / "pre-push"
    foreign = "#!/bin/sh\necho foreign hook ran >&2\nexit 0\n"
    hook.write_text(foreign)
    hook.chmod(0o755)
    refused = cli("hooks", "install", kb=clone)
    assert refused.exit_code == ExitCode.PROBLEMS
    assert "pre-push.local" in refused.stderr and "--force" in refused.stderr
    assert hook.read_text() == foreign
    assert cli("hooks", "install", "--force", kb=clone).exit_code == ExitCode.OK
    assert (hook.parent / "pre-push.local").read_text() == foreign
    add(clone, RED, tlp="red")
    refused = push(clone)
    assert refused.returncode != 0 and "foreign hook ran" in refused.stderr
    assert cli("hooks", "install", kb=clone).exit_code == ExitCode.OK  # ours: updated


def test_init_installs_the_hook_and_ci_runs_the_gate(cli, tmp_path):
    root = tmp_path / "new-kb"
    assert cli("init", str(root), "--site", "alpha").exit_code == ExitCode.OK
    hook = root / ".git" / "hooks" / "pre-push"
    assert "cacop check-share --kb . --stdin-pre-push" in hook.read_text()
    assert os.access(hook, os.X_OK)
    workflow = (root / ".github/workflows/cacop.yml").read_text()
    assert 'cacop check-share "origin/${{ github.base_ref }}..HEAD"' in workflow
    assert "fetch-depth: 0" in workflow
    gitlab = (root / ".gitlab-ci.yml").read_text()
    assert 'cacop check-share "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME..HEAD"' in gitlab
    pre_commit = (root / ".pre-commit-config.yaml").read_text()
    assert "entry: cacop check-share" in pre_commit and "stages: [pre-push]" in pre_commit


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["check-share"], "nothing to check"),
        (["check-share", "HEAD"], "nothing to check"),
        (["sync"], "nothing to sync"),
        (["bundle", "create", "out.bundle"], "nothing to bundle"),
    ],
)
def test_a_clone_with_no_commits_yet_is_told_so_and_what_to_do(cli, tmp_path, argv, what):
    """Not git's "'HEAD' names no commit" or "unknown revision": what, and what to do."""
    site = tmp_path / "site"
    site.mkdir()
    git(site, "init", "-q", "-b", "main")
    write(site / "cacop.yaml", (Path(__file__).parent / "files/valid/cacop.yaml").read_text())
    git(site, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    result = cli(*argv, kb=site)
    assert result.exit_code == ExitCode.PROBLEMS, result.stderr
    assert f"this clone has no commits yet, so there is {what}" in result.stderr
    assert "`git commit`" in result.stderr
    assert "names no commit" not in result.stderr and "rev-list" not in result.stderr


def test_bundle_apply_into_a_clone_with_no_commits_says_what_to_do(cli, tmp_path, clone):
    git(clone, "bundle", "create", "-q", str(tmp_path / "in.bundle"), "main")
    site = tmp_path / "empty"
    site.mkdir()
    git(site, "init", "-q", "-b", "main")
    write(site / "cacop.yaml", (Path(__file__).parent / "files/valid/cacop.yaml").read_text())
    result = cli("bundle", "apply", str(tmp_path / "in.bundle"), kb=site)
    assert result.exit_code == ExitCode.PROBLEMS, result.stderr
    assert "this clone has no commits yet" in result.stderr and "`git pull`" in result.stderr
