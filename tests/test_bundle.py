"""Offline exchange: `cacop bundle create|apply` on `git bundle`, gated out, validated in."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from gitserver import committed_copy, entry_text, git, snapshot

from cacop_cli.errors import ExitCode


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def sites(tmp_path) -> tuple[Path, Path]:
    """Two sites with the same history and no network between them."""
    alpha = committed_copy(tmp_path / "alpha")
    beta = tmp_path / "beta"
    git(tmp_path, "clone", "-q", str(alpha), str(beta))
    config = beta / "cacop.yaml"
    config.write_text(config.read_text().replace("site: alpha", "site: beta"))
    git(beta, "update-index", "--assume-unchanged", "cacop.yaml")
    return alpha, beta


def add(site: Path, entry_id: str, title: str, tlp: str = "green", body: str = "") -> None:
    owner = entry_id.split("-")[0]
    write(site / f"kb/strategies/{entry_id}.md", entry_text(entry_id, owner, title, tlp, body))
    git(site, "add", "-A")
    git(site, "commit", "-qm", f"Add {entry_id}")


def bundled_since(cli, site: Path, target: Path, since: str):
    """`cacop bundle create TARGET --since SINCE` run at `site`."""
    return cli("bundle", "create", str(target), "--since", since, kb=site)


def test_bundle_round_trip_full_then_since(cli, sites, tmp_path):
    alpha, beta = sites
    start = git(alpha, "rev-parse", "HEAD").strip()
    add(alpha, "alpha-2025-first", "First")
    made = cli("bundle", "create", str(tmp_path / "one.bundle"), "--since", start, kb=alpha)
    assert made.exit_code == 0, made.stderr
    assert str(tmp_path / "one.bundle") in made.stdout
    applied = cli("bundle", "apply", str(tmp_path / "one.bundle"), "--json", kb=beta)
    assert applied.exit_code == 0, applied.stderr
    report = json.loads(applied.stdout)
    assert report["how"] == "fast-forward"
    assert [item["entry_id"] for item in report["arrived"]] == ["alpha-2025-first"]
    assert cli("show", "alpha-2025-first", kb=beta).exit_code == 0
    # beta has its own commit meanwhile: the next bundle is rebased under it
    add(beta, "beta-2025-own", "Own")
    since = git(alpha, "rev-parse", "HEAD").strip()
    add(alpha, "alpha-2025-second", "Second")
    assert bundled_since(cli, alpha, tmp_path / "two.bundle", since).exit_code == 0
    applied = cli("bundle", "apply", str(tmp_path / "two.bundle"), kb=beta)
    assert applied.exit_code == 0, applied.stderr
    assert "rebased 1 local commit(s)" in applied.stdout
    assert (beta / "kb/strategies/alpha-2025-second.md").is_file()
    assert git(beta, "log", "-1", "--format=%s").strip() == "Add beta-2025-own"
    # a full bundle applies too, and applying it again changes nothing
    assert cli("bundle", "create", str(tmp_path / "full.bundle"), kb=alpha).exit_code == 0
    again = cli("bundle", "apply", str(tmp_path / "full.bundle"), kb=beta)
    assert again.exit_code == 0 and "up to date" in again.stdout


def test_bundle_create_has_the_push_gates(cli, sites, tmp_path):
    alpha, _ = sites
    start = git(alpha, "rev-parse", "HEAD").strip()
    add(alpha, "alpha-2025-red", "Red", tlp="red")
    git(alpha, "rm", "-q", "kb/strategies/alpha-2025-red.md")
    git(alpha, "commit", "-qm", "remove it again")
    target = tmp_path / "out.bundle"
    result = cli("bundle", "create", str(target), "--since", start, kb=alpha)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "kb/strategies/alpha-2025-red.md:9: tlp:" in result.stderr
    assert not target.exists() and not list(tmp_path.glob(".out.bundle*"))
    add(alpha, "alpha-2025-pii", "PII", body="Caller at 414-555-0199 saw it.")
    result = cli("bundle", "create", str(target), "--since", f"{start}", kb=alpha)
    assert result.exit_code == ExitCode.PROBLEMS and ":14: phone:" in result.stderr


def test_bundle_apply_validates_what_comes_in(cli, sites, tmp_path):
    alpha, beta = sites
    start = git(alpha, "rev-parse", "HEAD").strip()
    write(
        alpha / "kb/strategies/alpha-2025-bad.md",
        entry_text("alpha-2025-bad", "alpha", "Bad").replace("tlp: green", "tlp: purple"),
    )
    git(alpha, "add", "-A")
    git(alpha, "commit", "-qm", "bad entry")
    git(alpha, "bundle", "create", "-q", str(tmp_path / "bad.bundle"), f"^{start}", "main")
    before = snapshot(beta)
    result = cli("bundle", "apply", str(tmp_path / "bad.bundle"), kb=beta)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "kb/strategies/alpha-2025-bad.md:9:" in result.stderr
    assert snapshot(beta) == before
    assert git(beta, "for-each-ref", "refs/cacop") == ""


def test_bundle_missing_prerequisites_is_exit_4(cli, sites, tmp_path):
    alpha, beta = sites
    add(alpha, "alpha-2025-a", "A")
    middle = git(alpha, "rev-parse", "HEAD").strip()
    add(alpha, "alpha-2025-b", "B")
    assert bundled_since(cli, alpha, tmp_path / "b.bundle", middle).exit_code == 0
    before = snapshot(beta)
    result = cli("bundle", "apply", str(tmp_path / "b.bundle"), kb=beta)
    assert result.exit_code == ExitCode.GIT and "cannot be applied" in result.stderr
    assert result.stderr.splitlines() == [
        "error: b.bundle cannot be applied here: it builds on commits this clone lacks",
        "hint: ask for one made with an older --since, or a full bundle",
    ]
    assert snapshot(beta) == before


@pytest.mark.parametrize(
    ("content", "code", "said"),
    [
        (b"", ExitCode.GIT, "{name} is not a bundle of a knowledge base"),
        (bytes(range(256)) * 4, ExitCode.GIT, "{name} is not a bundle of a knowledge base"),
        (b"# v2 git bundle\n\n", ExitCode.PROBLEMS,
         "{name} holds no branch, so there is nothing to apply"),
    ],
    ids=["empty", "random", "no-branch"],
)  # fmt: skip
def test_a_file_that_is_no_usable_bundle_is_named_with_what_to_do(
    cli, sites, tmp_path, content, code, said
):
    _, beta = sites
    bundle = tmp_path / "from-alpha.bundle"
    bundle.write_bytes(content)
    before = snapshot(beta)
    result = cli("bundle", "apply", str(bundle), kb=beta)
    assert result.exit_code == code
    error, hint = result.stderr.splitlines()
    assert error == "error: " + said.format(name=bundle.name)
    assert hint.startswith("hint: ask for the file that `cacop bundle create` wrote") or (
        hint == "hint: ask the sending site to make the bundle again with `cacop bundle create`"
    )
    assert snapshot(beta) == before


def test_bundle_paths_and_revisions_are_never_options(cli, sites, tmp_path, monkeypatch):
    alpha, beta = sites
    add(alpha, "alpha-2025-a", "A")
    monkeypatch.chdir(tmp_path)
    made = cli("bundle", "create", "--", "--output=PWNED", kb=alpha)
    assert made.exit_code == 0, made.stderr
    assert (tmp_path / "--output=PWNED").is_file() and not (tmp_path / "PWNED").exists()
    bad_since = cli("bundle", "create", "x.bundle", "--since=--output=PWNED", kb=alpha)
    assert bad_since.exit_code == ExitCode.USAGE and not (tmp_path / "x.bundle").exists()
    applied = cli("bundle", "apply", "--", "--output=PWNED", kb=beta)
    assert applied.exit_code == 0, applied.stderr
    assert not list(tmp_path.rglob("PWNED"))
    missing = cli("bundle", "apply", "--", "--nothing-here", kb=beta)
    assert missing.exit_code == ExitCode.PROBLEMS and "no such bundle" in missing.stderr
    assert os.listdir(tmp_path).count("PWNED") == 0


def test_nothing_to_bundle_is_said(cli, sites, tmp_path):
    alpha, _ = sites
    result = cli("bundle", "create", str(tmp_path / "e.bundle"), "--since", "HEAD", kb=alpha)
    assert result.exit_code == ExitCode.PROBLEMS and "nothing to bundle" in result.stderr


def test_bundle_create_removes_the_partial_file_a_killed_one_left(cli, sites, tmp_path):
    """A bundle create killed mid-write leaves `.NAME.PID.partial` (commits in a file);
    the next one into the same place removes it, never one whose cacop still runs."""
    import subprocess

    alpha, _ = sites
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".out.bundle.{dead.pid}.partial"
    running = tmp_path / f".out.bundle.{os.getppid()}.partial"
    for path in (stale, running):
        path.write_bytes(b"# v2 git bundle\n")
    made = cli("bundle", "create", str(tmp_path / "out.bundle"), kb=alpha)
    assert made.exit_code == 0, made.stderr
    assert not stale.exists() and running.exists()
