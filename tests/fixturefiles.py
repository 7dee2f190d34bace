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


def aged_ctimes(root: Path) -> None:
    """Wait until the newest ctime under `root` is older than the racy window (scan.RACY_NS
    in a real process: 2 s), so that an index made now holds no racy file. A copy keeps
    its files' mtimes but gives them fresh ctimes, and a subprocess of cacop run on it
    within the window reads its files again, as it must (tests/test_freshness.py)."""
    import time

    newest = max(path.stat().st_ctime_ns for path in root.rglob("*"))
    time.sleep(max(0.0, (newest + 2_100_000_000 - time.time_ns()) / 1e9))
