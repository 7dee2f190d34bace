"""The fixture knowledge bases of tests/files, as every test reads them: a copy made once per
test process. A command run on a fixture in place writes its `.cacop/` there (an index, the
kept sites.yaml), and every later copy of that fixture would then carry it along, so a test
passed or failed by the order the tests ran in. No test can write into the repository's
own files this way."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def _copied() -> Path:
    place = Path(tempfile.mkdtemp(prefix="cacop-fixtures-"))
    atexit.register(shutil.rmtree, place, True)
    target = place / "files"
    shutil.copytree(
        Path(__file__).parent / "files",
        target,
        symlinks=True,
        ignore=shutil.ignore_patterns(".cacop"),
    )
    return target


FILES = _copied()
