"""The RFI lifecycle: open, respond, close, list, and `show` of a thread.

Dates are fixed with the hidden --today option (or CACOP_TODAY) so that due and
overdue computations do not depend on the day the tests run.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path

import pytest
from fixturefiles import FILES

from cacop_cli import rfi
from cacop_cli.config import load_kb
from cacop_cli.entries import read_entry
from cacop_cli.errors import ExitCode
from cacop_cli.models import EntryDraft

TODAY = "2026-06-15"
RESPONSE_ID = re.compile(r"^alpha-20260615-[0-9a-f]{4}$")


@pytest.fixture
def community(tmp_path) -> Path:
    """A KB with RFIs in every state (open, answered, overdue, closed); its site is alpha."""
    target = tmp_path / "community"
    shutil.copytree(FILES / "community", target)
    return target


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file but .cacop/ (derived; validate keeps its findings there)."""
    files = (p for p in root.rglob("*") if p.is_file())
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in files
        if p.relative_to(root).parts[:1] != (".cacop",)
    }


# ---------------------------------------------------------------- open


def test_open_with_message_writes_a_valid_rfi(cli, community):
    result = cli(
        "rfi", "open", "--title", "Who tracks repeat carjacking offenders?",
        "--needed-by", "2026-07-01", "--priority", "urgent", "--to", "beta", "--to", "gamma",
        "--topic", "investigations", "--message", "How do you flag repeat offenders?",
        "--today", TODAY, kb=community,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == community / "kb/rfis/alpha-2026-who-tracks-repeat-carjacking-offenders.md"
    entry = read_entry(path, community)
    assert entry.meta["status"] == "open"
    assert entry.meta["priority"] == "urgent"
    assert entry.meta["needed_by"] == "2026-07-01"
    assert entry.meta["to"] == ["beta", "gamma"]
    assert entry.meta["created"] == TODAY
    assert entry.meta["site"] == "alpha"
    assert entry.body == "## Question\n\nHow do you flag repeat offenders?\n"
    assert cli("validate", kb=community).exit_code == 0


def test_open_without_message_uses_the_template_and_the_editor(cli, community):
    editor = "sed -i s/One.clear.question.other.sites.can.answer./Edited.in.the.editor/"
    result = cli(
        "rfi", "open", "--title", "Drone policy", "--needed-by", "2026-07-01",
        "--today", TODAY, kb=community, env={"EDITOR": editor},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    body = read_entry(Path(result.stdout.strip()), community).body
    assert "## Context" in body and "## What would help" in body  # the RFI template
    assert "Edited.in.the.editor" in body
    assert read_entry(Path(result.stdout.strip()), community).meta["to"] == ["all"]


def test_open_without_editor_leaves_the_template_and_says_so(cli, community):
    result = cli(
        "rfi", "open", "--title", "Drone policy", "--needed-by", "2026-07-01",
        "--today", TODAY, kb=community,
    )  # fmt: skip
    assert result.exit_code == 0
    assert "no $EDITOR" in result.stderr
    assert "One clear question" in Path(result.stdout.strip()).read_text()


def test_open_body_from_a_file(cli, community, tmp_path):
    question = tmp_path / "question.md"
    question.write_text("## Question\n\nAnything on NIBIN lead triage?\n\n## Context\n\nNone.\n")
    result = cli(
        "rfi", "open", "--title", "NIBIN triage", "--needed-by", "2026-07-01",
        "--file", str(question), "--today", TODAY, kb=community,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert read_entry(Path(result.stdout.strip()), community).body == question.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--needed-by", "2026-06-14"], "--needed-by: 2026-06-14 is in the past"),
        (["--needed-by", "next week"], "--needed-by: 'next week' is not a date"),
        (["--needed-by", "2026-02-30"], "is not a date"),
        (
            ["--needed-by", "2026-07-01", "--priority", "asap"],
            "--priority: 'asap' is not a priority",
        ),
        (["--needed-by", "2026-07-01", "--to", "nowhere"], "--to: 'nowhere' is not a site"),
        (["--needed-by", "2026-07-01", "--tlp", "purple"], "--tlp: 'purple' is not a TLP marking"),
        (["--needed-by", "2026-07-01", "-m", "a", "--file", "x"], "not both"),
    ],
)
def test_open_refuses_a_wrong_command_line_and_writes_nothing(cli, community, args, message):
    before = snapshot(community)
    result = cli("rfi", "open", "--title", "Q", *args, "--today", TODAY, kb=community)
    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(community) == before


# ---------------------------------------------------------------- respond


def test_respond_writes_one_new_file_and_never_edits_the_rfi(cli, community):
    rfi_id = "gamma-2026-ghost-gun-counts"
    before = snapshot(community)
    result = cli(
        "rfi", "respond", rfi_id, "--message", "We count by ATF trace results.",
        "--today", TODAY, kb=community,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.parent == community / "kb/rfis" / rfi_id / "responses"
    assert RESPONSE_ID.match(path.stem)
    after = snapshot(community)
    assert set(after) - set(before) == {path.relative_to(community).as_posix()}
    assert all(after[name] == content for name, content in before.items())
    response = read_entry(path, community)
    assert response.meta["type"] == "response"
    assert response.meta["rfi"] == rfi_id
    assert response.meta["site"] == "alpha"
    assert response.meta["authors"] == ["Test Analyst"]  # git's user.name
    assert response.meta["topics"] == ["gun-violence"]  # the RFI's
    assert response.meta["title"] == "Re: How do you count ghost guns?"
    assert response.body == "## Answer\n\nWe count by ATF trace results.\n"
    assert cli("validate", kb=community).exit_code == 0


def test_response_tlp_defaults_to_the_rfi_and_is_never_less_strict(cli, community):
    rfi_path = community / "kb/rfis/gamma-2026-ghost-gun-counts.md"
    rfi_path.write_text(rfi_path.read_text().replace("tlp: green", "tlp: amber"))
    before = snapshot(community)
    refused = cli(
        "rfi", "respond", "gamma-2026-ghost-gun-counts", "-m", "x", "--tlp", "green", kb=community
    )
    assert refused.exit_code == ExitCode.PROBLEMS
    assert "--tlp: green is less strict than the RFI's amber" in refused.stderr
    assert snapshot(community) == before
    default = cli("rfi", "respond", "gamma-2026-ghost-gun-counts", "-m", "x", kb=community)
    assert read_entry(Path(default.stdout.strip()), community).meta["tlp"] == "amber"
    stricter = cli(
        "rfi", "respond", "gamma-2026-ghost-gun-counts", "-m", "x", "--tlp", "red", kb=community
    )
    assert read_entry(Path(stricter.stdout.strip()), community).meta["tlp"] == "red"


def test_respond_from_a_file_with_title_and_authors(cli, community, tmp_path):
    answer = tmp_path / "answer.md"
    answer.write_text("## Answer\n\nSee our SOP, section 4.\n")
    result = cli(
        "rfi", "respond", "alpha-2026-witness-canvass-forms", "--file", str(answer),
        "--title", "Our canvass SOP", "--author", "Ann Alvarez", "--author", "Cy Chen",
        kb=community,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    response = read_entry(Path(result.stdout.strip()), community)
    assert response.meta["title"] == "Our canvass SOP"
    assert response.meta["authors"] == ["Ann Alvarez", "Cy Chen"]
    assert response.body == answer.read_text()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["gamma-2026-ghost-gun-counts"], ExitCode.USAGE, "--message TEXT or --file PATH"),
        (["gamma-2026-ghost-gun-counts", "-m", "  "], ExitCode.USAGE, "--message is empty"),
        (["no-such-rfi", "-m", "x"], ExitCode.PROBLEMS, "no entry has the id"),
        (["beta-2022-beat-map", "-m", "x"], ExitCode.USAGE, "not an RFI"),
        (["../../etc", "-m", "x"], ExitCode.USAGE, "is not an entry id"),
        (["--output=PWNED", "-m", "x"], ExitCode.USAGE, ""),
    ],
)
def test_respond_refusals_write_nothing(cli, community, args, code, message):
    before = snapshot(community)
    result = cli("rfi", "respond", *args, kb=community)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(community) == before


def test_create_exclusive_never_overwrites(tmp_path):
    path = tmp_path / "responses" / "alpha-20260615-abcd.md"
    rfi.create_exclusive(path, "first\n")
    with pytest.raises(FileExistsError):
        rfi.create_exclusive(path, "second\n")
    assert path.read_text() == "first\n"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_many_responses_at_the_same_moment_each_get_their_own_file(community):
    """Six writers answer the same RFI at once, 4 times each: 24 distinct, valid files."""
    kb = load_kb(community)
    today = rfi.parse_date(TODAY, "today")
    written: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def answer(writer: int) -> None:
        try:
            start.wait()
            for turn in range(4):
                draft = EntryDraft(
                    "response", "", body=f"answer {writer}.{turn}",
                    rfi="gamma-2026-drone-program-policy",
                )  # fmt: skip
                created = rfi.respond(kb, draft, today=today)
                written.append(created.entry_id)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=answer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    folder = community / "kb/rfis/gamma-2026-drone-program-policy/responses"
    files = sorted(p.name for p in folder.iterdir())
    assert len(written) == len(set(written)) == len(files) == 24
    bodies = {read_entry(folder / name, community).body for name in files}
    assert len(bodies) == 24  # nobody's answer replaced anybody else's


# ---------------------------------------------------------------- close


def test_close_by_the_requesting_site_changes_only_the_status_bytes_of_a_crlf_file(cli, community):
    path = community / "kb/rfis/alpha-2026-witness-canvass-forms.md"
    crlf = path.read_bytes().replace(b"\n", b"\r\n")
    crlf = crlf.replace(b"status: open", b"status:   open   # until we have two forms")
    path.write_bytes(b"\xef\xbb\xbf" + crlf)
    before = path.read_bytes()
    result = cli("rfi", "close", "alpha-2026-witness-canvass-forms", kb=community)
    assert result.exit_code == 0, result.stderr
    assert "closed alpha-2026-witness-canvass-forms after 2 response(s)" in result.stderr
    after = path.read_bytes()
    assert after == before.replace(b"status:   open   #", b"status:   closed   #")
    assert read_entry(path, community).meta["status"] == "closed"


def test_close_by_another_site_is_refused_and_touches_nothing(cli, community):
    before = snapshot(community)
    result = cli("rfi", "close", "gamma-2026-ghost-gun-counts", kb=community)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "only the site that asked (gamma) can close" in result.stderr
    assert "this clone is alpha" in result.stderr
    assert snapshot(community) == before
    as_gamma = cli(
        "rfi", "close", "gamma-2026-ghost-gun-counts", kb=community, env={"CACOP_SITE": "gamma"}
    )
    assert as_gamma.exit_code == 0, as_gamma.stderr


def test_close_twice_is_a_no_op(cli, community):
    path = community / "kb/rfis/beta-2026-crime-analysis-software.md"
    before = path.read_bytes()
    result = cli(
        "rfi", "close", "beta-2026-crime-analysis-software", kb=community,
        env={"CACOP_SITE": "beta"},
    )  # fmt: skip
    assert result.exit_code == 0
    assert "already closed" in result.stderr
    assert path.read_bytes() == before


def test_close_of_something_that_is_not_an_rfi(cli, community):
    result = cli("rfi", "close", "alpha-2026-gun-crime-review", kb=community)
    assert result.exit_code == ExitCode.USAGE
    assert "not an RFI" in result.stderr


# ---------------------------------------------------------------- list


def listing(cli, community, *flags, env=None):
    result = cli("rfi", "list", "--json", *flags, kb=community, env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_list_derives_status_counts_and_days_from_a_fixed_date(cli, community):
    document = listing(cli, community, "--today", TODAY)
    assert document["today"] == TODAY and document["site"] == "alpha"
    rows = {row["id"]: row for row in document["rfis"]}
    assert [row["id"] for row in document["rfis"]] == [
        "beta-2026-federal-task-force-contacts",  # due 06-01
        "gamma-2026-ghost-gun-counts",  # due 06-10
        "alpha-2026-witness-canvass-forms",  # due 06-20
        "gamma-2026-drone-program-policy",  # due 07-01
        "beta-2026-crime-analysis-software",  # closed: last
    ]
    expected = {
        "beta-2026-federal-task-force-contacts": ("open", 0, -14, True),
        "gamma-2026-ghost-gun-counts": ("answered", 1, -5, False),  # answered: not overdue
        "alpha-2026-witness-canvass-forms": ("answered", 2, 5, False),
        "gamma-2026-drone-program-policy": ("open", 0, 16, False),
        "beta-2026-crime-analysis-software": ("closed", 1, -45, False),
    }
    for rfi_id, (status, responses, days_left, overdue) in expected.items():
        row = rows[rfi_id]
        assert (row["status"], row["responses"], row["days_left"], row["overdue"]) == (
            status,
            responses,
            days_left,
            overdue,
        ), rfi_id
    assert rows["alpha-2026-witness-canvass-forms"]["responders"] == ["gamma", "beta"]
    assert set(rows["gamma-2026-drone-program-policy"]) >= {
        "id", "title", "site", "priority", "status", "needed_by", "days_left", "overdue",
        "responses", "to", "path",
    }  # fmt: skip


def test_list_today_from_the_environment(cli, community):
    document = listing(cli, community, env={"CACOP_TODAY": "2026-06-21"})
    rows = {row["id"]: row for row in document["rfis"]}
    assert rows["alpha-2026-witness-canvass-forms"]["days_left"] == -1
    assert rows["alpha-2026-witness-canvass-forms"]["overdue"] is False  # it is answered
    assert rows["gamma-2026-drone-program-policy"]["days_left"] == 10


@pytest.mark.parametrize(
    ("flags", "ids"),
    [
        (
            ["--open"],
            {
                "beta-2026-federal-task-force-contacts",
                "gamma-2026-ghost-gun-counts",
                "alpha-2026-witness-canvass-forms",
                "gamma-2026-drone-program-policy",
            },
        ),
        (["--overdue"], {"beta-2026-federal-task-force-contacts"}),  # open and past its date
        (["--mine"], {"alpha-2026-witness-canvass-forms"}),
        (
            ["--to-me"],  # sent to all (not alpha's own); the two sent only to beta are not
            {
                "beta-2026-federal-task-force-contacts",
                "gamma-2026-ghost-gun-counts",
                "beta-2026-crime-analysis-software",
            },
        ),
        (
            ["--to-me", "--open"],
            {"beta-2026-federal-task-force-contacts", "gamma-2026-ghost-gun-counts"},
        ),
    ],
)
def test_list_filters(cli, community, flags, ids):
    document = listing(cli, community, *flags, "--today", TODAY)
    assert {row["id"] for row in document["rfis"]} == ids
    assert document["total"] == len(ids)


def test_list_to_me_for_another_site(cli, community):
    document = listing(cli, community, "--to-me", "--today", TODAY, env={"CACOP_SITE": "beta"})
    assert {row["id"] for row in document["rfis"]} == {
        "gamma-2026-ghost-gun-counts",
        "alpha-2026-witness-canvass-forms",
        "gamma-2026-drone-program-policy",
    }


def test_list_counts_a_new_response_without_the_rfi_changing(cli, community):
    cli("rfi", "respond", "gamma-2026-drone-program-policy", "-m", "yes", kb=community)
    rows = {row["id"]: row for row in listing(cli, community, "--today", TODAY)["rfis"]}
    assert rows["gamma-2026-drone-program-policy"]["status"] == "answered"
    assert rows["gamma-2026-drone-program-policy"]["responses"] == 1


def test_list_in_a_pipe_is_one_tab_separated_line_an_rfi(cli, community):
    result = cli("rfi", "list", "--today", TODAY, kb=community)
    assert result.exit_code == 0
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert all(len(row) == 9 and row[8].startswith("TLP:") for row in rows), rows
    by_id = {row[7]: row for row in rows}
    assert by_id["beta-2026-federal-task-force-contacts"][:6] == [
        "2026-06-01", "14 d overdue", "routine", "open", "0", "beta"
    ]  # fmt: skip
    assert by_id["beta-2026-federal-task-force-contacts"][6] == (
        "Who is your federal task force contact?"
    )


def test_list_in_a_pipe_keeps_an_entrys_tabs_and_line_breaks_out_of_its_columns(cli, community):
    path = community / "kb/rfis/beta-2026-crime-analysis-software.md"
    text = path.read_text(encoding="utf-8")
    text = text.replace("title: ", 'title: "Tabs\\there,\\nbreaks  and spaces" # ', 1)
    text = text.replace("priority: ", 'priority: "rou\\ttine" # ', 1)
    path.write_text(text, encoding="utf-8")
    result = cli("rfi", "list", "--today", TODAY, kb=community)
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert all(len(row) == 9 for row in rows), rows
    row = {row[7]: row for row in rows}["beta-2026-crime-analysis-software"]
    assert row[6] == "Tabs here, breaks and spaces" and row[2] == "rou tine"


def test_list_table_shows_due_priority_and_answers(cli, community):
    terminal = {"COLUMNS": "160", "FORCE_COLOR": "1", "NO_COLOR": "1", "TERM": "xterm"}  # a table
    result = cli("rfi", "list", "--today", TODAY, kb=community, env=terminal)
    assert result.exit_code == 0
    lines = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).splitlines()  # bold stays, NO_COLOR
    first = next(n for n, line in enumerate(lines) if "2026-06-01" in line)
    assert re.search(r"routine\s*│\s*open\s*│\s*0\s*│\s*beta", lines[first])
    assert "14 d overdue" in lines[first + 1]
    third = next(n for n, line in enumerate(lines) if "2026-06-20" in line)
    assert re.search(r"urgent\s*│\s*answered\s*│\s*2\s*│\s*alpha", lines[third])
    assert "in 5 d" in lines[third + 1]


def test_list_with_bad_today_is_a_usage_error(cli, community):
    result = cli("rfi", "list", "--today", "tomorrow", kb=community)
    assert result.exit_code == ExitCode.USAGE
    assert "--today: 'tomorrow' is not a date" in result.stderr


def test_list_escapes_markup_and_control_characters(cli, community):
    path = community / "kb/rfis/gamma-2026-drone-program-policy.md"
    path.write_text(
        path.read_text().replace(
            "title: Do you have a drone program policy?",
            'title: "[bold]Drone[/bold] \\e[2J\\e]52;c;SGVsbG8=\\a policy"',
        )
    )
    result = cli("rfi", "list", "--today", TODAY, kb=community, env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "[bold]Drone[/bold]" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


# ---------------------------------------------------------------- show


def test_show_of_an_rfi_is_the_whole_thread_in_time_order(cli, community):
    result = cli("show", "alpha-2026-witness-canvass-forms", kb=community)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert re.search(r"status\s+answered", text)
    assert re.search(r"responses\s+2", text)
    first = text.index("Response 1 — gamma, Gamma Responder, 2026-06-13")
    second = text.index("Response 2 — beta, Beta Responder, 2026-06-14")
    assert text.index("Does anyone have a witness canvass form?") < first < second
    assert text.index("We use a phone app") < second
    assert text.index("Our canvass form is attached to the SOP") > second


@pytest.mark.slow
def test_rfi_list_as_a_real_subprocess(cacop_exe, community):
    import os
    import subprocess

    env = {**os.environ, "CACOP_TODAY": TODAY, "CACOP_KB": str(community)}
    result = subprocess.run(
        [*cacop_exe, "rfi", "list", "--overdue", "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [row["id"] for row in document["rfis"]] == ["beta-2026-federal-task-force-contacts"]
