"""The whole path, as analysts live it: site A submits a file, a maintainer merges the pull
request, site B syncs and finds the work product. Plus the pull-request checks."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from gitserver import Network, git

from cacop_cli import yamlsafe
from cacop_cli.errors import ExitCode

REPO = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def quick_network(monkeypatch):
    monkeypatch.setenv("CACOP_GIT_TIMEOUT", "5")


def test_site_a_submits_maintainer_merges_site_b_syncs_and_finds_it(
    cli,
    tmp_path,
    git_daemon,  # noqa: F811
    seed,  # noqa: F811
):
    net = Network(tmp_path, git_daemon, seed)
    site_a, site_b = net.clone("alpha"), net.clone("beta")
    bulletin = tmp_path / "carjacking-bulletin.md"
    bulletin.write_text("# Juvenile carjacking pattern\n\nEvenings, near transit stops.\n")

    submitted = cli(
        "submit",
        str(bulletin),
        "--title",
        "Carjacking near transit stops",
        "--topic",
        "crime-analysis",
        "--product-type",
        "bulletin",
        "--tag",
        "carjacking",
        "--summary",
        "A pattern bulletin for patrol and investigations.",
        "--json",
        kb=site_a,
    )
    assert submitted.exit_code == 0, submitted.stderr
    shared = json.loads(submitted.stdout)
    assert shared["pushed"] is True
    entry_id = shared["id"]

    net.maintainer_merge(shared["branch"])

    synced = cli("sync", kb=site_b)
    assert synced.exit_code == 0, synced.stderr
    assert "alpha — work-product: 1 new" in synced.stdout
    assert entry_id in synced.stdout
    shown = cli("show", entry_id, "--json", kb=site_b)
    assert shown.exit_code == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["title"] == "Carjacking near transit stops"
    assert document["attachments"] == ["carjacking-bulletin.md"]
    attachment = site_b / f"kb/work-products/{entry_id}/carjacking-bulletin.md"
    assert attachment.read_bytes() == bulletin.read_bytes()
    found = cli("search", "carjacking transit", "--json", kb=site_b)
    assert found.exit_code == 0, found.stderr
    assert entry_id in [hit["id"] for hit in json.loads(found.stdout)["results"]]

    # site A syncs too: the merge arrives, A's clone ends equal to the shared main
    back = cli("sync", kb=site_a)
    assert back.exit_code == 0, back.stderr
    assert git(site_a, "rev-parse", "HEAD") == git(net.bare, "rev-parse", "main")


def test_ci_workflow_written_by_init_checks_a_pull_request_branch(cli, tmp_path):
    root = tmp_path / "newkb"
    assert cli("init", str(root), "--site", "memphis").exit_code == 0
    workflow = (root / ".github/workflows/cacop.yml").read_text()
    runs = re.findall(r"^\s+run: (.+)$", workflow, re.MULTILINE)
    command = next(run for run in runs if "--changed-since" in run)
    assert "cacop validate --changed-since" in command
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    git(root, "push", "-q", "-u", "origin", "main")
    git(root, "switch", "-q", "-c", "submit/memphis-2025-x")
    entry = root / "kb/strategies/memphis-2025-x.md"
    entry.write_text(
        "---\nid: memphis-2025-x\ntype: strategy\ntitle: X\nsite: memphis\nauthors: [A]\n"
        "created: 2025-01-01\ntopics: [crime-analysis]\ntlp: green\nstatus: active\n"
        "evidence: promising\nrelated: [nowhere-at-all]\n---\n\nBody.\n"
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "PR content")
    # what the CI job runs, with GitHub's base_ref filled in
    argv = re.sub(r'"origin/\$\{\{ github.base_ref \}\}"', "origin/main", command).split()
    assert argv[:3] == ["cacop", "validate", "--changed-since"]
    bad = cli(*argv[1:], kb=root)
    assert bad.exit_code == ExitCode.PROBLEMS
    assert "kb/strategies/memphis-2025-x.md:12: error: related" in bad.stdout
    entry.write_text(entry.read_text().replace("related: [nowhere-at-all]\n", ""))
    git(root, "commit", "-qam", "fix the link")
    good = cli(*argv[1:], kb=root)
    assert good.exit_code == 0, good.stdout + good.stderr


def test_pre_commit_hook_definition_runs_cacop_validate():
    hooks = yamlsafe.load((REPO / ".pre-commit-hooks.yaml").read_text()).value
    hook = next(item for item in hooks if item["id"] == "cacop-validate")
    assert hook["entry"] == "cacop validate" and hook["pass_filenames"] is False
    assert hook["language"] == "python"
    assert re.search(hook["files"], "kb/strategies/x.md") and re.search(hook["files"], "cacop.yaml")
    assert not re.search(hook["files"], "README.md")


def test_the_hook_command_exists_in_the_installed_cli(cacop_exe, kb_path):
    result = subprocess.run(
        [*cacop_exe, "validate"], cwd=kb_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
