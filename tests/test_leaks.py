"""Leak paths around the entry path, each held by a refusal on real git (issue 13).

Every refusal leaves the remote exactly as it was. tests/LEAKS.md lists each path and
the test here that holds it.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from gitserver import Network, entry_text, git, write

from cacop_cli.errors import ExitCode

YEAR = dt.date.today().year
WP = f"alpha-{YEAR}-weekly-gun-crime-bulletin"


def remote_state(net: Network) -> str:
    return git(net.bare, "for-each-ref", "--format=%(refname) %(objectname)")


def commit_bytes(site: Path, rel: str, data: bytes, message: str = "Add notes") -> None:
    target = site / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    git(site, "add", "-A")
    git(site, "commit", "-qm", message)


def refused_sync(cli, net: Network, site: Path) -> str:
    before = remote_state(net)
    result = cli("sync", kb=site)
    assert result.exit_code == ExitCode.PROBLEMS, result.stdout + result.stderr
    assert remote_state(net) == before  # nothing left the clone
    return result.stderr


def test_ssn_in_a_csv_under_notes_blocks_sync(cli, net, site_a):
    commit_bytes(site_a, "notes/victims.csv", b"name,ssn\nJ. Doe,SSN 536-22-1234\n")
    assert "notes/victims.csv:2: ssn:" in refused_sync(cli, net, site_a)


def test_red_markdown_at_the_root_blocks_sync(cli, net, site_a):
    # quoted, so that only the frontmatter check (not the banner check) can see it
    commit_bytes(site_a, "brief.md", b'---\ntitle: Brief\ntlp: "red"\n---\n\nText.\n')
    assert "brief.md:3: tlp:" in refused_sync(cli, net, site_a)


def test_red_entry_with_an_upper_case_extension_blocks_sync(cli, net, site_a):
    text = entry_text(f"alpha-{YEAR}-upper", "alpha", "Upper", tlp='"red"')
    commit_bytes(site_a, "kb/strategies/X.MD", text.encode())
    assert "kb/strategies/X.MD:9: tlp:" in refused_sync(cli, net, site_a)


@pytest.mark.parametrize("marking", ["TLP:RED", "tlp: red", "TLP:AMBER+STRICT"])
def test_tlp_banner_inside_a_text_attachment_blocks_sync(cli, net, site_a, marking):
    commit_bytes(site_a, "notes/brief.txt", f"{marking}\n\nThe plan.\n".encode())
    stderr = refused_sync(cli, net, site_a)
    assert "notes/brief.txt:1: tlp:" in stderr and "share.max_tlp" in stderr


def test_ssn_in_a_commit_message_blocks_sync(cli, net, site_a):
    commit_bytes(site_a, "notes/plain.txt", b"Nothing here.\n", "Victim SSN 536-22-1234")
    assert ": ssn:" in refused_sync(cli, net, site_a)


def test_invalid_entry_in_the_range_blocks_sync_with_validates_message(cli, net, site_a):
    text = entry_text(f"alpha-{YEAR}-bad", "alpha", "Bad").replace(
        "status: active", "status: sideways"
    )
    commit_bytes(site_a, f"kb/strategies/alpha-{YEAR}-bad.md", text.encode())
    stderr = refused_sync(cli, net, site_a)
    validated = cli("validate", kb=site_a)
    message = next(line for line in validated.stdout.splitlines() if "sideways" in line)
    assert "sideways" in stderr
    assert message.split("error: ", 1)[-1].strip() in stderr


def test_empty_pii_override_blocks_bundle_create(cli, site_a, tmp_path):
    text = entry_text(f"alpha-{YEAR}-empty", "alpha", "Empty").replace(
        "status: active", "pii_override: {}\nstatus: active"
    )
    commit_bytes(site_a, f"kb/strategies/alpha-{YEAR}-empty.md", text.encode())
    result = cli("bundle", "create", str(tmp_path / "out.bundle"), kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS, result.stderr
    assert "missing required field 'reason'" in result.stderr
    assert not (tmp_path / "out.bundle").exists()


def _docx(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )  # fmt: skip


def submit(cli, site: Path, source: Path, *extra: str):
    return cli(
        "submit", str(source), "--title", "Weekly gun crime bulletin", "--topic",
        "gun-violence", "--product-type", "bulletin", *extra, kb=site,
    )  # fmt: skip


def test_phone_number_in_a_docx_attachment_is_refused_naming_it(cli, net, site_a):
    source = site_a.parent / "outside" / "tips.docx"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(_docx("Call the witness on (901) 555-0142 after six."))
    before = remote_state(net)
    result = submit(cli, site_a, source)
    assert result.exit_code == ExitCode.PROBLEMS, result.stderr
    assert f"kb/work-products/{WP}/tips.docx:1: phone: a phone number (" in result.stderr
    assert remote_state(net) == before


def test_png_attachment_is_unscanned_until_a_reason_is_recorded(cli, net, site_a):
    source = site_a.parent / "outside" / "map.png"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(_png())
    before = remote_state(net)
    result = submit(cli, site_a, source)
    assert result.exit_code == ExitCode.PROBLEMS, result.stderr
    assert f"kb/work-products/{WP}/map.png:1: image:" in result.stderr
    assert "cannot be scanned" in result.stderr
    assert remote_state(net) == before
    assert submit(cli, site_a, source, "--allow-unscanned", "short").exit_code == 2
    reason = "Hot-spot map, checked by hand: no people"
    result = submit(cli, site_a, source, "--allow-unscanned", reason)
    assert result.exit_code == 0, result.stderr
    shared = git(net.bare, "show", f"submit/{WP}:kb/work-products/{WP}.md")
    assert "unscanned_override:" in shared and reason in shared and "map.png" in shared
    assert cli("sync", "--no-push", kb=site_a).exit_code == 0


def test_work_product_without_tlp_refuses_a_file_marked_red(cli, net, site_a):
    source = write(site_a.parent / "outside" / "brief.txt", "TLP:RED\n\nThe plan.\n")
    before = remote_state(net)
    result = submit(cli, site_a, source)
    assert result.exit_code == ExitCode.PROBLEMS, result.stderr
    assert "brief.txt" in result.stderr and "TLP:RED" in result.stderr
    assert "--tlp" in result.stderr
    assert remote_state(net) == before


def test_png_in_notes_blocks_sync_until_allowed_with_a_reason(cli, net, site_a):
    commit_bytes(site_a, "notes/map.png", _png())
    stderr = refused_sync(cli, net, site_a)
    assert "notes/map.png:1: image: cannot be scanned" in stderr and "--allow-unscanned" in stderr
    assert cli("sync", "--allow-unscanned", "short", kb=site_a).exit_code == 2
    result = cli("sync", "--allow-unscanned", "Hot-spot map checked by hand", kb=site_a)
    assert result.exit_code == 0, result.stderr
    assert "Hot-spot map checked by hand" in result.stderr
    assert git(net.bare, "rev-parse", "main") == git(site_a, "rev-parse", "HEAD")


def test_submit_id_gates_every_commit_the_branch_carries(cli, net, site_a):
    source = write(site_a.parent / "outside" / "bulletin.md", "# Bulletin\n\nFewer shootings.\n")
    assert submit(cli, site_a, source, "--no-push").exit_code == 0
    git(site_a, "switch", "-q", f"submit/{WP}")
    commit_bytes(site_a, "notes/victims.csv", b"name,ssn\nJ. Doe,SSN 536-22-1234\n")
    git(site_a, "switch", "-q", "main")
    before = remote_state(net)
    result = cli("submit", WP, kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS, result.stderr
    assert "notes/victims.csv:2: ssn:" in result.stderr
    assert remote_state(net) == before


def test_ssn_in_a_spreadsheet_cell_blocks_sync_naming_sheet_and_cell(cli, net, site_a):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Q1"
    sheet["A1"], sheet["A2"], sheet["A3"] = "Note", "quiet", "victim SSN 536-22-1234"
    out = io.BytesIO()
    book.save(out)
    commit_bytes(site_a, "notes/people.xlsx", out.getvalue())
    stderr = refused_sync(cli, net, site_a)
    assert 'notes/people.xlsx:1: ssn: a social security number (sheet "Q1" cell A3)' in stderr


def test_response_less_strict_than_its_rfi_blocks_sync(cli, net, site_a):
    rfi = site_a / "kb/rfis/beta-2025-nibin-and-group-data.md"
    write(rfi, rfi.read_text().replace("tlp: green", "tlp: amber"))
    git(site_a, "commit", "-qam", "RFI is amber")
    git(site_a, "push", "-q", "origin", "main")  # a maintainer's push, outside cacop
    response = site_a / "kb/rfis/beta-2025-nibin-and-group-data/responses/alpha-20250210-1a2b.md"
    write(response, response.read_text() + "\nOne more line.\n")
    git(site_a, "commit", "-qam", "Add to the answer")
    assert "less strict than the RFI" in refused_sync(cli, net, site_a)


def test_png_blocks_bundle_create_until_allowed_with_a_reason_like_sync(cli, site_a, tmp_path):
    """bundle create takes --allow-unscanned from the shared commit gate, as sync does."""
    commit_bytes(site_a, "notes/map.png", _png())
    out = tmp_path / "out.bundle"
    refused = cli("bundle", "create", str(out), kb=site_a)
    assert refused.exit_code == ExitCode.PROBLEMS, refused.stderr
    assert "notes/map.png:1: image: cannot be scanned" in refused.stderr
    assert "--allow-unscanned" in refused.stderr and not out.exists()
    short = cli("bundle", "create", str(out), "--allow-unscanned", "short", kb=site_a)
    assert short.exit_code == ExitCode.USAGE and not out.exists()
    made = cli("bundle", "create", str(out), "--allow-unscanned", "Map checked by hand", kb=site_a)
    assert made.exit_code == 0, made.stderr
    assert "notes/map.png:1: image: cannot be scanned" in made.stderr
    assert "sent anyway: Map checked by hand" in made.stderr and out.is_file()
    checked = cli("check-share", "--allow-unscanned", "Map checked by hand", kb=site_a)
    assert checked.exit_code == 0 and "sent anyway: Map checked by hand" in checked.stderr
    assert cli("check-share", kb=site_a).exit_code == ExitCode.PROBLEMS


def test_sync_allow_unscanned_is_taken_by_the_pre_push_hook_too(cli, net, site_a, monkeypatch):
    """cacop's own push hands the reason to git's pre-push hook, so the hook (the same gate)
    does not refuse what `sync --allow-unscanned` let through; without it, it still does."""
    monkeypatch.setenv("CACOP_GIT_TIMEOUT", "120")  # the push waits for the hook's cacop
    assert cli("hooks", "install", kb=site_a).exit_code == 0
    commit_bytes(site_a, "notes/map.png", _png())
    plain = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=site_a,
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert plain.returncode != 0 and "notes/map.png" in plain.stdout + plain.stderr
    result = cli("sync", "--allow-unscanned", "Hot-spot map checked by hand", kb=site_a)
    assert result.exit_code == 0, result.stderr
    assert git(net.bare, "rev-parse", "main") == git(site_a, "rev-parse", "HEAD")
