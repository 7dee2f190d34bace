"""The README's "first ten minutes": every line of its block runs, in order, as written,
in a clone of a real (bare) remote holding the bundled knowledge base."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

from conftest import REPO, git

FILLED_BODY = """## Problem

Shootings clustered in four micro-places along one corridor since spring.

## Analysis

AVL pings joined to 150-metre hot spot polygons showed visits of under five minutes.

## Response

Fifteen-minute visits, randomised across the shift, for twelve weeks.

## Assessment

Calls for service fell against matched comparison places; shootings were too few to judge.

## Lessons

Agree the dosage measure with patrol supervisors before the first week.
"""


def day_block() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## An analyst's first ten minutes", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def fill_editor(tmp_path: Path) -> str:
    """An EDITOR that writes a filled-in body under the entry's frontmatter."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\n"
        "path = sys.argv[1]\n"
        "text = open(path, encoding='utf-8').read()\n"
        "head = text[: text.index('\\n---', 3) + 5]\n"
        f"open(path, 'w', encoding='utf-8').write(head + {FILLED_BODY!r})\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{sys.executable} {script}"


def test_every_line_of_the_readme_day_runs(tmp_path, cacop_exe):
    lines = day_block()
    assert lines[0].startswith("git clone ") and len(lines) >= 12
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(REPO), str(seed)], check=True)
    git(seed, "branch", "-M", "main")  # the KB's branch, whatever this checkout's is
    remote = tmp_path / "community-kb.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    year = str(dt.date.today().year)
    env = {**os.environ, "EDITOR": fill_editor(tmp_path), "NO_COLOR": "1", "COLUMNS": "120"}
    env.pop("CACOP_SITE", None)
    clone = None
    said: dict[str, str] = {}
    for line in lines:
        line = re.sub(r"memphis-20\d\d-", f"memphis-{year}-", line)
        if line.startswith("git clone "):
            clone = tmp_path / "community-kb"
            git(tmp_path, "clone", "-q", str(remote), str(clone))
            continue
        words = shlex.split(line)
        assert words[0] == "cacop", line
        done = subprocess.run(
            [*cacop_exe, *words[1:]], cwd=clone, env=env, capture_output=True, text=True,
            timeout=300, stdin=subprocess.DEVNULL,  # a write that had to ask would refuse
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr
        said[line] = done.stdout + done.stderr
    assert "git config cacop.site" in said["cacop whoami"]  # set by the block's first line
    assert "memphis" in said["cacop whoami"] and "T. Okafor" in said["cacop whoami"]
    entry = f"memphis-{year}-hot-spots-dosage-with-avl"
    assert "T. Okafor" in (clone / "kb" / "strategies" / f"{entry}.md").read_text("utf-8")
    branches = git(remote, "branch", "--list", f"submit/{entry}")
    assert f"submit/{entry}" in branches  # shared for review, on the real remote
    status = [text for line, text in said.items() if line == "cacop status"]
    assert status and entry in status[-1]
