"""Settings files are read like entries (issue 13 item 9): cacop.yaml, kb/sites.yaml and
kb/vocabulary.yaml arrive by pull just as entries do, so a link, a pipe, a device or a huge
file is an error naming that file, never a hang or a MemoryError."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cacop_cli.config import SETTINGS_MAX_BYTES
from cacop_cli.errors import ExitCode

SETTINGS = ["cacop.yaml", "kb/sites.yaml", "kb/vocabulary.yaml"]
FAULTS = {
    "link": "symbolic link",
    "fifo": "not a regular file",
    "dev-zero": "symbolic link",
    "oversize": f"at most {SETTINGS_MAX_BYTES:,}",
}


def spoil(path: Path, fault: str, tmp_path: Path) -> None:
    original = path.read_bytes() if path.exists() else b"{}\n"
    path.unlink(missing_ok=True)
    if fault == "link":  # a link to a perfectly good copy: still refused, as for entries
        copy = tmp_path / f"elsewhere-{path.name}"
        copy.write_bytes(original)
        path.symlink_to(copy)
    elif fault == "fifo":
        os.mkfifo(path)
    elif fault == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes(original + b"#" * SETTINGS_MAX_BYTES + b"\n")


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", SETTINGS)
def test_a_settings_file_that_is_not_a_plain_file_is_an_error_naming_it(
    cacop_exe, kb_path, tmp_path, name, fault
):
    spoil(kb_path / name, fault, tmp_path)
    result = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), "validate"],
        capture_output=True,
        text=True,
        timeout=60,  # a FIFO or /dev/zero read would block or fill memory instead
        env={**os.environ, "COLUMNS": "200"},
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "MemoryError" not in output
    assert FAULTS[fault] in output, output
    if name == "cacop.yaml":
        assert result.returncode == ExitCode.NO_KB
        assert f"{kb_path / name}:1:" in result.stderr
    else:
        assert result.returncode == ExitCode.PROBLEMS
        assert f"{name}:1:" in output


@pytest.mark.parametrize("fault", ["fifo", "dev-zero"])
def test_search_still_answers_when_the_vocabulary_is_a_trap(cli, kb_path, tmp_path, fault):
    spoil(kb_path / "kb/vocabulary.yaml", fault, tmp_path)
    result = cli("search", "moral voices", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "alpha-2024-focused-deterrence-call-ins" in result.stdout
