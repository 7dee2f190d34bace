"""The fixture knowledge bases: valid, invalid (one file per fault) and warnings only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixturefiles import FILES
from kbtools import no_traceback, snapshot

from cacop_cli.errors import ExitCode

# file (relative to the KB) -> (line, fragment of the message) that `validate FILE` must print
INVALID = {
    "kb/strategies/bad-python-tag.md": (12, "the YAML tag tag:yaml.org,2002:python/object/apply"),
    "kb/strategies/bad-alias-bomb.md": (13, "YAML aliases (*name) are not allowed"),
    "kb/strategies/bad-deep-nesting.md": (12, "nesting depth"),
    "kb/strategies/bad-duplicate-key.md": (12, "duplicate field 'tlp'"),
    "kb/strategies/bad-yes-no-tags.md": (12, "YAML reads a bare yes as true; put it in quotes"),
    "kb/strategies/bad-site-no.md": (5, "YAML reads a bare NO as false; put it in quotes: 'NO'"),
    "kb/strategies/bad-id-number.md": (2, "YAML reads 0123 as the number 83; put it in quotes"),
    "kb/strategies/bad-date-feb-30.md": (7, "created: '2024-02-30' is not a calendar date"),
    "kb/strategies/bad-date-words.md": (7, "created: 'next week' is not a date (YYYY-MM-DD)"),
    "kb/strategies/bad-unclosed-frontmatter.md": (1, "is never closed"),
    "kb/strategies/bad-list-frontmatter.md": (2, "not list"),
    "kb/strategies/bad-scalar-frontmatter.md": (2, "not str"),
    "kb/strategies/bad-no-frontmatter.md": (1, "no frontmatter"),
    "kb/strategies/bad-empty-file.md": (1, "the file is empty"),
    "kb/strategies/bad-latin1.md": (19, "byte 0xe9 is not UTF-8 text"),
    "kb/strategies/bad-nul-bytes.md": (20, "NUL bytes"),
    "kb/strategies/bad-conflict-markers.md": (19, "git conflict markers"),
    "kb/strategies/bad-unknown-field.md": (12, "unknown field 'colour'"),
    "kb/strategies/bad-missing-title.md": (1, "missing required field 'title'"),
    "kb/strategies/bad-tlp-value.md": (9, "tlp: 'white' is not one of: clear, green"),
    "kb/strategies/bad-topic.md": (8, "topics.0: 'burglary' is not one of"),
    "kb/strategies/bad-status.md": (10, "status: 'finished' is not one of"),
    "kb/strategies/bad-title-too-long.md": (4, "title: too long (201 characters; at most 200)"),
    "kb/strategies/bad-id-mismatch.md": (2, "does not match the file name 'bad-id-mismatch.md'"),
    "kb/strategies/bad-unknown-site.md": (5, "site: 'zeta' is not in kb/sites.yaml"),
    "kb/strategies/bad-updated-before-created.md": (12, "updated: 2024-01-01 is before created"),
    "kb/strategies/bad-related-missing.md": (12, "related: no entry has the id 'nowhere-entry'"),
    "kb/strategies/bad-wrong-folder.md": (3, "a work-product belongs in kb/work-products/"),
    "kb/work-products/bad-attachment-dotdot.md": (11, "attachment '../x': must be a plain file"),
    "kb/work-products/bad-attachment-absolute.md": (11, "attachment '/etc/hostname': must be"),
    "kb/work-products/bad-attachment-nested-dotdot.md": (11, "attachment 'a/../../x': must be"),
    "kb/work-products/bad-attachment-missing.md": (11, "'bulletin.docx': not found"),
    "kb/rfis/bad-needed-by-words.md": (12, "needed_by: 'next week' is not a date (YYYY-MM-DD)"),
    "kb/rfis/good-amber-rfi/responses/bad-response-less-strict.md": (
        9,
        "tlp: green is less strict than the RFI's amber",
    ),
    "kb/rfis/good-amber-rfi/responses/bad-response-to-missing-rfi.md": (
        10,
        "rfi: no RFI has the id 'no-such-rfi'",
    ),
    "kb/rfis/good-amber-rfi/responses/bad-duplicate-id.md": (
        2,
        "id: 'bad-duplicate-id' is already used by kb/strategies/bad-duplicate-id.md",
    ),
}


@pytest.fixture
def invalid_kb(tmp_path) -> Path:
    target = tmp_path / "invalid"
    shutil.copytree(FILES / "invalid", target)
    return target


@pytest.fixture
def warnings_kb(tmp_path) -> Path:
    target = tmp_path / "warnings"
    shutil.copytree(FILES / "warnings", target)
    return target


def test_every_fault_file_is_in_the_table():
    on_disk = {
        path.relative_to(FILES / "invalid").as_posix()
        for path in (FILES / "invalid" / "kb").rglob("bad-*.md")
    }
    assert on_disk == set(INVALID) | {"kb/strategies/bad-duplicate-id.md"}


@pytest.mark.parametrize("rel", sorted(INVALID), ids=lambda rel: Path(rel).stem)
def test_validate_names_file_line_and_fault(cli, invalid_kb, rel, monkeypatch):
    line, fragment = INVALID[rel]
    before = snapshot(invalid_kb)
    monkeypatch.chdir(invalid_kb)
    result = cli("validate", rel)
    no_traceback(result)
    assert result.exit_code == ExitCode.PROBLEMS, result.stdout + result.stderr
    expected = f"{rel}:{line}: error: "
    lines = [text for text in result.stdout.splitlines() if text.startswith(expected)]
    assert any(fragment in text for text in lines), result.stdout
    assert snapshot(invalid_kb) == before
    assert not (invalid_kb / "PWNED").exists()


def test_whole_invalid_kb_json_lists_every_fault_and_still_checks_good_files(cli, invalid_kb):
    result = cli("validate", "--json", kb=invalid_kb)
    assert result.exit_code == ExitCode.PROBLEMS
    document = json.loads(result.stdout)
    assert document["ok"] is False
    paths = {problem["path"] for problem in document["problems"]}
    assert set(INVALID) <= paths
    assert "kb/strategies/good-target.md" not in paths
    assert "kb/rfis/good-amber-rfi.md" not in paths
    for problem in document["problems"]:
        assert set(problem) >= {"path", "line", "severity", "message"}
        assert problem["severity"] == "error"


def test_warnings_only_kb_exits_0_and_lists_each_warning(cli, warnings_kb):
    result = cli("validate", kb=warnings_kb)
    no_traceback(result)
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert "kb/strategies/warn-bidi-title.md:4: warning: title: holds an invisible" in (
        result.stdout
    )
    assert "kb/strategies/warn-control-in-summary.md:12: warning: summary:" in result.stdout
    assert "kb/strategies/warn-escape-in-body.md:19: warning: the body holds" in result.stdout
    assert "0 error(s), 3 warning(s)" in result.stderr
    document = json.loads(cli("validate", "--json", kb=warnings_kb).stdout)
    assert document["ok"] is True
    assert [problem["severity"] for problem in document["problems"]] == ["warning"] * 3


def test_valid_fixture_kb_has_no_findings(cli, kb_path):
    result = cli("validate", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK
    assert json.loads(result.stdout) == {"ok": True, "problems": []}
