"""Edges found in review: each is a user error or a leak the first version let through."""

from __future__ import annotations

import datetime as dt
import os
import shlex
from pathlib import Path

from kbtools import write_strategy

from cacop_cli import release
from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode
from cacop_cli.publish import choose_line, for_others
from cacop_cli.share import gates

from conftest import git


def test_hooks_install_where_the_hooks_folder_is_a_file_says_so(cli, git_kb):
    hooks = git_kb / ".git" / "hooks"
    for item in hooks.iterdir():
        item.unlink()
    hooks.rmdir()
    hooks.write_text("not a folder")
    result = cli("hooks", "install", kb=git_kb)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "cannot write the hook" in result.stderr and "unexpected" not in result.stderr


def test_config_refuses_a_site_or_name_that_is_not_one_clean_line(cli, git_kb):
    git(git_kb, "config", "--unset", "cacop.site")  # the test clone's own site, set for tests
    for key, value in (("site", "a\nb"), ("site", "a b"), ("site", "nosuchsite"), ("name", "x\ny")):
        result = cli("config", key, value, kb=git_kb)
        assert result.exit_code == ExitCode.USAGE, (key, value, result.stderr)
    assert "cacop.site" not in git(git_kb, "config", "--list", "--local")
    assert cli("config", "site", "Alpha", kb=git_kb).exit_code == ExitCode.OK  # case-blind
    assert git(git_kb, "config", "cacop.site").strip() == "alpha"


def test_the_install_hint_quotes_what_cacop_yaml_requires():
    hostile = "cacop==99.0'; touch /tmp/PWNED; echo '"
    hint = release.install_hint(hostile)
    command = hint.split(": ", 1)[1]
    assert shlex.split(command) == ["pipx", "install", "--force", hostile]


def test_a_site_is_never_built_inside_the_kb_or_git(cli, kb_path):
    for inside in ("kb/out", "kb/work-products/x/site", ".git/site", ".cacop/site"):
        result = cli("site", "build", str(kb_path / inside), kb=kb_path)
        assert result.exit_code == ExitCode.USAGE, (inside, result.stderr)
        assert not (kb_path / inside).exists()


def test_a_red_banner_in_a_green_entrys_body_stops_the_entry_gate(kb_path):
    path = write_strategy(kb_path, "alpha-2024-marked-in-the-body", body="TLP:RED\n\nThe plan.\n")
    findings, _ = gates._entry_findings(load_kb(kb_path), path, dt.date(2026, 3, 1))
    banner = [f for f in findings if f.category == gates.TLP]
    assert banner and banner[0].line == 13  # the body's first line, after the closing ---


def test_outputs_for_others_keep_an_allowlisted_mail_and_a_recorded_override(kb_path):
    config = kb_path / "cacop.yaml"
    text = config.read_text("utf-8").replace(
        "share:\n", "share:\n  email_allowlist: [partner.org]\n"
    )
    config.write_text(text, encoding="utf-8")
    write_strategy(kb_path, "alpha-2024-partner-mail", body="Write to lead@partner.org.\n")
    write_strategy(kb_path, "alpha-2024-other-mail", body="Write to lead@elsewhere.org.\n")
    kb = load_kb(kb_path)
    from cacop_cli.catalog import load_catalog

    entries = [e for e in load_catalog(kb).entries if e.id.endswith("-mail")]
    shown = for_others(entries, choose_line(kb, None), dt.date(2026, 3, 1))
    assert {Path(rel).stem for rel in shown} == {"alpha-2024-partner-mail"}


def test_outputs_for_others_keep_each_texts_findings_and_never_trust_a_planted_record(
    kb_path, texts_scanned, monkeypatch
):
    """digest, gaps and experts judge every entry each run: the findings are kept by each
    text's hash in `.cacop/scan/texts.json`, so a second run scans nothing, an edited entry
    is scanned again, and a record this user did not seal is not believed."""
    from cacop_cli import publish
    from cacop_cli.catalog import load_catalog
    from cacop_cli.share import scancache

    write_strategy(kb_path, "alpha-2024-clean-one", body="Hot spots by beat.\n")
    leaky = write_strategy(kb_path, "alpha-2024-leaky-one", body="Clean for now.\n")
    today = dt.date(2026, 3, 1)
    scanned = texts_scanned

    def shown() -> set[str]:
        kb = load_kb(kb_path)
        entries = [e for e in load_catalog(kb).entries if e.id.endswith("-one")]
        return {Path(rel).stem for rel in for_others(entries, choose_line(kb, None), today)}

    assert shown() == {"alpha-2024-clean-one", "alpha-2024-leaky-one"}
    first = scanned[-1]
    assert first >= 2 and (kb_path / ".cacop" / "scan" / scancache.TEXTS_FILE).is_file()
    assert shown() == {"alpha-2024-clean-one", "alpha-2024-leaky-one"}
    assert len(scanned) == 1  # nothing scanned again
    leaky.write_text(
        leaky.read_text("utf-8").replace("Clean for now.", "Born 03/04/1990, SSN 078-05-1120."),
        encoding="utf-8",
    )
    assert shown() == {"alpha-2024-clean-one"}
    assert scanned[-1] == 1  # only the edited text
    # a record sealed by someone else (planted by a commit) is not believed
    kept = kb_path / ".cacop" / "scan" / scancache.TEXTS_FILE
    own_state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    monkeypatch.setenv("XDG_STATE_HOME", str(kb_path.parent / "another-user"))
    kept.unlink()
    kb = load_kb(kb_path)
    entries = [e for e in load_catalog(kb).entries if e.id.endswith("-one")]
    always = [today.toordinal(), dt.date.min.toordinal(), dt.date.max.toordinal(), []]
    everything_clean = {publish._to_scan(e).digest: always for e in entries}
    stamp = scancache.json.dumps([scancache._versions(), ()])
    scancache._store_texts(kept, stamp, everything_clean)
    monkeypatch.setenv("XDG_STATE_HOME", own_state)  # this user again
    assert shown() == {"alpha-2024-clean-one"}
