"""Issue 18: every command works on the KB a new community starts with (right after
`cacop init`), and on small ones: one entry, one RFI with no responses, one site, only
invalid entries; a property test then runs every read command over generated small KBs."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from smallkb import HOME, SmallKB, small_kbs, write_kb

from cacop_cli.errors import ExitCode

EMPTY_NOTE = "the knowledge base has no entries yet"
FIRST_STEPS = ("cacop new strategy", "cacop sync")
NOTHING_TO_MAP = "nothing to map yet"

JSON_KEYS = {
    "search": {"query", "total", "results"},
    "list": {"total", "entries"},
    "similar": {"id", "results"},
    "gaps": {"topics", "sites", "matrix", "topics_without_strategy", "quiet_sites"},
    "experts": {"query", "matched_entries", "people", "sites"},
    "digest": set(),
    "validate": {"ok", "problems"},
    "rfi": {"total", "rfis"},
    "show": {"id", "type", "title", "body", "path"},
    "whoami": {"site", "name", "max_tlp"},
    "status": {"site", "git", "unshared", "submissions", "rfis_to_answer", "answers"},
}


@pytest.fixture
def fresh(cli, tmp_path) -> Path:
    """A KB exactly as `cacop init` leaves it, and nothing else."""
    root = tmp_path / "community"
    made = cli("init", str(root), "--site", HOME)
    assert made.exit_code == 0, made.stderr
    return root


def clean_run(cli, root: Path, *args: str):
    result = cli(*args, kb=root)
    both = result.stdout + result.stderr
    assert "unexpected error" not in both, (args, both)
    assert "Traceback" not in both, (args, both)
    return result


def json_of(result, command: str) -> dict:
    document = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert JSON_KEYS[command] <= set(document), (command, sorted(document))
    return document


READ_COMMANDS = [
    ("search", "nibin"),
    ("search", "--type", "rfi"),
    ("list",),
    ("digest",),
    ("rfi", "list"),
    ("rfi", "list", "--open"),
    ("rfi", "list", "--overdue"),
    ("rfi", "list", "--to-me"),
    ("rfi", "list", "--mine"),
]


# ---------------------------------------------------------------- right after init


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_read_commands_on_a_fresh_kb_say_it_is_empty_and_how_to_fill_it(cli, fresh, args, as_json):
    result = clean_run(cli, fresh, *args, *(["--json"] if as_json else []))
    assert result.exit_code == ExitCode.OK, result.stderr
    assert EMPTY_NOTE in result.stderr
    for step in FIRST_STEPS:
        assert step in result.stderr
    if as_json:
        document = json_of(result, args[0])
        for name in ("results", "entries", "rfis"):
            assert document.get(name, []) == []


def test_search_on_a_fresh_kb_is_the_issue_repro(cli, fresh):
    result = clean_run(cli, fresh, "search", "--json", "nibin")
    assert result.exit_code == ExitCode.OK
    assert json_of(result, "search") == {"query": "nibin", "total": 0, "results": []}
    assert "try another word" not in result.stderr  # no advice that cannot help


@pytest.mark.parametrize("args", [("index",), ("index", "--rebuild"), ("index",)], ids=" ".join)
def test_index_builds_an_empty_index_on_a_fresh_kb(cli, fresh, args):
    result = clean_run(cli, fresh, *args)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "0 entries" in result.stderr
    assert (fresh / ".cacop").is_dir()


def test_index_twice_then_search_on_a_fresh_kb(cli, fresh):
    for args in (("index", "--rebuild"), ("index",), ("search", "nib*"), ("index",)):
        assert clean_run(cli, fresh, *args).exit_code == ExitCode.OK


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_gaps_and_experts_say_there_is_nothing_to_map_yet(cli, fresh, tmp_path, as_json):
    flag = ["--json"] if as_json else []
    page = tmp_path / "gaps.html"
    for args in (
        ("gaps", *flag),
        ("gaps", "--by-type", *flag),
        ("gaps", "--html", str(page), *flag),
        ("experts", "nibin", *flag),
    ):
        result = clean_run(cli, fresh, *args)
        assert result.exit_code == ExitCode.OK, (args, result.stderr)
        assert NOTHING_TO_MAP in result.stderr, args
        if as_json:
            document = json_of(result, args[0])
            for name in ("people", "sites", "stale", "overdue_unanswered"):
                if args[0] == "experts" or name != "sites":
                    assert document.get(name, []) == [], (args, name)
    assert page.is_file()
    assert "try fewer or broader words" not in clean_run(cli, fresh, "experts", "nibin").stderr


def test_validate_on_a_fresh_kb_is_ok_and_says_it_is_empty(cli, fresh):
    result = clean_run(cli, fresh, "validate", "--json")
    assert result.exit_code == ExitCode.OK
    assert json_of(result, "validate") == {"ok": True, "problems": []}
    assert EMPTY_NOTE in clean_run(cli, fresh, "validate").stderr


@pytest.mark.parametrize("command", ["show", "similar"])
def test_show_and_similar_of_an_unknown_id_on_a_fresh_kb_say_how_to_add_the_first(
    cli, fresh, command
):
    result = clean_run(cli, fresh, command, "milwaukee-2025-nothing")
    assert result.exit_code == ExitCode.PROBLEMS  # no such entry: docs/format.md, exit codes
    assert "no entry has the id" in result.stderr
    assert EMPTY_NOTE in result.stderr and "cacop new strategy" in result.stderr


def test_upgrade_on_a_fresh_kb_changes_nothing(cli, fresh):
    before = (fresh / "cacop.yaml").read_bytes()
    result = clean_run(cli, fresh, "upgrade")
    assert result.exit_code == 0, result.stderr
    assert (fresh / "cacop.yaml").read_bytes() == before


def test_config_and_whoami_on_a_fresh_kb(cli, fresh):
    for args in (("whoami",), ("whoami", "--json"), ("config",)):
        result = clean_run(cli, fresh, *args)
        assert result.exit_code == ExitCode.OK, (args, result.stderr)
    assert json_of(clean_run(cli, fresh, "whoami", "--json"), "whoami")["max_tlp"]["value"]


def test_status_edit_and_open_on_a_fresh_kb(cli, fresh):
    """Nothing pending on a fresh KB; edit and open of an id say how to add the first."""
    found = json_of(clean_run(cli, fresh, "status", "--json"), "status")
    assert found["unshared"] == [] and found["submissions"] == [] and found["git"] is True
    assert "nothing pending" in clean_run(cli, fresh, "status").stdout
    for command in ("edit", "open"):
        result = clean_run(cli, fresh, command, f"{HOME}-2025-nothing")
        assert result.exit_code == ExitCode.PROBLEMS, result.stderr
        assert "no entry has the id" in result.stderr and "add the first" in result.stderr


def test_check_share_and_hooks_install_on_a_fresh_kb(cli, fresh):
    """A fresh KB's first commit passes the sharing gate; its hook is already installed."""
    result = clean_run(cli, fresh, "check-share", "--json")
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document == {"ok": True, "range": "HEAD", "commits": 1, "findings": [],
                        "unscanned_allowed": [], "unscanned_reason": None}  # fmt: skip
    result = clean_run(cli, fresh, "hooks", "install")
    assert result.exit_code == ExitCode.OK and "updated" in result.stderr


def test_site_build_on_a_fresh_kb_writes_a_site_that_says_nothing_is_published(cli, fresh):
    out = fresh.parent / "site"
    result = clean_run(cli, fresh, "site", "build", str(out))
    assert result.exit_code == ExitCode.OK, result.stderr
    home = (out / "index.html").read_text("utf-8")
    assert "0 entries" in home and "None yet." in home
    for rel in ("map", "rfis", "experts", "topics", "sites", "types"):
        assert (out / rel / "index.html").is_file(), rel
    assert "window.CACOP_SEARCH_INDEX=" in (out / "assets" / "search-index.js").read_text()


def test_every_command_in_help_is_covered_here(cacop_exe):
    """A new top-level command must be added to these tests (and to the property test)."""
    listed = subprocess.run([*cacop_exe, "--help"], capture_output=True, text=True).stdout
    covered = {"init", "new", "validate", "show", "list", "search", "index", "similar", "submit",
               "sync", "gaps", "experts", "digest", "bundle", "rfi", "upgrade", "config",
               "whoami", "check-share", "hooks", "status", "edit", "open", "site"}  # fmt: skip
    section = listed.split("Commands:")[1].splitlines()
    commands = {line.split()[0] for line in section if line.startswith("  ") and line[2] != " "}
    assert {"search", "rfi", "bundle"} <= commands
    assert commands <= covered, commands - covered


# ---------------------------------------------------------------- small KBs, named cases


def strategy(number: int = 1, site: str = HOME) -> dict:
    return {
        "meta": {"id": f"{site}-2025-first-{number}", "type": "strategy", "title": "NIBIN leads",
                 "site": site, "authors": ["A. Analyst"], "created": "2025-01-15",
                 "topics": ["gun-violence"], "tlp": "green", "status": "active",
                 "evidence": "promising"},
        "body": "Linking NIBIN leads to group audits.",
    }  # fmt: skip


def rfi(number: int = 1) -> dict:
    return {
        "meta": {"id": f"{HOME}-2025-ask-{number}", "type": "rfi", "title": "Who has a NIBIN SOP?",
                 "site": HOME, "authors": ["A. Analyst"], "created": "2025-01-15",
                 "topics": ["gun-violence"], "tlp": "green", "status": "open",
                 "priority": "routine", "needed_by": "2025-02-01", "to": ["all"]},
        "body": "## Question\n\nHas anyone written one?",
    }  # fmt: skip


NAMED = {
    "one entry": SmallKB([HOME], [strategy()]),
    "one rfi, no responses": SmallKB([HOME], [rfi()]),
    "one site, three entries": SmallKB([HOME], [strategy(1), strategy(2), rfi()]),
    "three sites, one entry": SmallKB([HOME, "memphis", "baton-rouge"], [strategy(site="memphis")]),
}


def read_commands(kb: SmallKB, page: Path) -> list[tuple[str, ...]]:
    first = (kb.ids() or [f"{HOME}-2025-nothing"])[0]
    return [
        *READ_COMMANDS,
        ("show", first),
        ("similar", first),
        ("gaps",),
        ("gaps", "--by-type", "--html", str(page)),
        ("experts", "nibin"),
        ("digest", "--since", "2020-01-01"),
        ("validate",),
    ]


def check_read_commands(cli, root: Path, kb: SmallKB) -> None:
    """Every read command, as text and as JSON: no crash, SPEC's exit codes, true totals."""
    for args in read_commands(kb, root.parent / "gaps.html"):
        for as_json in (False, True):
            result = clean_run(cli, root, *args, *(["--json"] if as_json else []))
            expected = ExitCode.OK
            if args[0] in ("show", "similar") and not kb.entries:
                expected = ExitCode.PROBLEMS  # no such entry
            assert result.exit_code == expected, (args, as_json, result.stderr)
            says_empty = not kb.entries and args[0] not in ("gaps", "experts")  # "nothing to map"
            assert (EMPTY_NOTE in result.stderr) == says_empty, (args, result.stderr)
            if not as_json or result.exit_code:
                continue
            document = json_of(result, args[0])
            if args == ("list",):
                assert document["total"] == len(kb.entries)
            if args == ("rfi", "list"):
                assert document["total"] == len(kb.ids("rfi"))
            if args == ("validate",):
                assert document == {"ok": True, "problems": []}
            if args[0] == "show":
                assert document["id"] == args[1]


@pytest.mark.parametrize("name", list(NAMED))
def test_read_commands_on_small_kbs(cli, fresh, name):
    check_read_commands(cli, write_kb(fresh, NAMED[name]), NAMED[name])
    for args in (("index", "--rebuild"), ("index",)):
        assert clean_run(cli, fresh, *args).exit_code == ExitCode.OK


def test_read_commands_on_a_kb_whose_only_entries_are_invalid(cli, fresh):
    broken = fresh / "kb" / "strategies" / f"{HOME}-2025-broken.md"
    broken.write_text("---\nid: milwaukee-2025-broken\ntype: strategy\n---\nno title\n")
    (fresh / "kb" / "rfis" / f"{HOME}-2025-unclosed.md").write_text("---\nid: x\n")
    assert clean_run(cli, fresh, "validate").exit_code == ExitCode.PROBLEMS
    for args in [*READ_COMMANDS, ("gaps",), ("experts", "nibin"), ("index", "--rebuild")]:
        for flag in ([], ["--json"]) if args[0] != "index" else ([],):
            result = clean_run(cli, fresh, *args, *flag)
            assert result.exit_code == ExitCode.OK, (args, result.stderr)
            assert EMPTY_NOTE not in result.stderr  # not empty: broken, and said so elsewhere
            if flag:
                json_of(result, args[0])
    assert "unclosed.md:1" in clean_run(cli, fresh, "list").stderr


# ---------------------------------------------------------------- the class: generated KBs


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kb=small_kbs())
def test_every_read_command_works_on_any_small_valid_kb(cli, fresh, tmp_path, kb):
    # a folder of its own per example: the read commands refresh the index, which may
    # leave a background merge still writing in the last example's .cacop/
    root = Path(tempfile.mkdtemp(prefix="example-", dir=tmp_path))
    shutil.copytree(fresh, root, ignore=shutil.ignore_patterns(".cacop"), dirs_exist_ok=True)
    write_kb(root, kb)
    check_read_commands(cli, root, kb)
