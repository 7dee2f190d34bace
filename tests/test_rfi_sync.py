"""Two sites answer the same RFI at the same moment; both answers survive a sync through a real
remote, with no conflict, because each answer is a file of its own and the RFI is never edited."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import threading
from pathlib import Path

from fixturefiles import FILES

from cacop_cli import rfi
from cacop_cli.config import load_kb
from cacop_cli.models import EntryDraft

from conftest import git

RFI_ID = "beta-2026-federal-task-force-contacts"


def clone(remote: Path, target: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(target)], check=True)
    return target


def two_clones(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote holding the community KB, and clones of it for alpha and gamma."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = tmp_path / "seed"
    shutil.copytree(FILES / "community", seed)
    git(seed, "init", "-q", "-b", "main")
    (seed / ".gitignore").write_text(".cacop/\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "start")
    git(seed, "push", "-q", str(remote), "main")
    return clone(remote, tmp_path / "alpha"), clone(remote, tmp_path / "gamma")


def answer_at_once(alpha_clone: Path, gamma_clone: Path) -> dict[str, Path]:
    """Both sites answer the same RFI at the same moment (same day, threads released together)."""
    alpha = load_kb(alpha_clone)
    gamma = dataclasses.replace(load_kb(gamma_clone), site="gamma")
    today = rfi.parse_date("2026-06-15", "today")
    start = threading.Barrier(2)
    written: dict[str, Path] = {}

    def answer(kb, text: str) -> None:
        start.wait()
        draft = EntryDraft("response", "", body=text, rfi=RFI_ID)
        written[kb.site] = rfi.respond(kb, draft, today=today).path

    threads = [
        threading.Thread(target=answer, args=(alpha, "Alpha's contact is the ATF RAC.")),
        threading.Thread(target=answer, args=(gamma, "Gamma works with the FBI task force.")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(written) == {"alpha", "gamma"}
    for site, root in (("alpha", alpha_clone), ("gamma", gamma_clone)):
        git(root, "add", "--", "kb")
        git(root, "commit", "-q", "-m", f"{site} answers {RFI_ID}")
    return written


def assert_both_answers_everywhere(cli, clones, written, original_rfi: bytes) -> None:
    names = {written["alpha"].name, written["gamma"].name}
    for root in clones:
        folder = root / "kb/rfis" / RFI_ID / "responses"
        assert {path.name for path in folder.iterdir()} == names
        assert (root / f"kb/rfis/{RFI_ID}.md").read_bytes() == original_rfi  # never edited
        assert not git(root, "status", "--porcelain")
        assert cli("validate", kb=root).exit_code == 0
        listed = cli("rfi", "list", "--json", "--today", "2026-06-15", kb=root)
        row = next(r for r in json.loads(listed.stdout)["rfis"] if r["id"] == RFI_ID)
        assert (row["status"], row["responses"]) == ("answered", 2)
        assert sorted(row["responders"]) == ["alpha", "gamma"]
        for site in ("alpha", "gamma"):
            assert (folder / written[site].name).read_text() == written[site].read_text()


def test_simultaneous_responses_from_two_sites_both_survive_a_git_sync(cli, tmp_path):
    alpha_clone, gamma_clone = two_clones(tmp_path)
    original_rfi = (alpha_clone / f"kb/rfis/{RFI_ID}.md").read_bytes()
    written = answer_at_once(alpha_clone, gamma_clone)
    git(alpha_clone, "push", "-q", "origin", "main")
    pulled = subprocess.run(
        ["git", "pull", "--rebase", "-q", "origin", "main"],
        cwd=gamma_clone,
        capture_output=True,
        text=True,
    )
    assert pulled.returncode == 0, pulled.stderr  # no conflict
    git(gamma_clone, "push", "-q", "origin", "main")
    git(alpha_clone, "pull", "--rebase", "-q", "origin", "main")
    assert_both_answers_everywhere(cli, (alpha_clone, gamma_clone), written, original_rfi)


def test_simultaneous_responses_from_two_sites_both_survive_cacop_sync(cli, tmp_path):
    alpha_clone, gamma_clone = two_clones(tmp_path)
    original_rfi = (alpha_clone / f"kb/rfis/{RFI_ID}.md").read_bytes()
    written = answer_at_once(alpha_clone, gamma_clone)
    gamma_env = {"CACOP_SITE": "gamma"}
    first = cli("sync", kb=alpha_clone)
    assert first.exit_code == 0, first.stderr
    second = cli("sync", kb=gamma_clone, env=gamma_env)  # must integrate alpha's answer first
    assert second.exit_code == 0, second.stderr
    third = cli("sync", kb=alpha_clone)
    assert third.exit_code == 0, third.stderr
    assert_both_answers_everywhere(cli, (alpha_clone, gamma_clone), written, original_rfi)
