"""Hostile input, group C (docs/architecture.md): attachments and ids that would lead outside
the KB."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from kbtools import no_traceback, opened_paths, snapshot

from cacop_cli import ops
from cacop_cli.config import KB, load_kb
from cacop_cli.entries import check_id, entry_path
from cacop_cli.errors import ExitCode, UsageError

from conftest import git

WORK_PRODUCT = "kb/work-products/alpha-2024-shooting-review-checklist.md"
FOLDER = "kb/work-products/alpha-2024-shooting-review-checklist"


def set_attachments(kb: Path, value: str) -> None:
    path = kb / WORK_PRODUCT
    path.write_text(
        path.read_text().replace("attachments: [checklist.md]", f"attachments: {value}")
    )


def assert_refused(cli, kb: Path, name: str, reason: str, secret: Path | None = None) -> None:
    before = snapshot(kb)
    with opened_paths() as opened:
        result = cli("validate", kb=kb)
    no_traceback(result)
    assert result.exit_code == ExitCode.PROBLEMS, result.stdout
    assert f"{WORK_PRODUCT}:12: error: attachment {name!r}: {reason}" in result.stdout
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    touched = [path for path in opened if Path(path).name == base]
    assert not touched, touched
    if secret is not None:
        assert not [path for path in opened if Path(path).name == secret.name]
    assert snapshot(kb) == before


# 17
@pytest.mark.parametrize("name", ["../x", "/etc/hostname", "a/../../x", "..", "-rf", "a\\..\\x"])
def test_attachment_outside_the_folder_is_refused_unopened(cli, kb_path, name):
    (kb_path / "kb/work-products/x").write_text("a file a naive join would find\n")
    (kb_path / FOLDER / "a").mkdir()
    yaml_name = "'" + name.replace("'", "''") + "'"
    set_attachments(kb_path, f"[{yaml_name}]")
    assert_refused(cli, kb_path, name, "must be a plain file name inside the entry's own folder")


# 18
def test_attachment_that_is_a_symlink_is_refused_unopened(cli, kb_path, tmp_path):
    secret = tmp_path / "secret-roster.csv"
    secret.write_text("name,dob\n")
    (kb_path / FOLDER / "roster.csv").symlink_to(secret)
    set_attachments(kb_path, "[checklist.md, roster.csv]")
    assert_refused(cli, kb_path, "roster.csv", "is a symbolic link", secret)


def test_symlink_inside_the_folder_pointing_inside_is_still_refused(cli, kb_path):
    (kb_path / FOLDER / "copy.md").symlink_to("checklist.md")
    set_attachments(kb_path, "[copy.md]")
    assert_refused(cli, kb_path, "copy.md", "is a symbolic link")


def test_attachment_folder_that_is_a_symlink_is_refused(cli, kb_path, tmp_path):
    outside = tmp_path / "outside"
    (kb_path / FOLDER).rename(outside)
    (kb_path / FOLDER).symlink_to(outside, target_is_directory=True)
    assert_refused(
        cli,
        kb_path,
        "checklist.md",
        "the folder alpha-2024-shooting-review-checklist/ is a symbolic link",
        outside / "checklist.md",
    )


def test_symlinked_attachment_that_arrived_by_pull_is_refused(cli, git_kb, tmp_path):
    other = tmp_path / "other-site"
    git(tmp_path, "clone", "-q", str(git_kb), str(other))
    (other / FOLDER / "roster.csv").symlink_to("/etc/hostname")
    set_attachments(other, "[checklist.md, roster.csv]")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "add a roster")
    git(git_kb, "pull", "-q", str(other), "main")
    assert (git_kb / FOLDER / "roster.csv").is_symlink()
    assert_refused(cli, git_kb, "roster.csv", "is a symbolic link", Path("/etc/hostname"))


def test_fifo_attachment_is_refused_without_blocking(cli, kb_path):
    os.mkfifo(kb_path / FOLDER / "pipe.csv")  # opening it for reading would hang the test
    set_attachments(kb_path, "[pipe.csv]")
    assert_refused(cli, kb_path, "pipe.csv", "is not a regular file")


def test_attachment_over_the_size_limit_is_refused(cli, kb_path):
    config = kb_path / "cacop.yaml"
    config.write_text(config.read_text() + "limits:\n  attachment_bytes: 100\n")
    with open(kb_path / FOLDER / "big.bin", "wb") as handle:
        handle.truncate(101)
    set_attachments(kb_path, "[big.bin]")
    assert_refused(cli, kb_path, "big.bin", "is 101 bytes; the limit in cacop.yaml is 100")


# 19
BAD_IDS = ["..", "../kb", "a/b", "../../etc/passwd", "Capital-id", "x" * 81, "ab", "a b c", "é-id"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_bad_ids_are_rejected_by_show_before_any_path(cli, kb_path, bad_id):
    before = snapshot(kb_path)
    with opened_paths() as opened:
        result = cli("show", "--", bad_id, kb=kb_path)
    no_traceback(result)
    assert result.exit_code == ExitCode.USAGE
    assert "is not an entry id" in result.stderr
    inside = [path for path in opened if path.startswith(str(kb_path))]  # not ~/.local/state
    # the index's own files have random hex names ("ab" is in gen-…ab…, now and then)
    named = [path for path in inside if not path.startswith(str(kb_path / ".cacop"))]
    assert not [path for path in named if bad_id in path], opened
    if any(mark in bad_id for mark in ("/", "..")):  # a path, never a title: nothing is read
        assert not [path for path in inside if "/kb/" in path], opened
    assert snapshot(kb_path) == before


@pytest.mark.parametrize("bad_id", ["-evil", "--output=PWNED"])
def test_leading_dash_is_never_an_option_nor_an_id(cli, kb_path, bad_id):
    as_option = cli("show", bad_id, kb=kb_path)
    assert as_option.exit_code == ExitCode.USAGE
    after_dashes = cli("show", "--", bad_id, kb=kb_path)
    assert after_dashes.exit_code == ExitCode.USAGE
    assert "is not an entry id" in after_dashes.stderr
    assert not list(kb_path.rglob("PWNED*"))


class PathlessKB(KB):
    """A KB that fails the test if anything builds a path under it."""

    @property
    def kb_dir(self) -> Path:
        raise AssertionError("a path was built from an id that should have been refused")


@pytest.mark.parametrize("bad_id", [*BAD_IDS, "-evil"])
def test_locate_refuses_before_building_a_path(kb_path, bad_id):
    kb = load_kb(kb_path)
    pathless = PathlessKB(**{name: getattr(kb, name) for name in kb.__dataclass_fields__})
    with pytest.raises(UsageError), opened_paths() as opened:
        ops.locate(pathless, bad_id)
    assert opened == []
    with pytest.raises(UsageError):
        entry_path(kb_path, "strategy", bad_id)
    with pytest.raises(UsageError):
        entry_path(kb_path, "response", "alpha-20250101-ok", rfi=bad_id)


def test_longest_valid_id_is_accepted_and_simply_not_found(cli, kb_path):
    longest = "a" * 80
    assert check_id(longest) == longest
    result = cli("show", longest, kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "no entry has the id" in result.stderr


def test_bad_id_as_a_subprocess_has_no_traceback(cacop_exe, kb_path):
    result = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), "show", "--", "../../etc/passwd"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == ExitCode.USAGE
    assert result.stdout == ""
    assert "'../../etc/passwd' is not an entry id" in result.stderr
    assert "Traceback" not in result.stderr
