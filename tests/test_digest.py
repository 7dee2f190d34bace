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

from cacop_cli import gitrepo
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


# ---------------------------------------------------------------- closing dates from history

CANVASS = "alpha-2026-witness-canvass-forms"
GHOST_GUNS = "gamma-2026-ghost-gun-counts"


def rfi_file(root: Path, rfi_id: str) -> Path:
    return root / "kb" / "rfis" / f"{rfi_id}.md"


def set_status(root: Path, rfi_id: str, status: str) -> None:
    path = rfi_file(root, rfi_id)
    text = path.read_text()
    path.write_text("\n".join(
        f"status: {status}" if line.startswith("status:") else line for line in text.split("\n")
    ))  # fmt: skip


def edit_body(root: Path, rfi_id: str, words: str) -> None:
    path = rfi_file(root, rfi_id)
    path.write_text(path.read_text() + f"\n{words}\n")


def git(root: Path, *args: str, when: str = TODAY) -> None:
    env = dict(
        os.environ, GIT_AUTHOR_DATE=f"{when}T12:00:00", GIT_COMMITTER_DATE=f"{when}T12:00:00"
    )
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def closed_on(cli, root: Path, *flags: str) -> list[tuple[str, str]]:
    return [(c["id"], c["closed"]) for c in digest_json(cli, root, *flags)["closed"]]


def test_an_edit_after_the_close_keeps_the_closing_date(cli, history):
    set_status(history, CANVASS, "closed")
    commit(history, "close", "2026-06-10")
    edit_body(history, CANVASS, "Thanks, all.")
    commit(history, "thank the responders", "2026-06-13")
    assert closed_on(cli, history) == [(CANVASS, "2026-06-10")]


def test_closed_reopened_and_closed_again_counts_the_last_close(cli, history):
    for status, when in (
        ("closed", "2026-06-09"),
        ("open", "2026-06-10"),
        ("closed", "2026-06-12"),
    ):
        set_status(history, CANVASS, status)
        commit(history, f"status {status}", when)
    assert closed_on(cli, history) == [(CANVASS, "2026-06-12")]
    assert closed_on(cli, history, "--today", "2026-06-15", "--since", "2026-06-13") == []


@pytest.mark.parametrize("at_once", [1, 256])
def test_one_commit_closing_two_rfis_dates_both(cli, history, monkeypatch, at_once):
    monkeypatch.setattr(gitrepo, "BLOBS_AT_ONCE", at_once)  # 1: a cat-file run per blob
    set_status(history, CANVASS, "closed")
    set_status(history, GHOST_GUNS, "closed")
    edit_body(history, "gamma-2026-drone-program-policy", "Still open.")
    commit(history, "close two", "2026-06-11")
    assert closed_on(cli, history) == [(CANVASS, "2026-06-11"), (GHOST_GUNS, "2026-06-11")]


def test_an_rfi_committed_already_closed_is_dated_by_that_commit(cli, history):
    shutil.copy(rfi_file(history, CANVASS), history / "kb/rfis/alpha-2026-canvass-again.md")
    path = history / "kb/rfis/alpha-2026-canvass-again.md"
    path.write_text(path.read_text().replace(f"id: {CANVASS}", "id: alpha-2026-canvass-again"))
    set_status(history, "alpha-2026-canvass-again", "closed")
    commit(history, "add a closed one", "2026-06-12")
    assert closed_on(cli, history) == [("alpha-2026-canvass-again", "2026-06-12")]


def test_a_quoted_closed_status_is_a_close(cli, history):
    set_status(history, CANVASS, '"closed"')
    commit(history, "close", "2026-06-09")
    assert closed_on(cli, history) == [(CANVASS, "2026-06-09")]


def test_a_close_merged_from_a_branch_keeps_the_branch_commit_date(cli, history):
    git(history, "switch", "-q", "-c", "side")
    set_status(history, CANVASS, "closed")
    commit(history, "close on a branch", "2026-06-10")
    git(history, "switch", "-q", "main")
    edit_body(history, GHOST_GUNS, "More counts.")
    commit(history, "edit another RFI", "2026-06-11")
    git(history, "merge", "-q", "--no-edit", "side", when="2026-06-13")
    assert closed_on(cli, history) == [(CANVASS, "2026-06-10")]


def test_each_change_is_compared_with_its_own_parent(cli, history):
    """The branch closes the RFI; main meanwhile edits its body (open, a day later). Read
    against the version before it in the log (the branch's closed one) instead of its own
    parent, main's edit would look like a status change and date the close a day late."""
    git(history, "switch", "-q", "-c", "side")
    set_status(history, CANVASS, "closed")
    commit(history, "close on a branch", "2026-06-10")
    git(history, "switch", "-q", "main")
    edit_body(history, CANVASS, "A note while it is open.")
    commit(history, "note on main", "2026-06-11")
    git(history, "merge", "-q", "--no-edit", "side", when="2026-06-13")
    assert "status: closed" in rfi_file(history, CANVASS).read_text()
    assert closed_on(cli, history) == [(CANVASS, "2026-06-10")]


def test_a_renamed_closed_rfi_is_dated_by_the_rename(cli, history):
    old, new = "kb/rfis/beta-2026-crime-analysis-software", "kb/rfis/beta-2026-analysis-software"
    git(history, "mv", f"{old}.md", f"{new}.md")
    git(history, "mv", old, new)
    path = history / f"{new}.md"
    path.write_text(path.read_text().replace("id: beta-2026-crime", "id: beta-2026"))
    for response in (history / new).glob("*/*.md"):
        response.write_text(response.read_text().replace("beta-2026-crime-", "beta-2026-"))
    commit(history, "rename", "2026-06-12")
    assert closed_on(cli, history) == [("beta-2026-analysis-software", "2026-06-12")]


def test_a_staged_close_counts_as_today(cli, history):
    set_status(history, CANVASS, "closed")
    git(history, "add", "-A")
    assert closed_on(cli, history) == [(CANVASS, TODAY)]


def test_a_closed_rfi_git_ignores_has_no_closing_date(cli, history):
    """git never saw it: neither its history nor `not yet committed` can date it."""
    shutil.copy(rfi_file(history, CANVASS), history / "kb/rfis/alpha-2026-canvass-draft.md")
    path = history / "kb/rfis/alpha-2026-canvass-draft.md"
    path.write_text(path.read_text().replace(f"id: {CANVASS}", "id: alpha-2026-canvass-draft"))
    set_status(history, "alpha-2026-canvass-draft", "closed")
    (history / ".gitignore").write_text(".cacop/\nkb/rfis/alpha-2026-canvass-draft.md\n")
    commit(history, "ignore drafts", "2026-06-12")
    assert closed_on(cli, history) == []


@pytest.mark.parametrize("by_name", [64, 0])  # 0: the untracked are looked for by folder
def test_in_a_repository_with_no_commit_yet_every_closed_rfi_counts_as_today(
    cli, tmp_path, monkeypatch, by_name
):
    monkeypatch.setattr(gitrepo, "UNTRACKED_BY_NAME", by_name)
    root = tmp_path / "fresh"
    shutil.copytree(FILES / "community", root)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    (root / ".gitignore").write_text(".cacop/\n")
    assert closed_on(cli, root) == [("beta-2026-crime-analysis-software", TODAY)]


def test_versions_as_they_are_in_the_working_tree_are_read_from_it_and_only_those(
    history, monkeypatch
):
    """The closing dates come from each version's `status` lines: a file as its newest
    commit left it is read from the working tree (no `git cat-file`), any other from git.
    A file edited since, converted to CRLF, or replaced by a link (to a pipe, which would
    block a reader that followed it) gives the same dates as git's own copy."""
    from cacop_cli.digest import _CLOSED_LINE

    for rfi_id in (CANVASS, GHOST_GUNS, "gamma-2026-drone-program-policy"):
        set_status(history, rfi_id, "closed")
    commit(history, "close three", "2026-06-11")
    paths = {rfi_file(history, r).relative_to(history).as_posix() for r in (CANVASS, GHOST_GUNS)}
    paths.add(rfi_file(history, "gamma-2026-drone-program-policy").relative_to(history).as_posix())

    def dates(read_here: bool) -> tuple[dict[str, str], list[str]]:
        asked: list[str] = []
        real_iter_blobs = gitrepo.iter_blobs

        def counted(root, blobs):
            asked.extend(blobs)
            return real_iter_blobs(root, blobs)

        monkeypatch.setattr(gitrepo, "iter_blobs", counted)
        if not read_here:
            monkeypatch.setattr(gitrepo, "_as_blob_here", lambda *args: None)
        try:
            found = gitrepo.newest_line_changes(
                history, "2026-06-01 00:00:00", paths, b"status:", _CLOSED_LINE
            )
        finally:
            monkeypatch.undo()
        return found, asked

    expected, all_asked = dates(read_here=False)
    assert expected == dict.fromkeys(paths, "2026-06-11")
    found, asked = dates(read_here=True)
    assert found == expected
    assert len(asked) == len(all_asked) - 3  # the three closed versions: read here
    canvass, ghost = rfi_file(history, CANVASS), rfi_file(history, GHOST_GUNS)
    canvass.write_bytes(canvass.read_bytes().replace(b"\n", b"\r\n"))
    os.mkfifo(history / "pipe")
    ghost.unlink()
    ghost.symlink_to(history / "pipe")
    edit_body(history, "gamma-2026-drone-program-policy", "Edited since.")
    found, asked = dates(read_here=True)
    assert found == expected and len(asked) == len(all_asked)
