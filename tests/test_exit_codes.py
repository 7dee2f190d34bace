"""The exit-code table of docs/format.md, pinned: the values, and one real command for each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cacop_cli.errors import (
    Busy,
    ConfigError,
    EntryError,
    ExitCode,
    GitError,
    KBNotFound,
    NotFound,
    QueryError,
    Refused,
    UsageError,
)

from conftest import git


def test_the_table_itself():
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "PROBLEMS": 1,
        "USAGE": 2,
        "NO_KB": 3,
        "GIT": 4,
        "INTERRUPTED": 130,
    }


def test_each_error_kind_carries_its_code():
    assert NotFound("x").exit_code == Refused("x").exit_code == Busy("x").exit_code == 1
    assert EntryError("code", "x").exit_code == 1
    assert UsageError("x").exit_code == QueryError("x").exit_code == 2
    assert KBNotFound("x").exit_code == ConfigError("x").exit_code == 3
    assert GitError("x").exit_code == 4


def test_ok_is_0(cli, kb_path):
    assert cli("validate", kb=kb_path).exit_code == 0


def test_broken_kb_is_1(cli, kb_path):
    path = kb_path / "kb/strategies/beta-2023-hot-spots-dosage.md"
    path.write_text(path.read_text().replace("tlp: clear", "tlp: white"))
    result = cli("validate", kb=kb_path)
    assert result.exit_code == 1
    assert "beta-2023-hot-spots-dosage.md:10: error: tlp: 'white'" in result.stdout


def test_no_such_entry_is_1(cli, kb_path):
    result = cli("show", "no-such-entry", kb=kb_path)
    assert result.exit_code == 1
    assert "no entry has the id 'no-such-entry'" in result.stderr


def test_unknown_option_is_2(cli, kb_path):
    result = cli("validate", "--no-such-option", kb=kb_path)
    assert result.exit_code == 2
    assert "No such option" in result.stderr


def test_missing_argument_is_2(cli, kb_path):
    assert cli("show", kb=kb_path).exit_code == 2


def test_no_kb_is_3(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("validate")
    assert result.exit_code == 3
    assert "no knowledge base here" in result.stderr
    assert cli("validate", "--kb", str(tmp_path)).exit_code == 3
    monkeypatch.setenv("CACOP_KB", str(tmp_path / "nowhere"))
    assert cli("list").exit_code == 3


def test_invalid_config_is_3(cli, kb_path):
    (kb_path / "cacop.yaml").write_text("name: x\nsite: [not, a, slug]\n")
    result = cli("validate", kb=kb_path)
    assert result.exit_code == 3
    assert "cacop.yaml:2: site" in result.stderr


def test_unknown_git_revision_is_4(cli, git_kb):
    head = git(git_kb, "rev-parse", "HEAD")
    result = cli("validate", "--changed-since", "nosuchref", kb=git_kb)
    assert result.exit_code == 4
    assert "'nosuchref' is not a revision git knows here" in result.stderr
    assert git(git_kb, "rev-parse", "HEAD") == head


@pytest.mark.ctrl_c
def test_ctrl_c_is_130_with_no_traceback(cacop_exe, kb_path, tmp_path):
    editor = tmp_path / "interrupting-editor"
    started = tmp_path / "editor.pid"  # Ctrl-C while editing; the editor holds no pipe of ours
    editor.write_text(
        f"#!/bin/sh\necho $$ > '{started}'\nkill -INT $PPID\nexec sleep 10 >/dev/null 2>&1\n"
    )
    editor.chmod(0o755)
    env = {**os.environ, "EDITOR": str(editor), "NO_COLOR": "1"}
    result = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), "new", "strategy", "--title", "Interrupted idea",
         "--topic", "crime-analysis"],
        capture_output=True, text=True, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 130, result.stderr
    assert "interrupted" in result.stderr
    assert "Traceback" not in result.stderr
    # cacop stopped its editor and waited for it, even when the Ctrl-C came while it started
    with pytest.raises(ProcessLookupError):
        os.kill(int(started.read_text()), 0)
    leftovers = [path.name for path in Path(kb_path, "kb/strategies").iterdir()]
    assert not [name for name in leftovers if name.endswith(".tmp")]


def test_a_held_ctrl_c_stays_held_until_the_outermost_block_ends(tmp_path):
    """run_git holds Ctrl-C while git starts, also inside blocks that hold it (sync's set
    aside, submit's commit): the inner hold must not let it land in the middle."""
    import signal
    import threading

    from cacop_cli import gitrepo

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("only the main thread receives Ctrl-C")
    reached = []
    with pytest.raises(KeyboardInterrupt), gitrepo.sigint_deferred():
        with gitrepo.sigint_deferred():
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, in the inner block
            reached.append("inner block's end")
        reached.append("outer block's end")
        with gitrepo.sigint_deferred():
            gitrepo.run_git(tmp_path, "--version")
        reached.append("after a git run")
    assert reached == ["inner block's end", "outer block's end", "after a git run"]


def test_debug_shows_the_traceback_that_is_otherwise_hidden(cli, kb_path, tmp_path):
    code = (
        "import sys; from cacop_cli.cli import main; "
        f"sys.argv = ['cacop', '--debug', '--kb', {str(tmp_path)!r}, 'validate']; main()"
    )
    debug = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert "Traceback" in debug.stderr and "KBNotFound" in debug.stderr
    plain = cli("validate", "--kb", str(tmp_path))
    assert plain.exit_code == 3 and "Traceback" not in plain.stderr


def test_results_carry_their_exit_code():
    """Renderers return nothing; the command exits with the result's own code."""
    from cacop_cli.models import Issue, ValidationReport
    from cacop_cli.ops import NewEntry
    from cacop_cli.share.gates import Finding
    from cacop_cli.share.sync import Integration, SyncResult

    warning = Issue("warning", "text-safety", "kb/rfis/x.md", 3, "holds a control character")
    error = Issue("error", "schema", "kb/rfis/x.md", 4, "needed_by: not a date")
    assert NewEntry(Path("x.md"), "x", [warning]).exit_code == ExitCode.OK
    assert NewEntry(Path("x.md"), "x", [warning, error]).exit_code == ExitCode.PROBLEMS
    assert ValidationReport([warning], checked=1).ok
    assert ValidationReport([error], checked=1).exit_code == ExitCode.PROBLEMS

    def synced(**outcome) -> SyncResult:
        return SyncResult(
            Integration("a", "b", "fast-forward"), branch="main", upstream="o/main", **outcome
        )

    refused = Finding("secret", "token", "kb/rfis/x.md", 5, "a token")
    assert synced(pushed=True).exit_code == ExitCode.OK
    assert synced(push_refused=[refused]).exit_code == ExitCode.PROBLEMS
    assert synced(push_failure="rejected (non-fast-forward)").exit_code == ExitCode.GIT
    assert not synced(push_failure="rejected").ok
