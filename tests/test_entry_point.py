"""The console entry point builds only the command it runs (Typer's build of all is ~13 ms)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer.main
from fixturefiles import aged_ctimes

import cacop_cli
from cacop_cli import cli
from cacop_cli.errors import ExitCode
from cacop_cli.version import version_line


def version_now() -> str:
    """`cacop 0.1.0 (commit …)` in this checkout, as it is now: read when the test runs, not
    at collection, so a commit made while the suite runs changes both sides."""
    return version_line() + "\n"


def _built(args: list[str]) -> dict[str, object]:
    return dict(typer.main.get_command(cli.for_command(args)).commands)


FULL = _built([])


def test_the_whole_app_has_every_command():
    assert {"search", "index", "show", "list", "validate", "rfi", "bundle", "submit"} <= set(FULL)


@pytest.mark.parametrize("name", sorted(FULL))
def test_each_command_is_built_alone_and_alike(name):
    built = _built(["--kb", "some/where", name, "more", "--json"])
    assert list(built) == [name]
    alone, whole = built[name], FULL[name]
    assert [p.name for p in alone.params] == [p.name for p in whole.params]
    assert alone.help == whole.help
    if hasattr(whole, "commands"):  # a group (rfi, bundle): all of its own commands
        assert sorted(alone.commands) == sorted(whole.commands)


@pytest.mark.parametrize(
    "args",
    [[], ["--help"], ["-h"], ["serch", "x"], ["--kb", "search"], ["--version", "--help"]],
)
def test_without_a_known_command_word_every_command_is_built(args):
    assert set(_built(args)) == set(FULL)


def test_version_alone_needs_no_command():
    assert _built(["--version"]) == {}


def test_the_installed_script_runs_commands_and_answers_typos(cacop_exe, kb_path):
    version = subprocess.run([*cacop_exe, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("cacop ")
    listed = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), "list", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0 and '"entries"' in listed.stdout, listed.stderr
    typo = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), "serch", "x"], capture_output=True, text=True, timeout=30
    )
    assert typo.returncode == ExitCode.USAGE
    assert "Did you mean 'search'" in typo.stderr


# ---------------------------------------------------------------- leaving without the teardown

# Runs the console entry point in a fresh interpreter. The witness's __del__ runs only in
# Python's teardown (its module's globals are cleared), so "torn down" shows that it ran.
ENTRY = """
import atexit, sys, threading, time
class Witness:
    def __del__(self):
        sys.stderr.write("torn down\\n")
witness = Witness()
if "--with-atexit" in sys.argv:
    sys.argv.remove("--with-atexit")
    atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
if "--with-thread" in sys.argv:
    sys.argv.remove("--with-thread")
    threading.Thread(target=lambda: (time.sleep(0.3), sys.stderr.write("thread done\\n"))).start()
sys.argv[0] = "cacop"
from cacop_cli import main
main()
"""


def run_entry(*args: str, stdout=subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_the_entry_point_leaves_without_the_interpreters_teardown(kb_path):
    version = run_entry("--version")
    assert (version.returncode, version.stdout, version.stderr) == (0, version_now(), "")
    aged_ctimes(kb_path)  # a racy file indexed now loads what an update needs (logging)
    assert run_entry("--kb", str(kb_path), "index").returncode == 0  # a miss reads the index
    missing = run_entry("--kb", str(kb_path), "show", "no-such-entry")
    assert missing.returncode == ExitCode.PROBLEMS
    assert missing.stderr.startswith("error: no entry has the id")
    assert "torn down" not in missing.stderr
    usage = run_entry("--kb", str(kb_path), "search", '"unclosed')
    assert usage.returncode == ExitCode.USAGE and "torn down" not in usage.stderr
    nowhere = run_entry("--kb", str(kb_path / "nowhere"), "list")
    assert nowhere.returncode == ExitCode.NO_KB and "torn down" not in nowhere.stderr


def test_an_atexit_handler_or_a_running_thread_gets_the_normal_exit(kb_path):
    handler = run_entry("--with-atexit", "--version")
    assert handler.returncode == 0 and handler.stdout == version_now()
    assert handler.stderr.splitlines() == ["atexit ran", "torn down"]
    thread = run_entry("--with-thread", "--version")
    assert thread.returncode == 0 and thread.stdout == version_now()
    assert thread.stderr.splitlines() == ["thread done", "torn down"]


def test_all_the_output_is_written_before_leaving(kb_path, tmp_path):
    from typer.testing import CliRunner

    entry = kb_path / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md"
    entry.write_text(entry.read_text() + "\nCall-ins, then follow-up visits.\n" * 1000)
    args = ["--kb", str(kb_path), "show", "alpha-2024-focused-deterrence-call-ins", "--json"]
    expected = CliRunner().invoke(cli.app, args).stdout
    assert len(expected) > 4 * 8192  # several buffers of a file or a pipe
    with open(tmp_path / "shown.json", "w") as into:
        result = run_entry(*args, stdout=into)
    assert result.returncode == 0 and result.stderr == ""
    assert (tmp_path / "shown.json").read_text() == expected


@pytest.mark.parametrize("args", [["list"], ["--version"]])  # written during the command; at exit
def test_a_reader_that_left_early_is_not_an_error(kb_path, args):
    reading, writing = os.pipe()
    os.close(reading)  # like `cacop list | head` once head has gone
    try:
        result = run_entry("--kb", str(kb_path), *args, stdout=writing)
    finally:
        os.close(writing)
    # `list` may build the index first (attachments' readers register atexit handlers, so
    # the normal exit, with its teardown, is taken): the witness line is not an error
    assert (result.returncode, result.stderr.replace("torn down\n", "")) == (0, "")


def run_closed(redirect: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The entry point started with the descriptors that `redirect` (`>&-`, say) closes."""
    with_shell = ["sh", "-c", f'exec "$@" {redirect}', "sh", sys.executable, "-c", ENTRY, *args]
    return subprocess.run(with_shell, stderr=subprocess.PIPE, text=True, timeout=60)


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["search", "call-ins", "--json"],
        ["show", "alpha-2024-focused-deterrence-call-ins"],
    ],
)
def test_a_command_started_with_stdout_closed_says_so_and_does_nothing(kb_path, args):
    closed = run_closed(">&-", "--kb", str(kb_path), *args)
    assert closed.returncode == ExitCode.PROBLEMS
    assert closed.stderr.startswith("error: standard output is closed"), closed.stderr
    assert "hint: send the output to a terminal, a file or a pipe" in closed.stderr
    assert not (kb_path / ".cacop").exists()  # not even the index was built
    both = run_closed(">&- 2>&-", "--kb", str(kb_path), *args)  # nowhere to say it either
    assert (both.returncode, both.stderr) == (ExitCode.PROBLEMS, "")


def collections_in_a_search(kb_path, youngest):
    """Garbage collections run by a whole search through the entry point, at this threshold."""
    code = (
        "import atexit, gc, sys\n"
        "runs = []\n"
        "gc.callbacks.append(lambda phase, info: runs.append(info['generation']))\n"
        "atexit.register(lambda: sys.stderr.write(f'collections: {len(runs) // 2}\\n'))\n"
        "sys.argv[0] = 'cacop'\n"
        "import cacop_cli\n"
        f"cacop_cli.GC_YOUNGEST = {youngest}\n"
        "cacop_cli.main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "--kb", str(kb_path), "search", "call-ins"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and "call-ins" in result.stdout.lower(), result.stderr
    counted = result.stderr.splitlines()[-1]
    assert counted.startswith("collections: "), result.stderr
    return int(counted.removeprefix("collections: "))


def test_a_search_runs_almost_no_garbage_collection(kb_path, cli):
    assert cli("index", kb=kb_path).exit_code == 0
    at_pythons_default = collections_in_a_search(kb_path, 700)
    at_ours = collections_in_a_search(kb_path, cacop_cli.GC_YOUNGEST)
    # Exact counts move with the Python build and what it has compiled before (0 here, 1 on
    # CI); the default runs ~60, so a tenth of that is a bound no machine should cross.
    assert at_pythons_default >= 20
    assert at_ours <= at_pythons_default // 10
