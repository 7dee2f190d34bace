"""read_regular_file reads as many bytes as the file holds, never more than the limit, also
when the file grows between the size check and the read."""

from __future__ import annotations

import os

import pytest

from cacop_cli import safefile
from cacop_cli.errors import EntryError


@pytest.mark.parametrize("size", [0, 1, 99, 100])
def test_a_file_within_the_limit_is_read_whole(tmp_path, size):
    path = tmp_path / "entry.md"
    path.write_bytes(b"x" * size)
    assert safefile.read_regular_file(path, 100) == b"x" * size


def test_a_file_over_the_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "entry.md"
    path.write_bytes(b"x" * 101)
    with pytest.raises(EntryError) as refused:
        safefile.read_regular_file(path, 100)
    assert refused.value.code == "too-large"


@pytest.mark.parametrize(("written", "refused"), [(60, False), (100, False), (101, True)])
def test_a_file_that_grew_after_its_size_was_taken_is_read_whole_or_refused(
    tmp_path, monkeypatch, written, refused
):
    path = tmp_path / "entry.md"
    path.write_bytes(b"y" * written)
    real_fstat = os.fstat

    def earlier_size(descriptor):  # the size as it was before the file grew to `written`
        info = real_fstat(descriptor)
        return os.stat_result((*info[:6], 10, *info[7:]))

    monkeypatch.setattr(safefile.os, "fstat", earlier_size)
    if refused:
        with pytest.raises(EntryError) as error:
            safefile.read_regular_file(path, 100)
        assert error.value.code == "too-large"
    else:
        assert safefile.read_regular_file(path, 100) == b"y" * written
