"""`cacop digest`: what was added, answered and closed in a window, as newsletter Markdown.
Closing dates come from real git history with fixed commit dates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fixturefiles import FILES
from gitserver import analyst_site

from cacop_cli.errors import ExitCode

TODAY = "2026-06-15"


def commit(root: Path, message: str, when: str) -> None:
    env = dict(
        os.environ, GIT_AUTHOR_DATE=f"{when}T12:00:00", GIT_COMMITTER_DATE=f"{when}T12:00:00"
    )
    for args in (["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


@pytest.fixture
def history(tmp_path) -> Path:
    """The community KB as a git repository whose first commit is dated 2026-05-02."""
    root = tmp_path / "community"
    shutil.copytree(FILES / "community", root)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    (root / ".gitignore").write_text(".cacop/\n")
    commit(root, "start", "2026-05-02")
    analyst_site(root)
    return root


def digest_json(cli, kb: Path, *flags: str) -> dict:
    result = cli("digest", "--json", "--today", TODAY, *flags, kb=kb)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_default_window_is_the_last_seven_days(cli, history):
    document = digest_json(cli, history)
    assert (document["since"], document["until"]) == ("2026-06-08", TODAY)
    assert [e["id"] for e in document["added"]] == ["gamma-2026-drone-program-policy"]
    answered = {a["rfi"]: [r["id"] for r in a["responses"]] for a in document["answered"]}
    assert answered == {
        "gamma-2026-ghost-gun-counts": ["alpha-20260612-a1a1"],
        "alpha-2026-witness-canvass-forms": ["gamma-20260613-c3c3", "beta-20260614-b2b2"],
    }
    assert document["closed"] == []  # closed in the first commit, 2026-05-02


def test_closing_date_comes_from_the_commit_that_closed_it(cli, history):
    assert cli("rfi", "close", "alpha-2026-witness-canvass-forms", kb=history).exit_code == 0
    commit(history, "close the canvass RFI", "2026-06-14")
    closed = digest_json(cli, history)["closed"]
    assert [(c["id"], c["closed"], c["responses"]) for c in closed] == [
        ("alpha-2026-witness-canvass-forms", "2026-06-14", 2)
    ]
    wider = digest_json(cli, history, "--since", "2026-05-01")["closed"]
    assert [(c["id"], c["closed"]) for c in wider] == [
        ("beta-2026-crime-analysis-software", "2026-05-02"),
        ("alpha-2026-witness-canvass-forms", "2026-06-14"),
    ]
    assert digest_json(cli, history, "--since", "2026-06-15")["closed"] == []


def test_a_close_not_yet_committed_counts_as_today(cli, history):
    assert cli("rfi", "close", "alpha-2026-witness-canvass-forms", kb=history).exit_code == 0
    closed = digest_json(cli, history)["closed"]
    assert [(c["id"], c["closed"]) for c in closed] == [("alpha-2026-witness-canvass-forms", TODAY)]


def test_later_edits_of_a_closed_rfi_do_not_make_it_newly_closed(cli, history):
    path = history / "kb/rfis/beta-2026-crime-analysis-software.md"
    path.write_text(path.read_text().replace("## Question", "## Question (edited)"))
    commit(history, "typo", "2026-06-12")
    assert digest_json(cli, history)["closed"] == []


def test_markdown_is_ready_for_the_newsletter(cli, history):
    cli("rfi", "close", "alpha-2026-witness-canvass-forms", kb=history)
    result = cli("digest", "--today", TODAY, kb=history)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("# Community map test KB: what's new, 2026-06-08 to 2026-06-15\n")
    assert "## New (1)" in text and "## Answered (2)" in text and "## Closed (1)" in text
    assert (
        "- **Do you have a drone program policy?** — Gamma County asks; needed by 2026-07-01"
        " (priority). `gamma-2026-drone-program-policy`" in text
    )
    assert (
        "- **Does anyone have a witness canvass form?** (asked by Alpha City): 2 new responses"
        in text
    )
    assert (
        "  - Gamma County (Gamma Responder), 2026-06-13: We use a phone app `gamma-20260613-c3c3`"
        in text
    )
    assert text.index("Gamma County (Gamma Responder)") < text.index("Beta Town (Beta Responder)")
    assert "closed 2026-06-15 after 2 responses" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_entry_text_cannot_inject_markdown_or_terminal_codes(cli, history):
    path = history / "kb/rfis/gamma-2026-drone-program-policy.md"
    path.write_text(
        path.read_text().replace(
            "title: Do you have a drone program policy?",
            'title: "**Drones** [click](http://x) <b>now</b> \\e]52;c;SGk=\\a `code`"',
        )
    )
    text = cli("digest", "--today", TODAY, kb=history).stdout
    assert r"\*\*Drones\*\* \[click\](http://x) \<b\>now\</b\>" in text
    assert r"\`code\`" in text
    assert "\x1b" not in text and "\x07" not in text


def test_an_empty_window_says_so(cli, history):
    text = cli("digest", "--since", "2020-01-01", "--today", "2020-01-08", kb=history).stdout
    assert "Nothing new this time." in text
    assert "No new responses." in text
    assert "No RFI was closed." in text


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--since", "last week"], "--since: 'last week' is not a date"),
        (["--since", "2026-06-16"], "is after today"),
    ],
)
def test_bad_since_is_a_usage_error(cli, history, flags, message):
    result = cli("digest", *flags, "--today", TODAY, kb=history)
    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr


def test_digest_outside_git_uses_file_times(cli, tmp_path):
    root = tmp_path / "plain"
    shutil.copytree(FILES / "community", root)
    path = root / "kb/rfis/beta-2026-crime-analysis-software.md"
    stamp = 1_781_438_400  # 2026-06-14 12:00 UTC
    os.utime(path, (stamp, stamp))
    closed = digest_json(cli, root)["closed"]
    assert [c["id"] for c in closed] == ["beta-2026-crime-analysis-software"]


def test_a_kb_in_a_subfolder_of_a_repository(cli, tmp_path):
    """Paths from git are matched relative to the KB, not the repository's top."""
    repo = tmp_path / "repo"
    shutil.copytree(FILES / "community", repo / "analysis" / "kb-copy")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    commit(repo, "start", "2026-05-02")
    root = repo / "analysis" / "kb-copy"
    analyst_site(root)
    cli("rfi", "close", "alpha-2026-witness-canvass-forms", kb=root)
    assert [c["id"] for c in digest_json(cli, root)["closed"]] == [
        "alpha-2026-witness-canvass-forms"
    ]
    commit(repo, "close", "2026-06-13")
    assert [c["closed"] for c in digest_json(cli, root)["closed"]] == ["2026-06-13"]


def test_a_new_rfi_closed_before_its_first_commit(cli, history):
    created = cli(
        "rfi", "open", "--title", "Quick one", "--needed-by", "2026-06-20", "-m", "?",
        "--today", TODAY, kb=history,
    )  # fmt: skip
    assert created.exit_code == 0
    assert cli("rfi", "close", "alpha-2026-quick-one", kb=history).exit_code == 0
    closed = digest_json(cli, history)["closed"]
    assert [(c["id"], c["closed"]) for c in closed] == [("alpha-2026-quick-one", TODAY)]
