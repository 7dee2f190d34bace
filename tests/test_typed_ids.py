"""Ids that people can type (issue 14 item 4): a unique start of an id, or the exact title,
case-blind; "did you mean" with the closest ids when nothing or several match."""

from __future__ import annotations

import time

import pytest

from cacop_cli import entries, ops
from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode, NotFound

RFI = "beta-2025-nibin-and-group-data"
STRATEGY = "alpha-2024-focused-deterrence-call-ins"


def test_show_takes_a_unique_start_of_an_id(cli, kb_path):
    result = cli("show", "alpha-2024-foc", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert f'"id": "{STRATEGY}"' in result.stdout


def test_show_takes_the_exact_title_in_any_case(cli, kb_path):
    title = "focused DETERRENCE call-ins for group-involved shooters"
    result = cli("show", title, "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert f'"id": "{STRATEGY}"' in result.stdout


def test_an_id_in_capitals_is_the_id(cli, kb_path):
    result = cli("show", STRATEGY.upper(), "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK and f'"id": "{STRATEGY}"' in result.stdout


def test_a_start_shared_by_several_names_them_and_exits_1(cli, kb_path):
    result = cli("show", "alpha-2024", kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "2 entries match 'alpha-2024'" in result.stderr
    assert STRATEGY in result.stderr and "alpha-2024-shooting-review-checklist" in result.stderr


def test_a_near_miss_says_did_you_mean_with_the_closest(cli, kb_path):
    typo = cli("show", "alpha-2024-focussed-deterence-call-ins", kb=kb_path)
    assert typo.exit_code == ExitCode.PROBLEMS
    assert "no entry has the id" in typo.stderr
    assert f"did you mean {STRATEGY}" in typo.stderr
    words = cli("show", "hot spots dosage", kb=kb_path)  # title words, not an id
    assert words.exit_code == ExitCode.USAGE
    assert "did you mean beta-2023-hot-spots-dosage" in words.stderr


def test_similar_rfi_respond_and_close_resolve_the_same_way(cli, kb_path):
    similar = cli("similar", "beta-2023-hot", "--json", kb=kb_path)
    assert similar.exit_code == ExitCode.OK, similar.stderr
    title = "has anyone linked NIBIN leads to group violence data?"
    answered = cli("rfi", "respond", title, "-m", "We do.", kb=kb_path)
    assert answered.exit_code == ExitCode.OK, answered.stderr
    assert len(list((kb_path / "kb/rfis" / RFI / "responses").glob("*.md"))) == 3
    closing = cli("rfi", "close", "beta-2025-nib", kb=kb_path)  # beta's RFI; this clone is alpha
    assert closing.exit_code == ExitCode.PROBLEMS and "only the site that asked" in closing.stderr
    missing = cli("rfi", "respond", "beta-2025-nibbin", "-m", "x", kb=kb_path)
    assert missing.exit_code == ExitCode.PROBLEMS and f"did you mean {RFI}" in missing.stderr


def test_rfi_commands_match_starts_among_rfis_only(kb_path):
    kb = load_kb(kb_path)
    assert ops.resolve_id(kb, "beta-", kinds=("rfi",)) == RFI  # the strategy beta-2023-… aside


def test_an_exact_id_reads_no_entry_and_a_start_reads_only_folder_names(kb_path, monkeypatch):
    kb = load_kb(kb_path)
    read = []
    original = entries.read_entry
    monkeypatch.setattr(
        entries, "read_entry", lambda *a, **k: read.append(a[0]) or original(*a, **k)
    )
    assert ops.resolve_id(kb, STRATEGY) == STRATEGY
    assert ops.resolve_id(kb, "alpha-2024-sh") == "alpha-2024-shooting-review-checklist"
    assert read == []


def test_resolving_at_ten_thousand_entries_stays_fast(tmp_path):
    from cacop_cli.config import load_kb as load

    root = tmp_path / "big"
    (root / "kb/strategies").mkdir(parents=True)
    (root / "cacop.yaml").write_text("name: Big\nsite: alpha\n")
    (root / "kb/sites.yaml").write_text("alpha:\n  name: Alpha\n")
    for number in range(10_000):
        (root / f"kb/strategies/alpha-2024-entry-{number:05d}.md").write_text("x")
    kb = load(root)
    started = time.perf_counter()
    assert ops.resolve_id(kb, "alpha-2024-entry-04242") == "alpha-2024-entry-04242"
    exact = time.perf_counter() - started
    started = time.perf_counter()
    with pytest.raises(NotFound, match="10 entries match"):
        ops.resolve_id(kb, "alpha-2024-entry-0424")
    prefix = time.perf_counter() - started
    assert exact < 0.05, exact
    assert prefix < 1.0, prefix
