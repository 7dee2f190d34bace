"""git, for people who do not know git. The only module that imports GitPython.

Cheap read-only questions (which files are tracked, who the user is) go through
plain `git` so that commands which do not share never pay GitPython's import.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .errors import GitError

GIT_TIMEOUT = 30


def git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C", GIT_EDITOR="true")
    return env


def run_git(root: Path, *args: str, timeout: float = GIT_TIMEOUT) -> subprocess.CompletedProcess:
    """Run git in root; never raises for a non-zero exit (callers read returncode)."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            env=git_env(),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed", hint="install git, then try again") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} did not finish within {timeout:.0f} s") from exc


def is_repository(root: Path) -> bool:
    result = run_git(root, "rev-parse", "--is-inside-work-tree")
    return result.returncode == 0 and result.stdout.strip() == "true"


def tracked_files(root: Path, *pathspecs: str) -> list[str]:
    """Files git tracks under the pathspecs ([] outside a repository)."""
    result = run_git(root, "ls-files", "-z", "--", *pathspecs)
    if result.returncode != 0:
        return []
    return [name for name in result.stdout.split("\0") if name]


def changed_since(root: Path, ref: str) -> list[str]:
    """Files changed between `ref` and the working tree, plus untracked ones."""
    if ref.startswith("-"):
        raise GitError(f"{ref!r} is not a git revision")
    verify = run_git(
        root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
    )
    if verify.returncode != 0:
        raise GitError(
            f"{ref!r} is not a revision git knows here",
            hint="fetch first (`git fetch`), or name a branch or commit that exists",
        )
    diff = run_git(root, "diff", "--name-only", "-z", verify.stdout.strip(), "--")
    untracked = run_git(root, "ls-files", "-z", "--others", "--exclude-standard")
    names = diff.stdout.split("\0") + untracked.stdout.split("\0")
    return sorted({name for name in names if name})


def user_name(root: Path) -> str | None:
    result = run_git(root, "config", "user.name")
    name = result.stdout.strip()
    return name or None


def init_repository(root: Path, branch: str = "main") -> None:
    """git init, with the KB's branch as the first branch."""
    import git

    try:
        git.Repo.init(root, initial_branch=branch)
    except git.GitCommandError as exc:
        raise GitError(f"git init failed: {exc.stderr.strip()}") from exc


def commit_all(root: Path, message: str) -> str:
    """Stage everything (respecting .gitignore) and commit; returns the commit id."""
    import git

    repo = git.Repo(root)
    try:
        repo.git.add("--all", "--", ".")
        if not repo.git.config("user.name", with_exceptions=False):
            repo.git.config("user.name", "cacop")
        if not repo.git.config("user.email", with_exceptions=False):
            repo.git.config("user.email", "cacop@localhost")
        repo.git.commit("--no-verify", "-m", message)
    except git.GitCommandError as exc:
        raise GitError(f"git commit failed: {exc.stderr.strip()}") from exc
    return repo.head.commit.hexsha
