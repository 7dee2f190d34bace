"""Titles that YAML would misread are written quoted; hand-written ones that break say
"put the value in quotes" (issue 14 item 6)."""

from __future__ import annotations

import pytest
import yaml

from cacop_cli.errors import ExitCode

TITLES = ["Title: with colon", "#hash", "- dash", "'quote", "yes", "2024-01-01", "a # b", "x:y"]


@pytest.mark.parametrize("title", TITLES)
def test_new_writes_a_significant_title_quoted_and_reads_it_back(cli, kb_path, title):
    made = cli("new", "strategy", "--title", title, "--topic", "technology", "--no-edit",
               kb=kb_path)  # fmt: skip
    assert made.exit_code == ExitCode.OK, made.stderr
    path = max((kb_path / "kb/strategies").glob("alpha-*.md"), key=lambda p: p.stat().st_mtime)
    line = next(row for row in path.read_text().splitlines() if row.startswith("title: "))
    assert line.startswith("title: '"), line
    front = path.read_text().split("---\n")[1]
    assert yaml.safe_load(front)["title"] == title  # any YAML reader, dates and all
    shown = cli("show", path.stem, "--json", kb=kb_path)
    assert f'"title": {__import__("json").dumps(title)}' in shown.stdout


def test_a_hand_written_colon_in_a_title_says_put_it_in_quotes(cli, kb_path):
    path = kb_path / "kb/strategies/beta-2023-hot-spots-dosage.md"
    text = path.read_text()
    title_line = next(row for row in text.splitlines() if row.startswith("title: "))
    path.write_text(text.replace(title_line, "title: Hot spots: patrol dosage"))
    result = cli("validate", kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    said = result.stdout + result.stderr
    assert "beta-2023-hot-spots-dosage.md:" in said and "put the value in quotes" in said


def test_unchanged_template_prompts_warn_in_validate_and_stop_submit(cli, git_kb):
    made = cli("new", "strategy", "--title", "Left as the template", "--topic", "technology",
               "--no-edit", kb=git_kb)  # fmt: skip
    assert made.exit_code == ExitCode.OK and "template's prompt" not in made.stderr
    checked = cli("validate", kb=git_kb)
    said = checked.stdout + checked.stderr
    assert checked.exit_code == ExitCode.OK, said  # a warning, not an error
    assert ":13: warning: ## Problem: the template's prompt is left unchanged" in said
    submitted = cli("submit", "left as the template", "--no-push", kb=git_kb)  # its title
    assert submitted.exit_code == ExitCode.PROBLEMS, submitted.stdout + submitted.stderr
    assert "## Problem: the template's prompt is left unchanged" in submitted.stderr
    assert (
        "submit/alpha"
        not in __import__("subprocess")
        .run(["git", "branch", "--list"], cwd=git_kb, capture_output=True, text=True)
        .stdout
    )
