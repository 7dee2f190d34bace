"""Shared fixtures: realistic knowledge bases in tmp_path, the CLI in-process, real git."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fixturefiles import FILES
from typer.testing import CliRunner

from cacop_cli.cli import app

# Real git for the sharing tests: git daemon, bare remotes and site clones, as fixtures.
pytest_plugins = ["gitserver"]

REPO = Path(__file__).parent.parent
TEST_SPEC = "cacop @ git+https://forge.invalid/psp/cacop.git@v0.1.0"


@pytest.fixture
def texts_scanned(monkeypatch) -> list[int]:
    """How many texts each call of the real gates.scan_many scanned (the kept findings'
    tests: what was kept is not scanned again)."""
    from cacop_cli.share import gates

    scanned: list[int] = []
    real = gates.scan_many

    def counting(texts, *args, **kwargs):
        scanned.append(len(texts))
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(gates, "scan_many", counting)
    return scanned


@pytest.fixture(autouse=True)
def pristine_fixtures():
    """Each test starts from fixture KBs without a `.cacop/`: a command run on one in place
    (even at collection: load_kb keeps sites.yaml checked) would otherwise hand its index
    or caches to every later copy of that fixture in this process."""
    for folder in FILES.glob("*/.cacop"):
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def racy_only_when_written_in_the_same_tick(monkeypatch):
    """A file a test has just written or copied has a fresh ctime, which no test can put
    back (os.utime sets it to now): with the real 2 s window the manifest would write it
    down as racy and the next check would read it again, an update that tests of other
    things do not expect. In-process, only a change in the very tick of the manifest is
    racy; tests/test_freshness.py holds the rule with the real window."""
    from cacop_cli import scan

    monkeypatch.setattr(scan, "RACY_NS", 0)


@pytest.fixture(autouse=True)
def stable_environment(tmp_path_factory, monkeypatch):
    """Stable output and an isolated git identity; no user settings leak in."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test Analyst\n\temail = analyst@example.invalid\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")
    for name in ("CACOP_KB", "CACOP_SITE", "EDITOR", "VISUAL"):
        monkeypatch.delenv(name, raising=False)
    # A terminal's height, from the shell or the runner (pytest-xdist's workers set LINES=24):
    # with it, a program on a pty of the test's own size pages its output into `less`.
    monkeypatch.delenv("LINES", raising=False)
    # The cacop that `cacop init` pins in a KB's CI jobs: a checkout cannot tell its own.
    monkeypatch.setenv("CACOP_SPEC", TEST_SPEC)


def git(cwd: Path, *args: str) -> str:
    """Run real git; fail the test loudly if it fails."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"git {' '.join(args)} failed: {result.stderr}"
    return result.stdout


@pytest.fixture
def kb_path(tmp_path) -> Path:
    """A copy of the valid fixture KB (no git)."""
    target = tmp_path / "kb-repo"
    shutil.copytree(FILES / "valid", target)
    return target


@pytest.fixture
def git_kb(kb_path) -> Path:
    """The valid fixture KB as a git repository with one commit."""
    from gitserver import committed_copy

    return committed_copy(kb_path)


class Cli:
    """The real CLI in-process; returns Typer's Result (exit_code, stdout, stderr)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, kb: Path | None = None, input: str | None = None, env=None):
        argv = [*(["--kb", str(kb)] if kb else []), *map(str, args)]
        from cacop_cli import render

        render.out.cache_clear()  # the consoles hold the streams of the previous invocation
        render.err.cache_clear()
        return self.runner.invoke(app, argv, input=input, env=env, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def cacop_exe() -> list[str]:
    """The installed console script, for end-to-end runs as a subprocess."""
    exe = shutil.which("cacop", path=os.path.dirname(os.sys.executable))
    assert exe, "cacop is not installed in this environment (run `make test`)"
    return [exe]


@pytest.fixture(autouse=True)
def ctrl_c_left_as_it_was():
    """No test (nor the code it runs in this process) leaves Ctrl-C changed: an ignored or
    blocked SIGINT is inherited by every program started later, whose Ctrl-C tests then
    hang. Python's handler, and on Linux the kernel's own view (ignored, blocked)."""
    import signal

    def kernel() -> tuple[str, ...]:
        try:
            status = Path("/proc/self/status").read_text().splitlines()
        except OSError:
            return ()
        bit = 1 << (signal.SIGINT - 1)
        return tuple(
            f"{name} {bool(int(line.split()[1], 16) & bit)}"
            for line in status
            for name in ("SigIgn:", "SigBlk:")
            if line.startswith(name)
        )

    before, before_kernel = signal.getsignal(signal.SIGINT), kernel()
    yield
    after, after_kernel = signal.getsignal(signal.SIGINT), kernel()
    signal.signal(signal.SIGINT, before)
    assert after == before, f"SIGINT's handler was left as {after!r}"
    assert after_kernel == before_kernel, f"SIGINT left as {after_kernel} (was {before_kernel})"
