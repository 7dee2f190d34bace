"""The gates on what may leave: personal data, secrets and TLP, each finding with kind and line."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixturefiles import FILES
from gitserver import analyst_site

from cacop_cli.entries import parse_text
from cacop_cli.share import gates, record_override

REPO = Path(__file__).parent.parent
TODAY = dt.date(2025, 6, 1)


def kinds(text: str) -> list[tuple[int, str]]:
    return [(finding.line, finding.kind) for finding in gates.personal_data(text, "x.md", TODAY)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("SSN 536-22-1234", "ssn"),
        ("social security no. 536 22 1234", "ssn"),
        ("ssn: 536221234", "ssn"),
        ("the number 536-22-1234 was on the form", "ssn"),
        ("DOB: 03/14/2010", "date-of-birth"),
        ("D.O.B. 2009-11-02", "date-of-birth"),
        ("date of birth: March 4, 1990", "date-of-birth"),
        ("born 4 July 2012", "date-of-birth"),
        ("cell (901) 555-0142", "phone"),
        ("call 414.286.3000 ext. 12", "phone"),
        ("+1 202 514 2000", "phone"),
        ("Driver's License No. S530-4562-1234", "driver-licence"),
        ("DL# D1234567", "driver-licence"),
        ("OLN: 123456789", "driver-licence"),
        ("plate ABC1234", "plate"),
        ("license plate: 7XYZ-123", "plate"),
        ("Tag 4GHJ221", "plate"),
        ("write to jane.doe@gmail.com", "email"),
        ("JDOE@Yahoo.com", "email"),
    ],
)
def test_each_kind_is_found(text, kind):
    assert (2, kind) in kinds(f"first line\n{text}\n")


def test_juveniles_are_named_with_their_age():
    finding = gates.personal_data("DOB: 2010-06-02\n", "x.md", TODAY)[0]
    assert finding.message == "a date of birth (age 14: a juvenile)"
    adult = gates.personal_data("DOB: 1990-01-01\n", "x.md", TODAY)[0]
    assert adult.message == "a date of birth (age 35)"


@pytest.mark.parametrize(
    "text",
    [
        "Case 24-013377 was linked by NIBIN lead 2024-013377-01.",
        "created: 2024-03-05 and updated 2024-04-01",
        "Shootings fell 12.5 per 100,000 between 2019-2023.",
        "Tip line 1-800-222-8477 (toll free).",
        "tags: [plate-reader, alpr]",
        "The plate reader at 5th and Main; tag: gun-violence",
        "analyst@memphistn.gov and crime.analysis@example.org",
        "000-12-3456 and 666-12-1234 are not social security numbers",
        "DL team and OLN fields are described in the SOP.",
        "Dial 911 or 311.",
    ],
)
def test_ordinary_analyst_text_is_not_flagged(text):
    assert kinds(text) == []


def test_starter_kb_has_no_findings():
    """The project's own kb/ is shared content: the gates must not cry wolf on it."""
    flagged = []
    for path in sorted((REPO / "kb").rglob("*")):
        if path.is_file() and (text := gates.as_text(path.read_bytes())) is not None:
            flagged += gates.personal_data(text, str(path), TODAY)
    assert flagged == []


@pytest.mark.parametrize(
    "line",
    [
        'db_password = "Hunter2Secret!99"',
        "api_key: sk_live_51H8abcDEFghiJKLmnoPQRstuVWxyz0123456789",
        "AWS key AKIAIOSFODNN7EXAMPLE for the dashboard",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "-----BEGIN RSA PRIVATE KEY-----",
    ],
)
def test_passwords_and_keys_are_secrets(line):
    found = gates.secrets(f"Setup notes\n\n{line}\n", "kb/work-products/x/setup.md")
    assert [(finding.line, finding.kind) for finding in found] == [(3, "secret")]


def test_secrets_come_from_detect_secrets_with_lines():
    text = 'intro\n\npassword = "Hunter2Secret!99"\nkey AKIAIOSFODNN7EXAMPLE\n'
    found = gates.secrets(text, "kb/x.md")
    assert [(finding.line, finding.category) for finding in found] == [
        (3, "secret"),
        (4, "secret"),
    ]
    assert "AWS Access Key" in found[1].message
    assert gates.secrets("Nothing secret about shootings in 2024.\n", "kb/x.md") == []


def test_binary_files_are_not_text():
    assert gates.as_text(b"%PDF-1.7\x00\x01") is None
    assert gates.as_text(b"\xff\xfe") is None
    assert gates.as_text("caf\u00e9\n".encode()) == "caf\u00e9\n"


def test_tlp_gate():
    assert gates.tlp_finding("green", "green", path="x.md", line=9) is None
    assert gates.tlp_finding("clear", "green", path="x.md", line=9) is None
    finding = gates.tlp_finding("amber", "green", path="x.md", line=9)
    assert finding and finding.line == 9 and "TLP:AMBER" in finding.message
    assert gates.tlp_finding("red", "amber+strict", path="x.md", line=9) is not None
    # an unknown marking counts as the strictest
    assert gates.tlp_finding(None, "red", path="x.md", line=1) is not None


def test_override_accepts_only_the_kinds_it_names_and_never_secrets():
    findings = gates.personal_data("cell (901) 555-0142\nSSN 536-22-1234\n", "x.md", TODAY)
    findings += gates.secrets('password = "Hunter2Secret!99"\n', "x.md")
    override = {"reason": "Public record", "by": "A", "date": "2025-01-01", "kinds": ["phone"]}
    blocking, accepted = gates.apply_override(findings, override)
    assert [finding.kind for finding in accepted] == ["phone"]
    assert sorted(finding.kind for finding in blocking) == ["secret", "ssn"]
    blocking, accepted = gates.apply_override(findings, None)
    assert accepted == []


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_record_override_changes_only_its_own_lines(newline):
    text = newline.join(["---", "id: abc-1", "tlp: green", "---", "", "Body", ""])
    override = {
        "reason": "Public record of the court",
        "by": "A",
        "date": "2025-01-01",
        "kinds": ["phone"],
    }
    once = record_override(text, override)
    assert once.startswith(newline.join(["---", "id: abc-1", "tlp: green", "pii_override:"]))
    assert once.endswith(newline.join(["---", "", "Body", ""]))
    meta, _ = parse_text(once)
    assert meta["pii_override"]["kinds"] == ["phone"]
    twice = record_override(once, {**override, "kinds": ["phone", "ssn"]})
    assert twice.count("pii_override:") == 1
    assert parse_text(twice)[0]["pii_override"]["kinds"] == ["phone", "ssn"]


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_gates_and_submit_work_with_no_network_at_all(tmp_path, cacop_exe):
    """Hostile case 39 (docs/architecture.md): in a network namespace with no interfaces,
    nothing can be downloaded."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    kb = tmp_path / "kb"
    shutil.copytree(FILES / "valid", kb)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run(["git", *args], cwd=kb, check=True, capture_output=True)
    analyst_site(kb)
    leaky = tmp_path / "leaky.md"
    leaky.write_text('DOB 2011-02-03, cell 901-555-0142\npassword = "Hunter2Secret!99"\n')
    script = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise SystemExit('network used: ' + repr(a))\n"
        "socket.socket.connect = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from cacop_cli.cli import main\n"
        "sys.argv = ['cacop', *sys.argv[1:]]\n"
        "main()\n"
    )
    argv = [
        "unshare",
        "-rn",
        sys.executable,
        "-c",
        script,
        "--kb",
        str(kb),
        "submit",
        str(leaky),
        "--title",
        "Leaky",
        "--topic",
        "investigations",
        "--no-push",
    ]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "CACOP_GIT_TIMEOUT": "5"},
    )
    assert result.returncode == 1, result.stderr
    assert "network used" not in result.stderr
    assert "leaky.md:1: date-of-birth" in result.stderr
    assert "leaky.md:1: phone" in result.stderr
    assert "leaky.md:2: secret" in result.stderr


SECRET_BEARING = [
    'db_password = "Hunter2Secret!99"',
    "api_key: sk_live_51H8abcDEFghiJKLmnoPQRstuVWxyz0123456789",
    "AWS key AKIAIOSFODNN7EXAMPLE for the dashboard",
    "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "-----BEGIN RSA PRIVATE KEY-----",
    "clone https://analyst:Tr0ub4dor3x@git.example.org/kb.git",
    'slack = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"',
    'hash "a3f9c2e81b7d4c06"',
    'blob = "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGxvbmcgYmFzZTY0IHN0cmluZw=="',
    "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "contraseña: Hunter2Secret!99",
    'Authorization: Bearer "d8e8fca2dc0f896fd7cb4cb0031ba249"',
]


def test_the_line_prefilter_keeps_every_finding_on_secret_bearing_texts():
    """Blanking the lines that cannot hold a secret changes no finding (line and kind)."""
    filler = "1024,B12,burglary,4,3\nThe call came in at 04:10 from beat 12.\n"
    for number, line in enumerate(SECRET_BEARING):
        text = filler * 3 + line + "\n" + filler * 2 + "\n".join(SECRET_BEARING[:number]) + "\n"
        whole = gates.secrets(text, "notes/setup.txt", prefilter_from=10**9)
        filtered = gates.secrets(text, "notes/setup.txt", prefilter_from=0)
        assert whole, line
        assert [(f.line, f.message) for f in filtered] == [(f.line, f.message) for f in whole]


def test_the_prefilter_leaves_out_plain_table_rows_and_keeps_line_numbers():
    text = "incident,beat\n1024,B12\npassword = x\n"
    assert gates.secret_candidates(text) == ("password = x\n", [3])


def test_the_prefilter_leaves_out_rows_of_case_numbers_and_keeps_hex_and_long_numbers():
    """An 8-digit incident number is no hex token detect-secrets could report (it lowers a
    number's entropy under its limit below 19 digits), so a CSV of them is not sent whole."""
    from detect_secrets.plugins.high_entropy_strings import HexHighEntropyString

    plugin = HexHighEntropyString()
    for length in range(8, 16):  # the most varied digits of each length stay under the limit
        digits = "".join(str(number % 10) for number in range(length))
        assert plugin.calculate_shannon_entropy(digits) < plugin.entropy_limit
    text = "I00000001,3,burglary\nI00000002,4,theft\nx deadbeef01\nz 1234567890123456\n"
    assert gates.secret_candidates(text)[1] == [3, 4]  # hex with a letter; 16 digits and more
