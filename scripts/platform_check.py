"""Fail on any call that does not exist on Windows or macOS, as mypy sees it.

Runs `mypy --platform win32` and `--platform darwin` over cacop_cli and reports only the
errors that name a missing module attribute (os.O_NOFOLLOW, fcntl.flock, signal.SIGKILL …):
those are the calls that crash there. A use guarded by `hasattr` or `sys.platform` that mypy
cannot follow is marked `# type: ignore[attr-defined]` at the line, with the guard beside it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MISSING = re.compile(r'error: Module has no attribute|error: Module "[\w.]+" has no attribute')


def missing_attributes(platform: str) -> list[str]:
    result = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--platform", platform, "--ignore-missing-imports",
            "--no-error-summary", "--no-incremental", "--follow-imports=silent", "cacop_cli",
        ],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode not in (0, 1):
        sys.exit(f"mypy failed to run for {platform}:\n{result.stderr or result.stdout}")
    return [line for line in result.stdout.splitlines() if MISSING.search(line)]


def main() -> int:
    found = {platform: missing_attributes(platform) for platform in ("win32", "darwin")}
    for platform, lines in found.items():
        for line in lines:
            print(f"{platform}: {line}")
    if any(found.values()):
        print("calls above do not exist on that system: give each a working alternative")
        return 1
    print("no POSIX-only call without an alternative (win32, darwin)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
