"""`cacop init` and `cacop new` end to end, with real git."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from kbtools import snapshot

from cacop_cli import entries, yamlsafe
from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode

from conftest import git

SARA = ["## Problem", "## Analysis", "## Response", "## Assessment", "## Lessons"]


def test_init_creates_a_complete_kb_with_a_first_commit(cli, tmp_path):
    target = tmp_path / "memphis-kb"
    result = cli("init", str(target), "--site", "memphis", "--state", "tn")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert result.stdout.strip() == str(target)
    tracked = set(git(target, "ls-files").split())
    assert {
        "cacop.yaml",
        "kb/sites.yaml",
        "kb/vocabulary.yaml",
        ".gitignore",
        ".github/workflows/cacop.yml",
        ".github/pull_request_template.md",
        ".gitlab-ci.yml",
        ".pre-commit-config.yaml",
        "schemas/common.schema.json",
        "schemas/strategy.schema.json",
        "schemas/work-product.schema.json",
        "schemas/rfi.schema.json",
        "schemas/response.schema.json",
        "schemas/cacop-config.schema.json",
        "schemas/sites.schema.json",
    } <= tracked
    for folder in ("strategies", "work-products", "rfis"):
        assert (target / "kb" / folder).is_dir()
    assert git(target, "status", "--porcelain") == ""
    assert git(target, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(target, "branch", "--show-current").strip() == "main"
    assert (target / ".gitignore").read_text() == ".cacop/\n"
    assert "cacop validate" in (target / ".github/workflows/cacop.yml").read_text()
    assert "cacop validate" in (target / ".gitlab-ci.yml").read_text()
    assert "cacop validate" in (target / ".pre-commit-config.yaml").read_text()
    sites = cli("validate", "--json", kb=target)
    assert sites.exit_code == ExitCode.OK, sites.stdout
    assert "state: TN" in (target / "kb/sites.yaml").read_text()
    assert "disable:" in (target / "kb/vocabulary.yaml").read_text()  # says how to extend it


def test_a_new_kb_knows_the_fields_vocabulary(cli, tmp_path):
    target = tmp_path / "fresh-kb"
    assert cli("init", str(target), "--site", "memphis").exit_code == ExitCode.OK
    entry = target / "kb" / "strategies" / "memphis-2024-plate-readers.md"
    entry.write_text(
        "---\nid: memphis-2024-plate-readers\ntype: strategy\n"
        "title: Plate readers on the corridor\n"
        "site: memphis\ncreated: 2024-03-01\nauthors: [A. Analyst]\ntlp: green\n"
        "status: active\ntopics: [technology]\nsummary: Cameras that read plates.\n---\n"
        "We put a license plate reader on every approach.\n"
    )
    found = cli("search", "ALPR", "--json", kb=target)
    assert [hit["id"] for hit in json.loads(found.stdout)["results"]] == [
        "memphis-2024-plate-readers"
    ], found.stderr


def test_init_refuses_an_existing_kb_and_touches_nothing(cli, git_kb):
    before = snapshot(git_kb)
    head = git(git_kb, "rev-parse", "HEAD")
    result = cli("init", str(git_kb), "--site", "alpha")
    assert result.exit_code == ExitCode.PROBLEMS
    assert "already a cacop knowledge base" in result.stderr
    assert snapshot(git_kb) == before
    assert git(git_kb, "rev-parse", "HEAD") == head


def test_init_refuses_a_folder_with_other_files(cli, tmp_path):
    target = tmp_path / "project"
    target.mkdir()
    (target / "notes.txt").write_text("private\n")
    result = cli("init", str(target), "--site", "memphis")
    assert result.exit_code == ExitCode.PROBLEMS
    assert sorted(path.name for path in target.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("option", ["--name", "--agency", "--state"])
def test_init_refuses_a_value_that_would_add_lines_to_the_settings(cli, tmp_path, option):
    root = tmp_path / "kb"
    value = "Our KB\nshare:\n  max_tlp: red"  # a field of its own, were it written as is
    result = cli("init", str(root), "--site", "alpha", option, value)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith(f"error: {option} ")
    assert "must be one line of text; nothing was changed" in result.stderr
    assert not root.exists()


def test_init_writes_names_that_look_like_yaml_as_the_text_given(cli, tmp_path):
    root = tmp_path / "kb"
    name = 'Delta: "the" KB # not a comment'
    result = cli("init", str(root), "--site", "alpha", "--name", name, "--agency", "yes",
                 "--state", "no")  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.stderr
    assert load_kb(root).name == name
    sites = yamlsafe.load((root / "kb/sites.yaml").read_text()).value
    assert sites["alpha"]["agency"] == "yes" and sites["alpha"]["state"] == "NO"
    assert cli("validate", kb=root).exit_code == ExitCode.OK


@pytest.mark.parametrize(
    ("title", "slug"),
    [("Ünïcödé café: hot spots", "unicode-cafe-hot-spots"), ("中文标题", "entry"),
     ("x" * 90, "x" * 60), ("Near-repeat " + "y" * 70, "near-repeat")],
)  # fmt: skip
def test_a_title_becomes_a_readable_slug_within_the_limit(title, slug):
    assert entries.slugify(title) == slug


def test_new_refuses_a_title_longer_than_200_characters_without_writing(cli, kb_path):
    before = snapshot(kb_path)
    result = cli("new", "strategy", "--title", "x" * 201, "--topic", "crime-analysis",
                 "--no-edit", kb=kb_path)  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert (
        result.stderr.splitlines()[0]
        == "error: --title: the title is 201 characters; a title holds at most 200"
    )
    assert snapshot(kb_path) == before


def test_init_refuses_a_bad_site_slug(cli, tmp_path):
    result = cli("init", str(tmp_path / "x"), "--site", "Bad Site")
    assert result.exit_code == ExitCode.USAGE
    assert not (tmp_path / "x").exists()


def test_new_strategy_end_to_end(cli, tmp_path):
    root = tmp_path / "memphis-kb"
    assert cli("init", str(root), "--site", "memphis").exit_code == ExitCode.OK
    title = "Near-repeat burglary notification: letters within 48 hours!"
    result = cli(
        "new", "strategy", "--title", title, "--topic", "crime-analysis",
        "--topic", "community-engagement", "--tag", "near-repeat", "--no-edit", kb=root,
    )  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.stderr
    year = dt.date.today().year
    entry_id = f"memphis-{year}-near-repeat-burglary-notification-letters-within-48-hours"
    path = root / "kb" / "strategies" / f"{entry_id}.md"
    assert result.stdout.strip() == str(path)  # one line, never wrapped
    entry = entries.read_entry(path, root)
    assert entry.meta["id"] == entry_id
    assert entry.meta["title"] == title
    assert entry.meta["site"] == "memphis"
    assert entry.meta["authors"] == ["Test Analyst"]  # git's user.name
    assert entry.meta["created"] == dt.date.today().isoformat()
    assert entry.meta["topics"] == ["crime-analysis", "community-engagement"]
    assert entry.meta["tags"] == ["near-repeat"]
    assert entry.meta["tlp"] == "green"
    positions = [entry.body.index(heading) for heading in SARA]
    assert positions == sorted(positions)
    assert cli("validate", kb=root).exit_code == ExitCode.OK
    again = cli("new", "strategy", "--title", title, "--topic", "crime-analysis", "--no-edit",
                kb=root)  # fmt: skip
    assert again.stdout.strip().endswith(f"{entry_id}-2.md")
    shown = json.loads(cli("show", "--json", f"{entry_id}-2", kb=root).stdout)
    assert shown["path"] == f"kb/strategies/{entry_id}-2.md"


def test_new_with_author_and_editor(cli, kb_path, tmp_path, monkeypatch):
    editor = tmp_path / "editor"
    editor.write_text('#!/bin/sh\nprintf "\\nEdited by the analyst.\\n" >> "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    result = cli(
        "new", "work-product", "--title", "Gun crime bulletin", "--topic", "gun-violence",
        "--author", "Pat Analyst", "--tlp", "clear", kb=kb_path,
    )  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.stderr
    entry = entries.read_entry(
        kb_path / "kb/work-products" / f"alpha-{dt.date.today().year}-gun-crime-bulletin.md",
        kb_path,
    )
    assert entry.meta["authors"] == ["Pat Analyst"]
    assert entry.meta["tlp"] == "clear"
    assert entry.body.endswith("Edited by the analyst.\n")


@pytest.mark.parametrize(
    ("editor", "code", "said"),
    [
        ("sh -c 'exit 3' --", ExitCode.OK, "warning: the editor exited with code 3; the entry "
         "is kept as it left it"),
        ("no-such-editor-here", ExitCode.USAGE, "error: cannot start the editor "
         "'no-such-editor-here': No such file or directory"),
        ("vim 'unbalanced", ExitCode.USAGE, "error: cannot start the editor \"vim 'unbalanced\": "
         "No closing quotation"),
    ],
)  # fmt: skip
def test_an_editor_that_fails_or_cannot_start_says_where_the_entry_is(
    cli, kb_path, monkeypatch, editor, code, said
):
    monkeypatch.setenv("EDITOR", editor)
    monkeypatch.delenv("VISUAL", raising=False)
    result = cli("new", "strategy", "--title", "Editor trouble", "--topic", "crime-analysis",
                 "--author", "Pat Analyst", kb=kb_path)  # fmt: skip
    path = kb_path / "kb/strategies" / f"alpha-{dt.date.today().year}-editor-trouble.md"
    assert result.exit_code == code
    assert said in result.stderr.splitlines()
    assert path.is_file()  # the template is kept either way, and the messages say where
    assert str(path) in result.stdout + result.stderr


def test_new_refuses_bad_choices_without_writing(cli, kb_path):
    before = snapshot(kb_path)
    for args in (
        ["new", "strategy", "--title", "x", "--topic", "burglary"],
        ["new", "strategy", "--title", "x", "--topic", "crime-analysis", "--tlp", "white"],
        ["new", "response", "--title", "x", "--topic", "crime-analysis"],
        ["new", "strategy", "--title", "  ", "--topic", "crime-analysis"],
    ):
        result = cli(*args, "--no-edit", kb=kb_path)
        assert result.exit_code == ExitCode.USAGE, (args, result.stderr)
    assert snapshot(kb_path) == before


def test_init_names_the_sites_fields_it_filled_with_placeholders(cli, tmp_path):
    guessed = cli("init", str(tmp_path / "a"), "--site", "baton-rouge", "--agency", "BRPD")
    assert guessed.exit_code == 0, guessed.stderr
    assert "kb/sites.yaml has placeholders" in guessed.stderr
    assert "baton-rouge.name: Baton Rouge" in guessed.stderr
    assert "baton-rouge.state: XX" in guessed.stderr
    assert "agency" not in guessed.stderr.split("placeholders")[1].split("\n")[0]
    told = cli("init", str(tmp_path / "b"), "--site", "memphis", "--state", "tn")
    assert "memphis.agency: Memphis Police Department" in told.stderr
    assert "state" not in told.stderr.split("placeholders")[1].split("\n")[0]
