"""Writing that does not trip (issue 14 item 6): prompts take what people type, and a wrong
answer asks again; driven in a real pseudo-terminal."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ptytools import dialogue

from cacop_cli.errors import ExitCode


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
