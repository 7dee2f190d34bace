"""Hostile input, group B (docs/architecture.md): entry text is printed as text — no markup,
no terminal escapes."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pytest
from kbtools import no_traceback, snapshot

from cacop_cli.errors import ExitCode

# Escapes written the YAML way in frontmatter (raw control bytes are a YAML error there).
TITLE = (
    r'"Robbery [bold]series[/bold] \e[2J\e]52;c;cm0gLXJmIH4=\a '
    r'[link=https://evil.example]map[/link] \x9b31m"'
)
AUTHORS = r'["[red]A. Analyst[/red]", "Eve \e]8;;https://evil.example\e\\click\e]8;;\e\\"]'
SUMMARY = r'"[blink]urgent[/blink] \u009b2J \e[31mred"'
BODY = (
    "## Problem\n\n"
    "Plain [bold]not bold[/bold] and [link=https://evil.example]not a link[/link].\n"
    "Clear: \x1b[2J, clipboard: \x1b]52;c;cm0gLXJmIH4=\x07, link: "
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\, CSI: \x9b31m red.\n\n"
    "| field | value |\n|---|---|\n| [bold]cell[/bold] | \x1b[5m blink |\n\n"
    "A [markdown link](https://evil.example/phish) shows where it goes.\n"
)
RESPONSE_BODY = "We do: [bold]x[/bold] \x1b[2J done \x9b1m.\n"
ENTRY_ID = "alpha-2024-hostile-display"
RFI_ID = "beta-2025-nibin-and-group-data"
INJECTED = [
    b"\x1b[2J",
    b"\x1b]",  # any OSC: clipboard (52) or hyperlink (8)
    b"\x1b[5m",
    b"\x1b[31m",
    "\u009b".encode(),
]


@pytest.fixture
def hostile_kb(kb_path) -> Path:
    (kb_path / "kb/strategies" / f"{ENTRY_ID}.md").write_text(
        "---\n"
        f"id: {ENTRY_ID}\ntype: strategy\ntitle: {TITLE}\nsite: alpha\nauthors: {AUTHORS}\n"
        "created: 2024-05-01\ntopics: [crime-analysis]\ntlp: green\n"
        f"summary: {SUMMARY}\nstatus: active\nevidence: promising\n"
        f"related: [{RFI_ID}]\n---\n{BODY}",
        encoding="utf-8",
    )
    response = kb_path / "kb/rfis" / RFI_ID / "responses" / "alpha-20250301-hostile.md"
    response.write_text(
        "---\nid: alpha-20250301-hostile\ntype: response\n"
        r'title: "[bold]Reply[/bold] \e[2J"'
        "\nsite: alpha\nauthors: ['[i]A[/i]']\ncreated: 2025-03-01\ntopics: [gun-violence]\n"
        f"tlp: green\nrfi: {RFI_ID}\n---\n{RESPONSE_BODY}",
        encoding="utf-8",
    )
    return kb_path


def assert_clean(output: bytes) -> str:
    """No escape from entry text: only Rich's own colour codes (SGR) may appear."""
    for sequence in INJECTED:
        assert sequence not in output, (sequence, output)
    text = output.decode("utf-8")
    assert not re.search("[\x80-\x9f]", text), "a C1 control character reached the output"
    leftover = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "\x1b" not in leftover and "\x07" not in leftover
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", leftover)
    return leftover


def run_in_pty(argv: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run a command with stdout on a real terminal (a pty), as an analyst would."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
    process = subprocess.Popen(
        argv, stdin=follower, stdout=follower, stderr=subprocess.DEVNULL, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return process.wait(timeout=30), b"".join(chunks)


def terminal_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    env.update(TERM="xterm-256color", COLUMNS="120", FORCE_COLOR="1")
    return env


# 13 + 14, on a real terminal
@pytest.mark.parametrize("command", [["show", ENTRY_ID], ["show", RFI_ID], ["list"]])
def test_pty_output_has_no_injected_escapes_and_markup_is_literal(hostile_kb, cacop_exe, command):
    before = snapshot(hostile_kb)
    code, output = run_in_pty([*cacop_exe, "--kb", str(hostile_kb), *command], terminal_env())
    assert code == ExitCode.OK, output
    assert b"\x1b[" in output  # it really was a terminal: Rich styled its own labels
    text = assert_clean(output)
    if command[-1] == ENTRY_ID:
        assert "[bold]series[/bold]" in text
        assert "[link=https://evil.example]map[/link]" in text
        assert "[red]A. Analyst[/red]" in text
        assert "[blink]urgent[/blink]" in text
        assert "[bold]cell[/bold]" in text
        assert "https://evil.example/phish" in text  # a Markdown link shows its address
    elif command[-1] == RFI_ID:
        assert "We do: [bold]x[/bold]" in text
    else:
        assert "[bold]series[/bold]" in text.replace("\r\n", "")  # in the table, too
    assert snapshot(hostile_kb) == before


# 13 + 14, in a pipe: plain lines, or Rich when FORCE_COLOR says the pipe is a terminal
@pytest.mark.parametrize("forced", [True, False], ids=["force-color", "plain"])
@pytest.mark.parametrize(
    "command", [["show", ENTRY_ID], ["show", RFI_ID], ["list"], ["search", "robbery series"]]
)
def test_piped_output_has_no_injected_escapes(hostile_kb, cacop_exe, command, forced):
    env = terminal_env()
    if not forced:
        del env["FORCE_COLOR"]
    result = subprocess.run(
        [*cacop_exe, "--kb", str(hostile_kb), *command],
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == ExitCode.OK
    text = assert_clean(result.stdout)
    assert_clean(result.stderr)
    assert "[bold]" in text
    assert "Traceback" not in result.stderr.decode()


def test_in_process_show_prints_markup_literally(cli, hostile_kb):
    result = cli("show", ENTRY_ID, kb=hostile_kb)
    no_traceback(result)
    assert result.exit_code == ExitCode.OK
    text = assert_clean(result.stdout.encode())
    for literal in ("[bold]series[/bold]", "[link=https://evil.example]map[/link]", "[/red]"):
        assert literal in text


# 15
def test_right_to_left_override_is_shown_escaped_and_flagged(cli, kb_path):
    path = kb_path / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md"
    path.write_text(path.read_text().replace("Focused deterrence", "Focused \u202egnp.exe"))
    shown = cli("show", "alpha-2024-focused-deterrence-call-ins", kb=kb_path)
    assert "\u202e" not in shown.stdout
    assert "<U+202E>gnp.exe" in shown.stdout
    listed = cli("list", kb=kb_path)
    assert "\u202e" not in listed.stdout and "<U+202E>" in listed.stdout
    checked = cli("validate", kb=kb_path)
    assert checked.exit_code == ExitCode.OK
    assert (
        "kb/strategies/alpha-2024-focused-deterrence-call-ins.md:4: warning: title: holds an "
        "invisible text-direction character"
    ) in checked.stdout


# The one bidi set (models.BIDI) is what display escapes and what validate flags: the Arabic
# letter mark too.
@pytest.mark.parametrize("mark", ["\u061c", "\u200f", "\u2067"], ids=["alm", "rlm", "rli"])
def test_every_direction_mark_is_shown_escaped_and_flagged(cli, kb_path, mark):
    path = kb_path / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md"
    text = path.read_text().replace("Focused deterrence", f"Focused {mark}gnp.exe")
    path.write_text(text.replace("## Analysis", f"## Analysis {mark}"))
    shown = cli("show", "alpha-2024-focused-deterrence-call-ins", kb=kb_path)
    assert mark not in shown.stdout
    assert f"<U+{ord(mark):04X}>gnp.exe" in shown.stdout
    checked = cli("validate", kb=kb_path)
    assert checked.exit_code == ExitCode.OK
    rel = "kb/strategies/alpha-2024-focused-deterrence-call-ins.md"
    assert f"{rel}:4: warning: title: holds an invisible text-direction character" in (
        checked.stdout
    )
    assert f"{rel}:22: warning: the body holds an invisible or control character" in (
        checked.stdout
    )


def test_crlf_line_endings_are_not_control_characters_but_a_mark_after_them_is(cli, kb_path):
    path = kb_path / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    clean = cli("validate", kb=kb_path)
    assert clean.exit_code == ExitCode.OK and "text-safety" not in clean.stdout, clean.stdout
    assert "invisible" not in clean.stdout
    path.write_bytes(path.read_bytes().replace(b"## Analysis", "## Analysis \u061c".encode()))
    flagged = cli("validate", kb=kb_path)
    assert "alpha-2024-focused-deterrence-call-ins.md:22: warning: the body holds" in (
        flagged.stdout
    )
    assert "(U+061C)" in flagged.stdout


# 16
@pytest.mark.parametrize(
    "command", [["show", "--json", ENTRY_ID], ["show", "--json", RFI_ID], ["list", "--json"]]
)
def test_json_with_control_characters_is_one_valid_document(cli, hostile_kb, command):
    result = cli(*command, kb=hostile_kb)
    assert result.exit_code == ExitCode.OK
    raw = result.stdout.encode()
    assert raw.isascii()
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", raw)  # only newlines between tokens

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    document = json.loads(result.stdout, parse_constant=no_constants)
    if command[-1] == ENTRY_ID:
        assert "\x1b[2J" in document["title"]  # the data itself is kept, only escaped
        assert document["body"] == BODY
        assert document["related_entries"] == [
            {"id": RFI_ID, "title": "Has anyone linked NIBIN leads to group violence data?"}
        ]
    if command[-1] == RFI_ID:
        assert any(response["body"] == RESPONSE_BODY for response in document["responses"])


def test_validate_json_with_hostile_entry_is_one_document(cli, hostile_kb):
    result = cli("validate", "--json", kb=hostile_kb)
    document = json.loads(result.stdout)
    assert result.stdout.isascii()
    codes = {(problem["path"], problem["severity"]) for problem in document["problems"]}
    assert (f"kb/strategies/{ENTRY_ID}.md", "warning") in codes
