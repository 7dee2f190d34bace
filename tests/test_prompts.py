"""Writing that does not trip (issue 14 item 6): prompts take what people type, and a wrong
answer asks again; driven in a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from cacop_cli.errors import ExitCode


def dialogue(argv: list[str], steps: list[tuple[str, str]], timeout: float = 60) -> tuple[str, int]:
    """Run `argv` on a pseudo-terminal; for each (wait_for, answer) wait until the screen
    shows `wait_for` since the last answer, then type `answer`. The screen and exit code."""
    parent, child = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "LINES": "40", "PAGER": "cat"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(argv, stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    screen, seen = "", 0
    deadline = time.monotonic() + timeout
    pending = list(steps)
    try:
        while time.monotonic() < deadline:
            if pending and pending[0][0] in screen[seen:]:
                seen = screen.index(pending[0][0], seen) + len(pending[0][0])
                os.write(parent, pending.pop(0)[1].encode())
            ready, _, _ = select.select([parent], [], [], 0.2)
            if ready:
                try:
                    data = os.read(parent, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                screen += data.decode("utf-8", "replace")
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"still running; the screen:\n{screen}") from exc
    finally:
        if process.poll() is None:
            process.kill()
        os.close(parent)
    assert not pending, f"never saw {pending[0][0]!r} in:\n{screen}"
    return screen, code


def test_new_asks_again_for_a_wrong_topic_and_takes_words_as_the_slug(cacop_exe, kb_path):
    screen, code = dialogue(
        [*cacop_exe, "--kb", str(kb_path), "new", "strategy", "--title", "Asked", "--no-edit"],
        [("Topic (", "guns\r"), ("try again", ""), ("Topic (", "Gun Violence, Technology\r")],
    )
    assert code == ExitCode.OK, screen
    assert "'guns' is not a topic" in screen
    written = next(Path(kb_path, "kb/strategies").glob("*-asked.md")).read_text()
    assert "topics: [gun-violence, technology]" in written


RFI_OPEN = ["rfi", "open", "--title", "Edited question", "--needed-by", "2099-01-01"]


def test_rfi_open_checks_the_file_after_a_successful_editor(cli, kb_path):
    quiet = cli(*RFI_OPEN, kb=kb_path, env={"EDITOR": "true"})
    assert quiet.exit_code == ExitCode.OK, quiet.stderr
    assert "no $EDITOR is set" not in quiet.stderr
    broken = cli(*RFI_OPEN[:3], "Broken question", *RFI_OPEN[4:], kb=kb_path,
                 env={"EDITOR": "sh -c 'sed -i \"s/^tlp: .*/tlp: purple/\" \"$0\"'"})  # fmt: skip
    assert broken.exit_code == ExitCode.PROBLEMS, broken.stdout + broken.stderr
    assert "purple" in broken.stdout + broken.stderr
    assert "no $EDITOR is set" not in broken.stderr


def test_rfi_open_without_an_editor_still_says_so(cli, kb_path):
    result = cli(*RFI_OPEN, kb=kb_path)
    assert result.exit_code == ExitCode.OK and "no $EDITOR is set" in result.stderr


def _near_twin(kb: Path) -> str:
    """An entry whose title is nearly the fixture's focused-deterrence strategy's."""
    path = kb / "kb/strategies/alpha-2025-call-ins-again.md"
    original = (kb / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md").read_text()
    path.write_text(
        original.replace("id: alpha-2024-focused-deterrence-call-ins", f"id: {path.stem}")
        .replace("Focused deterrence call-ins for group-involved shooters",
                 "Focused deterrence call-ins for group involved shooters")
    )  # fmt: skip
    subprocess.run(["git", "add", "-A"], cwd=kb, check=True)
    subprocess.run(["git", "commit", "-qm", "twin"], cwd=kb, check=True)
    subprocess.run(["git", "rm", "-q", "--cached", str(path)], cwd=kb, check=True)
    subprocess.run(["git", "commit", "-qm", "untrack"], cwd=kb, check=True)
    return path.stem


def test_submit_asks_before_sharing_a_likely_duplicate_on_a_terminal(cacop_exe, git_kb):
    twin = _near_twin(git_kb)
    screen, code = dialogue(
        [*cacop_exe, "--kb", str(git_kb), "submit", twin, "--no-push"],
        [("share anyway?", "n\r")],
    )
    assert code == ExitCode.PROBLEMS, screen
    assert "alpha-2024-focused-deterrence-call-ins" in screen
    assert "it looks like a duplicate" in screen
    branches = subprocess.run(["git", "branch"], cwd=git_kb, capture_output=True, text=True)
    assert "submit/" not in branches.stdout


def test_submit_with_yes_or_off_a_terminal_shows_the_twin_and_goes_on(cli, git_kb):
    twin = _near_twin(git_kb)
    result = cli("submit", twin, "--no-push", "--yes", kb=git_kb)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "Similar entries" in result.stderr
    assert "alpha-2024-focused-deterrence-call-ins" in result.stderr
