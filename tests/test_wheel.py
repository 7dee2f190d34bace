"""The release as a site gets it: the built wheel, installed in a fresh virtual environment
outside this checkout, creates a KB, writes an entry and finds it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cacop_cli import __version__
from cacop_cli.schemas import SCHEMA_NAMES

REPO = Path(__file__).parent.parent
# The wheels of cacop's dependencies, kept between runs (`make clean` removes them): the
# first run fills it from the package index, later runs install from it offline.
WHEELHOUSE = REPO / ".venv" / "wheelhouse"
SPEC = f"cacop @ git+https://forge.invalid/psp/cacop.git@v{__version__}"


def run(*command: object, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def install(wheel: Path, venv: Path, cwd: Path) -> None:
    """Install the wheel and its dependencies; offline once the wheelhouse holds them."""
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q"]
    offline = [*pip, "--no-compile", "--no-index", "--find-links", WHEELHOUSE, wheel]
    attempt = subprocess.run([str(part) for part in offline], capture_output=True, check=False)
    if attempt.returncode != 0:  # a fresh machine, or a dependency changed: fetch the wheels
        run(sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", WHEELHOUSE, wheel, cwd=cwd)
        for stale in WHEELHOUSE.glob("cacop-*.whl"):  # never install an old build of ours
            stale.unlink()
        run(*offline, cwd=cwd)


@pytest.mark.slow
def test_the_built_wheel_installs_and_works_outside_the_checkout(tmp_path):
    outside = tmp_path / "site-machine"
    outside.mkdir()
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "dist",
        REPO, cwd=outside)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("cacop-*.whl")
    assert wheel.name == f"cacop-{__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SCHEMA_NAMES:  # everything read at run time
        assert f"cacop_cli/schemas/{name}.schema.json" in names
    for template in ("strategy", "work-product", "rfi", "response"):
        assert f"cacop_cli/templates/{template}.md" in names
    assert "cacop_cli/data/vocabulary.yaml" in names  # the default vocabulary every KB uses
    assert not any(name.startswith(("tests/", "kb/", "scripts/")) for name in names)

    venv = outside / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=outside)
    install(wheel, venv, outside)
    cacop = venv / "bin" / "cacop"
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ["HOME"], "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"],
        "GIT_CONFIG_GLOBAL": os.environ["GIT_CONFIG_GLOBAL"], "GIT_CONFIG_NOSYSTEM": "1",
        "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "100",
    }  # fmt: skip

    version = run(cacop, "--version", cwd=outside, env=env)
    assert version.stdout == f"cacop {__version__}\n"  # installed: no checkout, no commit
    located = run(venv / "bin" / "python", "-c", "import cacop_cli; print(cacop_cli.__file__)",
                  cwd=outside, env=env)  # fmt: skip
    assert not Path(located.stdout.strip()).is_relative_to(REPO)

    unknown = subprocess.run([cacop, "init", "kb", "--site", "alpha"], cwd=outside, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert unknown.returncode == 2 and "--cacop-spec" in unknown.stderr  # a local wheel
    run(cacop, "init", "kb", "--site", "alpha", "--cacop-spec", SPEC, cwd=outside, env=env)
    kb = outside / "kb"
    assert f"requires: {SPEC}" in (kb / "cacop.yaml").read_text("utf-8")
    assert (kb / "schemas" / "strategy.schema.json").is_file()
    created = run(cacop, "new", "strategy", "--title", "Hot spots dosage with AVL",
                  "--topic", "crime-analysis", "--no-edit", cwd=kb, env=env)  # fmt: skip
    assert Path(created.stdout.strip()).is_file()
    run(cacop, "validate", cwd=kb, env=env)
    found = run(cacop, "search", "dosage", "--json", cwd=kb, env=env)
    assert "hot-spots-dosage-with-avl" in found.stdout
