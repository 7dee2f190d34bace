"""Hostile input, group A (docs/architecture.md): entries that must be refused (validate
exits 1), never crash or run."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from pathlib import Path

import pytest
from kbtools import BODY, no_traceback, snapshot, strategy_text, write_strategy

from cacop_cli import entries
from cacop_cli.errors import EntryError, ExitCode

STRATEGIES = "kb/strategies"


def refused(
    cli, kb: Path, entry_id: str, line: int, fragment: str, unreadable: bool = True
) -> None:
    """validate exits 1 naming file, line and reason; nothing changes.

    An unreadable entry is refused by `show --json` too (a schema error is still shown).
    """
    before = snapshot(kb)
    result = cli("validate", kb=kb)
    no_traceback(result)
    assert result.exit_code == ExitCode.PROBLEMS, result.stdout + result.stderr
    where = f"{STRATEGIES}/{entry_id}.md:{line}: error: "
    assert any(
        text.startswith(where) and fragment in text for text in result.stdout.splitlines()
    ), result.stdout
    assert "alpha-2024-focused-deterrence-call-ins" not in result.stdout  # the others are fine
    shown = cli("show", "--json", entry_id, kb=kb)
    no_traceback(shown)
    if unreadable:
        assert shown.exit_code == ExitCode.PROBLEMS
        assert shown.stdout == ""
        assert f"{STRATEGIES}/{entry_id}.md:{line}: " in shown.stderr
    else:
        assert shown.exit_code == ExitCode.OK
        json.loads(shown.stdout)
    assert snapshot(kb) == before


# 1
def test_python_tag_is_refused_and_nothing_runs(cli, kb_path, tmp_path):
    marker = tmp_path / "PWNED"
    write_strategy(
        kb_path, "python-tag", f'x-run: !!python/object/apply:os.system ["touch {marker}"]\n'
    )
    refused(cli, kb_path, "python-tag", 12, "YAML tag tag:yaml.org,2002:python/object/apply")
    assert not marker.exists()


@pytest.mark.parametrize(
    "value", ["!!python/name:os.system ''", "!!binary aGk=", "!!set {a, b}", "!custom x"]
)
def test_any_nonstandard_tag_is_refused(cli, kb_path, value):
    write_strategy(kb_path, "odd-tag", f"x-v: {value}\n")
    refused(cli, kb_path, "odd-tag", 12, "is not allowed; remove it")


def alias_bomb() -> str:
    lines = ["x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"x-{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# 2
def test_alias_bomb_is_refused_quickly(cli, kb_path):
    path = write_strategy(kb_path, "alias-bomb", alias_bomb())
    started = time.perf_counter()
    with pytest.raises(EntryError) as caught:
        entries.read_entry(path, kb_path)
    assert time.perf_counter() - started < 1.0
    assert caught.value.code == "yaml-alias"
    refused(cli, kb_path, "alias-bomb", 13, "YAML aliases (*name) are not allowed")


def _limit_memory() -> None:
    limit = 256 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.parametrize("command", [["validate"], ["show", "--json", "alias-bomb"]])
def test_alias_bomb_refused_within_256_mib_as_a_process(cacop_exe, kb_path, command):
    write_strategy(kb_path, "alias-bomb", alias_bomb())
    result = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), *command],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert result.returncode == ExitCode.PROBLEMS, result.stderr
    assert "kb/strategies/alias-bomb.md:13:" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_alias_bomb_refused_by_index_when_it_exists(cli, kb_path):
    write_strategy(kb_path, "alias-bomb", alias_bomb())
    started = time.perf_counter()
    result = cli("index", kb=kb_path)
    no_traceback(result)
    assert time.perf_counter() - started < 10
    assert "alias-bomb.md:13" in result.stdout + result.stderr


# 3
def test_ten_thousand_nested_brackets_are_an_error_not_recursion(cli, kb_path):
    write_strategy(kb_path, "deep", "x-deep: " + "[" * 10_000 + "\n")
    refused(cli, kb_path, "deep", 12, "nest")


def test_nesting_deeper_than_the_limit_but_closed_is_refused(cli, kb_path):
    write_strategy(kb_path, "deep-closed", "x-deep: " + "[" * 40 + "]" * 40 + "\n")
    refused(cli, kb_path, "deep-closed", 12, "nested more than 32 levels deep")


# 4
def test_duplicate_key_is_an_error_at_the_second_one(cli, kb_path):
    write_strategy(kb_path, "twice", "summary: one\ntlp: red\n")
    refused(cli, kb_path, "twice", 13, "duplicate field 'tlp'")


# 5
@pytest.mark.parametrize(
    ("extra", "line", "fragment"),
    [
        ("tags: [yes, no]\n", 12, "YAML reads a bare yes as true; put it in quotes: 'yes'"),
        ("x-site: 1\n", None, None),  # control: an extension field may hold a number
    ],
)
def test_yes_no_tags_explain_yaml_typing(cli, kb_path, extra, line, fragment):
    write_strategy(kb_path, "typed", extra)
    if line is None:
        assert cli("validate", kb=kb_path).exit_code == ExitCode.OK
        return
    refused(cli, kb_path, "typed", line, fragment, unreadable=False)


def test_site_no_explains_yaml_typing(cli, kb_path):
    path = write_strategy(kb_path, "site-no")
    path.write_text(path.read_text().replace("site: alpha", "site: NO"))
    refused(
        cli, kb_path, "site-no", 5, "YAML reads a bare NO as false; put it in quotes: 'NO'", False
    )


def test_numeric_id_explains_yaml_typing(cli, kb_path):
    path = kb_path / STRATEGIES / "0123.md"
    path.write_text(strategy_text("0123"))
    result = cli("validate", kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    assert f"{STRATEGIES}/0123.md:2: error: id: 83 is not text — YAML reads 0123 as the number" in (
        result.stdout
    )


def test_nonstring_field_names_are_refused_not_a_crash(cli, kb_path):
    write_strategy(kb_path, "int-key", "1: one\n")
    refused(cli, kb_path, "int-key", 12, "the field name '1' is not text")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1.0e+999"])
def test_non_finite_numbers_are_refused_so_json_stays_json(cli, kb_path, value):
    write_strategy(kb_path, "nan", f"x-n: {value}\n")
    refused(cli, kb_path, "nan", 12, "is not a finite number")


# 6
def test_impossible_date_is_an_error(cli, kb_path):
    path = write_strategy(kb_path, "feb-30")
    path.write_text(path.read_text().replace("2024-03-05", "2024-02-30"))
    refused(cli, kb_path, "feb-30", 7, "created: '2024-02-30' is not a calendar date", False)


def test_real_date_is_valid_and_json_keeps_the_string(cli, kb_path):
    write_strategy(kb_path, "march-5")
    assert cli("validate", kb=kb_path).exit_code == ExitCode.OK
    shown = cli("show", "--json", "march-5", kb=kb_path)
    assert shown.exit_code == ExitCode.OK
    assert '"created": "2024-03-05"' in shown.stdout
    assert json.loads(shown.stdout)["created"] == "2024-03-05"


# 7
@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (strategy_text("x").replace("evidence: promising\n---\n", "evidence: promising\n"), 1,
         "is never closed"),
        ("---\n- id: x\n- type: strategy\n---\nbody\n", 2, "not list"),
        ("---\njust a sentence\n---\nbody\n", 2, "not str"),
        ("---\n---\nbody\n", 2, "not empty"),
        ("# A title\n\nno frontmatter at all\n", 1, "no frontmatter"),
        ("", 1, "the file is empty"),
        ("\n\n  \n", 1, "the file is empty"),
    ],
    ids=["unclosed", "list", "scalar", "empty-block", "missing", "empty-file", "blank-file"],
)  # fmt: skip
def test_broken_frontmatter_is_an_error(cli, kb_path, text, line, fragment):
    (kb_path / STRATEGIES / "broken.md").write_text(text)
    refused(cli, kb_path, "broken", line, fragment)


# 8
def test_bom_is_accepted_never_empty_metadata(cli, kb_path):
    path = kb_path / STRATEGIES / "with-bom.md"
    path.write_bytes(b"\xef\xbb\xbf" + strategy_text("with-bom").encode())
    entry = entries.read_entry(path, kb_path)
    assert entry.meta["id"] == "with-bom"
    assert entry.meta["title"] == "Near-repeat burglary notification"
    assert cli("validate", kb=kb_path).exit_code == ExitCode.OK
    shown = cli("show", "--json", "with-bom", kb=kb_path)
    assert json.loads(shown.stdout)["tlp"] == "green"


# 9
@pytest.mark.parametrize(
    ("data", "line", "fragment"),
    [
        (strategy_text("enc").replace("Repeat", "Caf\u00e9").encode("latin-1"), 15, "0xe9"),
        (strategy_text("enc", body="a\x00b\n").encode(), 13, "NUL bytes"),
    ],
    ids=["latin-1", "nul"],
)
def test_binary_or_latin1_is_an_error_for_that_file_only(cli, kb_path, data, line, fragment):
    (kb_path / STRATEGIES / "enc.md").write_bytes(data)
    write_strategy(kb_path, "neighbour", "tags: [yes]\n")  # a later file still gets checked
    refused(cli, kb_path, "enc", line, fragment)
    result = cli("validate", kb=kb_path)
    assert f"{STRATEGIES}/neighbour.md:12: error: tags.0" in result.stdout


# 10
def test_fifty_megabyte_entry_is_refused_before_parsing(cli, kb_path):
    path = kb_path / STRATEGIES / "huge.md"
    with open(path, "wb") as handle:
        handle.write(strategy_text("huge").encode())
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, cheap on disk
    started = time.perf_counter()
    refused(cli, kb_path, "huge", 1, "the file is 52,428,800 bytes; entries may be at most")
    assert time.perf_counter() - started < 5


def test_five_megabytes_of_frontmatter_is_refused_before_parsing(cli, kb_path):
    config = kb_path / "cacop.yaml"
    config.write_text(config.read_text() + "limits:\n  entry_bytes: 10000000\n")
    filler = "".join(f"x-f{number}: [{'a' * 90}]\n" for number in range(52_000))
    write_strategy(kb_path, "fat", filler)
    started = time.perf_counter()
    refused(cli, kb_path, "fat", 2, "the frontmatter is larger than 65,536 bytes")
    assert time.perf_counter() - started < 5


def test_an_entry_that_is_a_link_is_never_read_through(cli, kb_path, tmp_path):
    outside = tmp_path / "elsewhere.md"
    outside.write_text(strategy_text("linked"))  # a valid entry, but not a file of the KB
    (kb_path / STRATEGIES / "linked.md").symlink_to(outside)
    refused(cli, kb_path, "linked", 1, "the file is a symbolic link; an entry must be a regular")


@pytest.mark.parametrize("args", [["validate"], ["list"], ["gaps"], ["show", "pipe"]])
def test_a_pipe_named_like_an_entry_is_refused_not_waited_on(cacop_exe, kb_path, args):
    os.mkfifo(kb_path / STRATEGIES / "pipe.md")  # nobody ever writes to it
    result = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), *args], capture_output=True, text=True, timeout=30
    )
    said = result.stdout + result.stderr
    assert "Traceback" not in said
    if args[0] == "show":  # not an entry file at all: not found
        assert result.returncode == ExitCode.PROBLEMS and "no entry has the id 'pipe'" in said
        return
    assert result.returncode == (ExitCode.PROBLEMS if args == ["validate"] else ExitCode.OK)
    assert f"{STRATEGIES}/pipe.md:1: error: this is not a regular file (a pipe, a device" in said


# 11
@pytest.mark.parametrize(
    "marker", ["<<<<<<< HEAD", ">>>>>>> beta/main", "<<<<<<< HEAD\r", ">>>>>>>"]
)
def test_conflict_markers_anywhere_are_an_error(cli, kb_path, marker):
    write_strategy(kb_path, "clash", body=f"## Problem\n\nfirst\n{marker}\nsecond\n")
    refused(cli, kb_path, "clash", 16, "git conflict markers")


def test_conflict_markers_in_frontmatter_are_an_error(cli, kb_path):
    write_strategy(kb_path, "clash", "<<<<<<< HEAD\ntags: [a]\n=======\ntags: [b]\n>>>>>>> x\n")
    refused(cli, kb_path, "clash", 12, "git conflict markers")


def test_markdown_heading_underline_is_not_a_conflict_marker(cli, kb_path):
    write_strategy(kb_path, "setext", body="Problem\n=======\n\nA heading underlined.\n")
    assert cli("validate", kb=kb_path).exit_code == ExitCode.OK


# 12 (the RFI engineer tests `rfi close` itself; here the primitive it relies on)
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("bom", ["", "\ufeff"], ids=["no-bom", "bom"])
def test_set_field_changes_only_that_fields_bytes(tmp_path, newline, bom):
    text = bom + (
        "---\nid: open-rfi\ntype: rfi\ntitle: 'Who has # a NIBIN SOP?'  # asked in March\n"
        "status: open\nto:\n  - alpha\n  - beta\n\n# a comment kept as is\nsummary: |\n"
        "  Two lines\n  of summary.\ntlp: green\n---\n## Question\n\nstatus: open in the body\n"
    ).replace("\n", newline)
    path = tmp_path / "open-rfi.md"
    path.write_bytes(text.encode())
    changed = entries.set_field(text, "status", "closed")
    assert changed == text.replace(f"status: open{newline}to:", f"status: closed{newline}to:")
    entries.write_atomic(path, changed)
    assert path.read_bytes() == changed.encode()
    entry = entries.read_entry(path, tmp_path)
    assert entry.meta["status"] == "closed"
    assert entry.body.endswith(f"status: open in the body{newline}")
    title = entries.set_field(text, "title", "Who has an SOP?")
    assert title == text.replace("'Who has # a NIBIN SOP?'", "Who has an SOP?")
    to = entries.set_field(text, "to", ["all"])
    assert to == text.replace(f"to:{newline}  - alpha{newline}  - beta", "to: [all]")
    summary = entries.set_field(text, "summary", "short")
    assert summary == text.replace(f"|{newline}  Two lines{newline}  of summary.", "short")
    added = entries.set_field(text, "updated", "2025-03-01")
    assert added == text.replace(
        f"tlp: green{newline}", f"tlp: green{newline}updated: 2025-03-01{newline}"
    )
    assert entries.parse_text(added)[0]["updated"] == "2025-03-01"


def test_no_file_changes_when_validating(cli, kb_path):
    write_strategy(kb_path, "crlf", body=BODY.replace("\n", "\r\n"))
    before = snapshot(kb_path)
    assert cli("validate", kb=kb_path).exit_code == ExitCode.OK
    assert snapshot(kb_path) == before
    assert sorted(os.listdir(kb_path / STRATEGIES)) == sorted(
        name.rsplit("/", 1)[-1] for name in before if name.startswith(STRATEGIES)
    )
