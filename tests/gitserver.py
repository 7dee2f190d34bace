"""Real git for the sharing tests: a `git daemon` on 127.0.0.1, bare remotes, site clones.

`git_daemon` is a module-scoped fixture: one daemon per test module, on a free
port, serving every bare repository made under its base folder (push allowed).
`daemon.stop()` makes the remote vanish mid-test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixturefiles import FILES


def git(cwd: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, f"git {' '.join(args)} failed: {result.stderr}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GitDaemon:
    """`git daemon` serving bare repositories under `base` over git:// on 127.0.0.1."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = 0
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        for _ in range(5):
            self.port = free_port()
            self.process = subprocess.Popen(
                [
                    "git",
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--enable=receive-pack",
                    f"--base-path={self.base}",
                    "--listen=127.0.0.1",
                    f"--port={self.port}",
                    "--informative-errors",
                    str(self.base),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return
                except OSError:
                    time.sleep(0.02)
            self.stop()
        raise RuntimeError("git daemon did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            if hasattr(os, "killpg"):
                os.killpg(self.process.pid, signal.SIGTERM)
            else:  # Windows: no process groups of this kind
                self.process.terminate()
            self.process.wait(5)
        self.process = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def bare(self, name: str) -> Path:
        """A new, empty bare repository served by this daemon."""
        path = self.base / name
        git(self.base, "init", "-q", "--bare", "-b", "main", str(path))
        return path


def daemon_available() -> bool:
    """Does this git have a daemon? (`git daemon -h` prints usage and exits 129 where it does.)"""
    probe = subprocess.run(["git", "daemon", "-h"], capture_output=True, text=True, check=False)
    return "usage: git daemon" in probe.stdout + probe.stderr


@pytest.fixture(scope="module")
def git_daemon(tmp_path_factory) -> Iterator[GitDaemon]:
    if not daemon_available():
        pytest.skip("`git daemon` is not part of this git (some Git for Windows builds)")
    daemon = GitDaemon(tmp_path_factory.mktemp("served"))
    daemon.start()
    yield daemon
    daemon.stop()


def committed_copy(target: Path, message: str = "start", source: Path = FILES / "valid") -> Path:
    """A fixture KB copied to `target` as a git repository with one commit."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    (target / ".gitignore").write_text(".cacop/\n")
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", message)
    analyst_site(target)
    return target


def analyst_site(clone: Path) -> None:
    """Say which site this clone's analyst is, as `cacop config site` does once per clone
    (cacop.yaml's own site): without it, a command that writes asks or refuses. The tests
    of that question make their clones without this."""
    site = next(
        line.split(":", 1)[1].strip()
        for line in (clone / "cacop.yaml").read_text().splitlines()
        if line.startswith("site:")
    )
    git(clone, "config", "cacop.site", site)


def make_seed(folder: Path) -> Path:
    """A bare repository holding the fixture KB as one commit (copied for each test)."""
    work = committed_copy(folder / "seed-work", "start the shared knowledge base")
    bare = folder / "seed.git"
    git(folder, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "remote", "remove", "origin")
    shutil.rmtree(work)
    return bare


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> Path:
    return make_seed(tmp_path_factory.mktemp("seed"))


class Network:
    """A shared remote (served by the daemon) and site clones of the fixture KB, for one test."""

    def __init__(self, tmp_path: Path, daemon: GitDaemon, seed: Path) -> None:
        self.tmp = tmp_path
        name = f"{tmp_path.name}.git"
        self.bare = daemon.base / name
        shutil.copytree(seed, self.bare)
        self.url = daemon.url(name)

    def clone(self, site: str) -> Path:
        """A site's clone; its cacop.yaml names the site (as that site would set it)."""
        path = self.tmp / site
        git(self.tmp, "clone", "-q", str(self.bare), str(path))
        git(path, "remote", "set-url", "origin", self.url)
        config = path / "cacop.yaml"
        config.write_text(config.read_text().replace("site: alpha", f"site: {site}"))
        git(path, "update-index", "--assume-unchanged", "cacop.yaml")
        analyst_site(path)
        return path

    def maintainer_merge(self, branch: str) -> None:
        """What a maintainer does on the forge: merge the pull request's branch into main."""
        place = self.tmp / "maintainer"
        if not place.exists():
            git(self.tmp, "clone", "-q", str(self.bare), str(place))
        git(place, "fetch", "-q", "origin")
        git(place, "checkout", "-q", "main")
        git(place, "merge", "-q", "--ff-only", "origin/main")
        git(place, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", f"origin/{branch}")
        git(place, "push", "-q", "origin", "main")

    def other_site_commits(self, site: str, files: dict[str, str], message: str) -> str:
        """Another site pushes straight to main (as after a merged pull request)."""
        place = self.tmp / f"other-{site}"
        if not place.exists():
            git(self.tmp, "clone", "-q", str(self.bare), str(place))
        git(place, "pull", "-q", "--ff-only", "origin", "main")
        for name, content in files.items():
            target = place / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        git(place, "add", "-A")
        git(place, "commit", "-q", "-m", message)
        git(place, "push", "-q", "origin", "main")
        return git(place, "rev-parse", "HEAD").strip()


def snapshot(root: Path) -> dict[str, object]:
    """Everything a user could lose: every file's bytes, HEAD, branches, stash, index."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".git" or rel.startswith((".git/", ".cacop/")):
            continue
        if path.is_symlink():
            files[rel] = ("link", os.readlink(path))
        elif path.is_file():
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "files": files,
        "head": git(root, "rev-parse", "HEAD").strip(),
        "branch": git(root, "symbolic-ref", "-q", "HEAD", check=False).strip(),
        "refs": git(
            root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/stash"
        ),
        "status": git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all"),
        "index": git(root, "ls-files", "-s", "-z"),
        "worktrees": git(root, "worktree", "list", "--porcelain").count("worktree "),
    }


def entry_text(entry_id: str, site: str, title: str, tlp: str = "green", body: str = "") -> str:
    return (
        f"---\nid: {entry_id}\ntype: strategy\ntitle: {title}\nsite: {site}\n"
        f"authors: [A. Analyst]\ncreated: 2025-01-15\ntopics: [crime-analysis]\ntlp: {tlp}\n"
        f"status: active\nevidence: promising\n---\n\n{body or 'What we did and how it went.'}\n"
    )


@pytest.fixture
def quick_network(monkeypatch):
    """git may take 5 s, not 60, before a remote counts as unreachable."""
    monkeypatch.setenv("CACOP_GIT_TIMEOUT", "5")


@pytest.fixture
def net(tmp_path, git_daemon, seed, quick_network) -> Network:
    return Network(tmp_path, git_daemon, seed)


@pytest.fixture
def site_a(net) -> Path:
    return net.clone("alpha")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
