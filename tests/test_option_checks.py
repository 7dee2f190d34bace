"""Consistent checks (issue 14 item 7): every option naming a site, type, topic, status, TLP
or date is checked alike in every command: case-blind, exit 2 naming what it could be."""

from __future__ import annotations

import pytest

from cacop_cli.errors import ExitCode

NEEDED = ["--needed-by", "2099-01-01"]


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--site", "nowhere"],
        ["search", "--site", "nowhere"],
        ["rfi", "open", "--title", "Q", *NEEDED, "-m", "q", "--to", "nowhere"],
    ],
)
def test_an_unknown_site_is_exit_2_with_the_known_sites(cli, kb_path, argv):
    result = cli(*argv, kb=kb_path)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "'nowhere' is not a site in kb/sites.yaml" in result.stderr
    assert "alpha, beta, gamma" in result.stderr


@pytest.mark.parametrize("value", ["2024-13-01", "2024-02-30", "last week"])
@pytest.mark.parametrize(
    "argv",
    [
        ["search", "robbery", "--since"],
        ["search", "robbery", "--until"],
        ["digest", "--since"],
        ["rfi", "open", "--title", "Q", "-m", "q", "--needed-by"],
        ["rfi", "list", "--today"],
    ],
)
def test_a_date_that_is_no_day_is_exit_2(cli, kb_path, argv, value):
    result = cli(*argv, value, kb=kb_path)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"{argv[-1]}: {value!r} is not a date" in result.stderr


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["list", "--type", "memo"], "--type: 'memo' is not an entry type (one of: strategy,"),
        (["search", "--type", "memo"], "--type: 'memo' is not an entry type (one of: strategy,"),
        (["list", "--topic", "guns"], "--topic: 'guns' is not a topic (one of: gun-violence,"),
        (["search", "--topic", "guns"], "--topic: 'guns' is not a topic (one of: gun-violence,"),
        (["search", "--status", "done"], "--status: 'done' is not a status (one of: proposed,"),
        (["search", "--tlp", "white"], "--tlp: 'white' is not a TLP marking (one of: clear,"),
        (["new", "strategy", "--title", "T", "--topic", "guns", "--no-edit"], "--topic: 'guns'"),
        (["gaps", "--max-tlp", "white"], "--max-tlp: 'white' is not a TLP marking"),
    ],
)
def test_unknown_values_are_refused_alike_in_every_command(cli, kb_path, argv, said):
    result = cli(*argv, kb=kb_path)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert said in result.stderr


def test_values_are_case_blind_and_spaces_mean_hyphens(cli, kb_path):
    listed = cli("list", "--site", "ALPHA", "--topic", "Gun Violence", "--type", "Strategy",
                 "--json", kb=kb_path)  # fmt: skip
    assert listed.exit_code == ExitCode.OK, listed.stderr
    assert "alpha-2024-focused-deterrence-call-ins" in listed.stdout
    found = cli("search", "--site", "Alpha", "--topic", "gun_violence", "--tlp", "GREEN",
                "--status", "Active", "--json", kb=kb_path)  # fmt: skip
    assert found.exit_code == ExitCode.OK, found.stderr
    made = cli("new", "strategy", "--title", "Case blind", "--topic", "Gun-Violence",
               "--tlp", "Amber", "--no-edit", kb=kb_path)  # fmt: skip
    assert made.exit_code == ExitCode.OK, made.stderr
    written = next((kb_path / "kb/strategies").glob("*case-blind.md")).read_text()
    assert "topics: [gun-violence]" in written and "tlp: amber" in written
    asked = cli("rfi", "open", "--title", "Q", *NEEDED, "-m", "q", "--to", "Beta",
                "--tlp", "amber strict", kb=kb_path)  # fmt: skip
    assert asked.exit_code == ExitCode.OK, asked.stderr
    rfi = next(path for path in (kb_path / "kb/rfis").glob("alpha-*.md"))
    assert "tlp: amber+strict" in rfi.read_text() and "beta" in rfi.read_text()


EXCLUDING = [
    "shooting -checklist",
    "shooting NOT checklist",
    '-"review checklist" shooting',
    "shooting -title:checklist",
]


@pytest.mark.parametrize("query", EXCLUDING)
def test_minus_word_excludes_as_not_word_does(cli, kb_path, query):
    result = cli("search", "--json", "--", query, kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "alpha-2024-focused-deterrence-call-ins" in result.stdout
    assert "alpha-2024-shooting-review-checklist" not in result.stdout


def test_a_hyphen_inside_a_word_is_no_exclusion(cli, kb_path):
    result = cli("search", "--json", "group-involved", kb=kb_path)
    assert (
        result.exit_code == ExitCode.OK
        and "alpha-2024-focused-deterrence-call-ins" in result.stdout
    )


def test_an_answered_rfi_past_its_date_is_never_overdue(cli, kb_path):
    listed = cli("rfi", "list", "--today", "2099-01-01", kb=kb_path)
    assert listed.exit_code == ExitCode.OK, listed.stderr
    assert "beta-2025-nibin-and-group-data" in listed.stdout and "overdue" not in listed.stdout
    only = cli("rfi", "list", "--overdue", "--json", "--today", "2099-01-01", kb=kb_path)
    assert "beta-2025-nibin-and-group-data" not in only.stdout
