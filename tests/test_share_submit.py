"""`cacop submit` over real git: a git daemon on 127.0.0.1, a bare remote, site clones."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from gitserver import Network, entry_text, git, snapshot, write

import cacop_cli
from cacop_cli import search, share
from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode
from cacop_cli.models import EntryDraft
from cacop_cli.share import compare_url, parse_remote

TODAY = dt.date.today()
YEAR = TODAY.year
WP = f"alpha-{YEAR}-weekly-gun-crime-bulletin"
BULLETIN = "# Weekly gun-crime bulletin\n\nShootings fell 12% against the 4-week average.\n"


def remote_branches(net: Network) -> list[str]:
    out = git(net.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads")
    return out.split()


def submit_file(cli, site: Path, *extra: str, name="bulletin.md", text=BULLETIN):
    source = write(site.parent / "outside" / name, text)
    return cli(
        "submit",
        str(source),
        "--title",
        "Weekly gun crime bulletin",
        "--topic",
        "gun-violence",
        "--product-type",
        "bulletin",
        *extra,
        kb=site,
    )


def test_submit_file_pushes_a_branch_and_leaves_the_user_exactly_where_they_were(cli, net, site_a):
    # uncommitted work of every kind: an edit, a staged edit, an untracked file, a stash
    strategy = site_a / "kb/strategies/beta-2023-hot-spots-dosage.md"
    write(strategy, strategy.read_text() + "\nLocal notes, not yet committed.\r\n")
    checklist = site_a / "kb/work-products/alpha-2024-shooting-review-checklist/checklist.md"
    write(checklist, checklist.read_text() + "- staged line\n")
    git(site_a, "add", str(checklist))
    write(site_a / "kb/strategies/draft.md", "half-written draft\n")
    git(site_a, "switch", "-q", "-c", "my-work")
    before = snapshot(site_a)

    result = submit_file(cli, site_a, "--summary", "Weekly counts for command staff.")

    assert result.exit_code == ExitCode.OK, result.stderr
    branch = f"submit/{WP}"
    assert f"{branch}" in result.stdout
    assert branch in remote_branches(net)
    after = snapshot(site_a)
    assert after["files"] == before["files"]
    assert after["status"] == before["status"] and after["index"] == before["index"]
    assert after["head"] == before["head"] and after["branch"] == "refs/heads/my-work"
    assert after["worktrees"] == 1
    shared = git(net.bare, "show", f"{branch}:kb/work-products/{branch[7:]}.md")
    assert "product_type: bulletin" in shared and "attachments: [bulletin.md]" in shared
    assert "Weekly counts for command staff." in shared
    attachment = git(net.bare, "show", f"{branch}:kb/work-products/{branch[7:]}/bulletin.md")
    assert attachment == BULLETIN
    message = git(net.bare, "log", "-1", "--format=%B", branch)
    assert branch[7:] in message and "alpha" in message
    # branched from the shared main, not from the user's branch
    assert (
        git(net.bare, "rev-parse", f"{branch}^").strip()
        == git(net.bare, "rev-parse", "main").strip()
    )


def test_submit_existing_entry_and_a_response(cli, net, site_a):
    write(
        site_a / "kb/strategies/alpha-2025-night-patrols.md",
        entry_text("alpha-2025-night-patrols", "alpha", "Night patrols"),
    )
    response = "kb/rfis/beta-2025-nibin-and-group-data/responses/alpha-20250301-aaaa.md"
    write(
        site_a / response,
        (
            "---\nid: alpha-20250301-aaaa\ntype: response\ntitle: We do that weekly\nsite: alpha\n"
            "authors: [A. Analyst]\ncreated: 2025-03-01\ntopics: [gun-violence]\ntlp: green\n"
            "rfi: beta-2025-nibin-and-group-data\n---\n\nWeekly joint review.\n"
        ),
    )
    before = snapshot(site_a)
    assert cli("submit", "alpha-2025-night-patrols", kb=site_a).exit_code == 0
    result = cli("submit", "alpha-20250301-aaaa", "--json", kb=site_a)
    assert result.exit_code == 0, result.stderr
    assert '"branch": "submit/alpha-20250301-aaaa"' in result.stdout
    assert git(net.bare, "show", f"submit/alpha-20250301-aaaa:{response}").startswith("---")
    assert snapshot(site_a)["files"] == before["files"]


def test_no_push_then_submit_id_sends_the_same_branch(cli, net, site_a):
    result = submit_file(cli, site_a, "--no-push")
    assert result.exit_code == 0, result.stderr
    assert "not pushed" in result.stdout
    assert remote_branches(net) == ["main"]
    again = cli("submit", WP, kb=site_a)
    assert again.exit_code == 0, again.stderr
    assert f"submit/{WP}" in remote_branches(net)


def test_a_fault_in_the_similar_entries_lookup_surfaces_and_nothing_is_made(
    net, site_a, monkeypatch
):
    """A bug in search must not read as "no similar entries" (the old guard caught
    ImportError and AttributeError); the submission stops before any branch exists."""

    def broken(*args, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'hits'")

    monkeypatch.setattr(search, "similar_to_text", broken)
    source = write(site_a.parent / "outside" / "bulletin.md", BULLETIN)
    before = snapshot(site_a)
    with pytest.raises(AttributeError, match="hits"):
        draft = EntryDraft("work-product", "Weekly gun crime bulletin", ["gun-violence"])
        share.submit_files(load_kb(site_a), [source], draft, share.Sending(push=False))
    assert snapshot(site_a) == before
    assert remote_branches(net) == ["main"]


def test_an_index_that_cannot_be_used_still_lets_sync_finish(site_a):
    """A busy or damaged index is the user's state, not a bug: refresh says False."""
    (site_a / ".cacop").write_text("not a folder")  # the index cannot be created
    assert share.refresh_index(load_kb(site_a)) is False


def test_a_search_module_that_will_not_import_surfaces_from_refresh(site_a, monkeypatch):
    monkeypatch.setitem(sys.modules, "cacop_cli.search", None)  # `import` now raises
    monkeypatch.delattr(cacop_cli, "search")
    with pytest.raises(ImportError):
        share.refresh_index(load_kb(site_a))


# ---------------------------------------------------------------- gates (hostile cases 35, 37, 38)


@pytest.mark.parametrize("tlp", ["amber", "red"])
def test_entry_above_max_tlp_is_refused_and_nothing_leaves(cli, net, site_a, tlp):
    before = snapshot(site_a)
    result = submit_file(cli, site_a, "--tlp", tlp)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "tlp" in result.stderr and "share.max_tlp" in result.stderr
    assert ".md:" in result.stderr  # names the file and line
    assert remote_branches(net) == ["main"]
    assert snapshot(site_a) == before  # no branch made


def test_existing_red_entry_is_refused(cli, net, site_a):
    write(
        site_a / "kb/strategies/alpha-2025-red-one.md",
        entry_text("alpha-2025-red-one", "alpha", "Red one", tlp="red"),
    )
    result = cli("submit", "alpha-2025-red-one", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "kb/strategies/alpha-2025-red-one.md:9: tlp:" in result.stderr
    assert git(site_a, "branch", "--list", "submit/*") == ""


def test_response_less_strict_than_its_rfi_is_invalid(cli, net, site_a):
    rfi = site_a / "kb/rfis/beta-2025-nibin-and-group-data.md"
    git(site_a, "config", "user.name", "Maintainer")
    write(rfi, rfi.read_text().replace("tlp: green", "tlp: amber"))
    git(site_a, "commit", "-qam", "RFI is amber")
    git(site_a, "push", "-q", "origin", "main")
    response = site_a / "kb/rfis/beta-2025-nibin-and-group-data/responses/alpha-20250210-1a2b.md"
    write(response, response.read_text().replace("more text", "more text."))
    result = cli("submit", "alpha-20250210-1a2b", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "less strict than the RFI" in result.stderr


PII_CASES = {
    "ssn": "Victim SSN: 536-22-1234 per the report.",
    "date-of-birth": "Suspect, DOB 03/14/2010, was stopped.",
    "phone": "Call the mother at (901) 555-0142.",
    "driver-licence": "Driver's license no. D123-4567-8901 was suspended.",
    "plate": "ALPR hit on plate ABC1234 at 02:10.",
    "email": "Witness wrote from jane.doe1987@gmail.com.",
}


def test_personal_data_in_an_attachment_is_refused_with_kind_and_line(cli, net, site_a):
    before = snapshot(site_a)
    kinds = sorted(PII_CASES)
    text = "# Notes\n\n" + "".join(f"{PII_CASES[kind]}\n" for kind in kinds)
    result = submit_file(cli, site_a, text=text)
    assert result.exit_code == ExitCode.PROBLEMS
    for line, kind in enumerate(kinds, start=3):
        assert f"bulletin.md:{line}: {kind}:" in result.stderr
    assert "--allow-personal-data" in result.stderr
    assert remote_branches(net) == ["main"] and snapshot(site_a) == before


def test_juvenile_date_of_birth_is_named_as_such(cli, net, site_a):
    born = TODAY.replace(year=YEAR - 15) - dt.timedelta(days=1)
    result = submit_file(cli, site_a, text=f"Subject born on {born}, a repeat victim.\n")
    assert result.exit_code == ExitCode.PROBLEMS
    assert "age 15: a juvenile" in result.stderr


def test_personal_data_in_an_entry_body_is_refused(cli, net, site_a):
    body = "Contact the victim's mother at 901-555-0142."
    write(
        site_a / "kb/strategies/alpha-2025-callbacks.md",
        entry_text("alpha-2025-callbacks", "alpha", "Callbacks", body=body),
    )
    result = cli("submit", "alpha-2025-callbacks", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "kb/strategies/alpha-2025-callbacks.md:14: phone:" in result.stderr


def test_override_is_explicit_and_recorded_in_the_entry(cli, net, site_a):
    text = "Tip line for the public: (901) 555-0142 (printed on every flyer).\n"
    short = submit_file(cli, site_a, "--allow-personal-data", "ok", text=text)
    assert short.exit_code == ExitCode.USAGE  # a reason must say something
    result = submit_file(
        cli, site_a, "--allow-personal-data", "Published agency tip line, not a person", text=text
    )
    assert result.exit_code == 0, result.stderr
    assert "shared anyway" in result.stderr
    shared = git(net.bare, "show", f"submit/{WP}:kb/work-products/{WP}.md")
    assert "pii_override:" in shared
    assert "reason: Published agency tip line, not a person" in shared
    assert "by: Test Analyst" in shared and f"date: {TODAY}" in shared
    assert "kinds: [phone]" in shared


def test_override_never_lets_a_secret_through(cli, net, site_a):
    text = 'RMS service account: password = "Sup3rS3cret!Pass"\n'
    result = submit_file(
        cli, site_a, "--allow-personal-data", "Reviewed by the privacy office", text=text
    )
    assert result.exit_code == ExitCode.PROBLEMS
    assert "bulletin.md:1: secret:" in result.stderr
    assert remote_branches(net) == ["main"]


def test_secrets_in_an_attachment_are_refused(cli, net, site_a):
    line = "api_key: sk_live_51H8abcDEFghiJKLmnoPQRstuVWxyz0123456789"
    result = submit_file(cli, site_a, text=f"Setup notes\n\n{line}\n")
    assert result.exit_code == ExitCode.PROBLEMS
    assert "bulletin.md:3: secret:" in result.stderr


def test_invalid_entry_is_refused_with_the_line(cli, net, site_a):
    write(
        site_a / "kb/strategies/alpha-2025-broken.md",
        entry_text("alpha-2025-broken", "alpha", "Broken").replace("tlp: green", "tlp: grene"),
    )
    result = cli("submit", "alpha-2025-broken", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "kb/strategies/alpha-2025-broken.md:9:" in result.stderr


# ---------------------------------------------------------------- paths (hostile cases 18, 33)


def test_symlinked_file_is_refused(cli, net, site_a, tmp_path):
    real = write(tmp_path / "real.md", "hello\n")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    result = cli("submit", str(link), "--title", "Link", "--topic", "technology", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "symbolic link" in result.stderr
    assert remote_branches(net) == ["main"]


def test_existing_entry_with_symlinked_attachment_is_refused(cli, net, site_a, tmp_path):
    folder = site_a / "kb/work-products/alpha-2024-shooting-review-checklist"
    (folder / "checklist.md").unlink()
    (folder / "checklist.md").symlink_to("/etc/hostname")
    result = cli("submit", "alpha-2024-shooting-review-checklist", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "checklist.md" in result.stderr
    assert remote_branches(net) == ["main"]


def test_fifo_and_oversized_files_are_refused(cli, net, site_a, tmp_path):
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    result = cli("submit", str(fifo), "--title", "Pipe", "--topic", "technology", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS and "not a regular file" in result.stderr
    config = site_a / "cacop.yaml"
    config.write_text(config.read_text() + "limits:\n  attachment_bytes: 100\n")
    big = write(tmp_path / "big.csv", "x" * 101)
    result = cli("submit", str(big), "--title", "Big", "--topic", "technology", kb=site_a)
    assert result.exit_code == ExitCode.PROBLEMS and "limit" in result.stderr


def test_option_lookalikes_are_never_options(cli, net, site_a, tmp_path):
    before = snapshot(site_a)
    as_id = cli("submit", "--", "--output=PWNED", kb=site_a)
    assert as_id.exit_code == ExitCode.USAGE and "not an entry id" in as_id.stderr
    as_file = cli(
        "submit", "--title", "T", "--topic", "technology", "--", "--output=PWNED", kb=site_a
    )
    assert as_file.exit_code == ExitCode.PROBLEMS and "no such file" in as_file.stderr
    assert not list(site_a.rglob("PWNED")) and not list(tmp_path.rglob("PWNED"))
    assert snapshot(site_a) == before


# ---------------------------------------------------------------- git failures (30, 31, 34)


def test_push_rejected_by_a_server_hook_is_exit_4_with_the_reason(cli, net, site_a):
    hook = net.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch names are reviewed by the admins' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = snapshot(site_a)
    result = submit_file(cli, site_a)
    assert result.exit_code == ExitCode.GIT
    assert "rejected" in result.stderr
    assert "pre-receive hook declined" in result.stderr
    assert "reviewed by the admins" in result.stderr
    assert snapshot(site_a) == before  # the branch made for it is gone again


def test_push_rejected_non_fast_forward_is_exit_4(cli, net, site_a):
    # someone already pushed a different branch of that name
    place = net.tmp / "squatter"
    git(net.tmp, "clone", "-q", str(net.bare), str(place))
    git(place, "switch", "-q", "-c", f"submit/{WP}")
    write(place / "x.txt", "x\n")
    git(place, "add", "x.txt")
    git(place, "commit", "-qm", "x")
    git(place, "push", "-q", "origin", "HEAD")
    result = submit_file(cli, site_a)
    assert result.exit_code == ExitCode.GIT
    assert "rejected" in result.stderr and (
        "fetch first" in result.stderr or "non-fast-forward" in result.stderr
    )


def test_unreachable_remote_is_exit_4_fast_and_nothing_changes(cli, net, site_a, monkeypatch):
    import socket
    import time

    before = snapshot(site_a)
    with socket.socket() as listener:  # a port that accepts and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        git(site_a, "remote", "set-url", "origin", f"git://127.0.0.1:{port}/kb.git")
        started = time.monotonic()
        monkeypatch.setenv("CACOP_GIT_TIMEOUT", "1")
        result = submit_file(cli, site_a)
        elapsed = time.monotonic() - started
    assert result.exit_code == ExitCode.GIT, result.stderr
    assert elapsed < 10
    assert snapshot(site_a) == before


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% PWNED",
        "--upload-pack=touch PWNED",
        "ssh://-oProxyCommand=touch%20PWNED/x",
        "-oProxyCommand=touch PWNED:x",
        "fd::17",
    ],
)
def test_dangerous_remote_urls_are_refused(cli, net, site_a, url):
    git(site_a, "config", "remote.origin.url", url)
    result = submit_file(cli, site_a)
    assert result.exit_code == ExitCode.GIT
    assert "is refused" in result.stderr
    assert not list(site_a.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()


# ---------------------------------------------------------------- pull-request links


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://github.com/psp/kb.git",
            "https://github.com/psp/kb/compare/main...submit/x-1?expand=1",
        ),
        (
            "git@github.com:psp/kb.git",
            "https://github.com/psp/kb/compare/main...submit/x-1?expand=1",
        ),
        (
            "ssh://git@github.com/psp/kb",
            "https://github.com/psp/kb/compare/main...submit/x-1?expand=1",
        ),
        (
            "https://gitlab.com/psp/sub/kb.git",
            "https://gitlab.com/psp/sub/kb/-/merge_requests/new?merge_request%5Bsource_branch%5D="
            "submit/x-1&merge_request%5Btarget_branch%5D=main",
        ),
        (
            "ssh://git@gitlab.example.gov:2222/psp/kb.git",
            "https://gitlab.example.gov/psp/kb/-/merge_requests/new?merge_request%5Bsource_branch%5D="
            "submit/x-1&merge_request%5Btarget_branch%5D=main",
        ),
        (
            "git@bitbucket.org:psp/kb.git",
            "https://bitbucket.org/psp/kb/pull-requests/new?source=submit/x-1&dest=main",
        ),
        (
            "https://codeberg.org/psp/kb.git",
            "https://codeberg.org/psp/kb/compare/main...submit/x-1",
        ),
        (
            "git@gitea.agency.gov:psp/kb.git",
            "https://gitea.agency.gov/psp/kb/compare/main...submit/x-1",
        ),
        ("https://git.agency.gov/psp/kb.git", None),
        ("/srv/git/kb.git", None),
    ],
)
def test_compare_urls(url, expected):
    assert compare_url(url, "main", "submit/x-1") == expected


def test_parse_remote_forms():
    assert parse_remote("git@github.com:psp/kb.git") == ("github.com", "psp/kb")
    assert parse_remote("https://user@github.com/psp/kb/") == ("github.com", "psp/kb")
    assert parse_remote("../remote.git") is None


def test_github_remote_prints_compare_link_and_open_pr_without_gh(
    cli, net, site_a, tmp_path, monkeypatch
):
    # the remote is called github.com; git rewrites it to the local daemon (insteadOf)
    git(site_a, "config", f"url.{net.url}.insteadOf", "https://github.com/psp/kb.git")
    git(site_a, "remote", "set-url", "origin", "https://github.com/psp/kb.git")
    bin_dir = tmp_path / "bin"  # git, but no gh
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(bin_dir))
    result = submit_file(cli, site_a, "--open-pr")
    assert result.exit_code == 0, result.stderr
    assert f"https://github.com/psp/kb/compare/main...submit/{WP}?expand=1" in result.stdout
    assert f"submit/{WP}" in remote_branches(net)
    assert "--open-pr: GitHub's `gh` is not installed" in result.stdout + result.stderr


def test_submit_outside_a_git_repository_says_so(cli, kb_path):
    result = cli("submit", "alpha-2024-shooting-review-checklist", kb=kb_path)
    assert result.exit_code == ExitCode.GIT
    assert "not a git repository" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["submit", "alpha-2024-shooting-review-checklist", "--no-push"], ["sync", "--no-push"],
     ["validate", "--changed-since", "HEAD"], ["bundle", "create", "out.bundle"]],
)  # fmt: skip
def test_a_clone_that_belongs_to_another_user_is_named_as_such(cli, git_kb, monkeypatch, args):
    if os.geteuid() == 0:  # git refuses a repository that another user owns, even to root
        for folder, _, names in os.walk(git_kb):
            for name in [".", *names]:
                os.lchown(os.path.join(folder, name), 65534, 65534)
    else:  # git's own switch for the same check, for a non-root run of the tests
        monkeypatch.setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")
    monkeypatch.chdir(git_kb)
    result = cli(*args, kb=git_kb)
    assert result.exit_code == ExitCode.GIT, result.stderr
    assert result.stderr.splitlines() == [
        f"error: git refuses to work in {git_kb}: the folder belongs to another user",
        "hint: work in your own clone (`git clone URL`); or, if you trust the folder's owner, "
        f"`git config --global --add safe.directory {git_kb}`",
    ]


@pytest.mark.parametrize("push", [[], ["--no-push"]])
def test_submit_to_a_branch_the_remote_lacks_names_the_setting(cli, net, site_a, push):
    config = site_a / "cacop.yaml"
    config.write_text(config.read_text().replace("branch: main", "branch: trunk"))
    git(site_a, "update-index", "--assume-unchanged", "cacop.yaml")
    before = snapshot(site_a)
    result = submit_file(cli, site_a, *push)
    assert result.exit_code == ExitCode.GIT  # the remote answered: even offline work waits
    assert result.stderr.splitlines()[-2:] == [
        "error: the remote 'origin' has no branch 'trunk' (it has: main)",
        "hint: set `branch:` in cacop.yaml to the branch the sites share; nothing here was changed",
    ]
    assert snapshot(site_a) == before and git(site_a, "branch", "--list", "submit/*") == ""


def test_git_never_prompts_for_a_password(cli, net, site_a):
    git(site_a, "remote", "set-url", "origin", "https://127.0.0.1:9/kb.git")
    result = subprocess.run(
        ["git", "-C", str(site_a), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().startswith("https://")
    outcome = submit_file(cli, site_a)
    assert outcome.exit_code == ExitCode.GIT
    assert "cannot reach the remote" in outcome.stderr


# ---------------------------------------------------------------- hostile case 32


@pytest.mark.ctrl_c
def test_ctrl_c_during_the_push_leaves_the_clone_as_before(net, site_a, cacop_exe, tmp_path):
    import signal
    import socket
    import time

    source = write(tmp_path / "outside" / "b.md", BULLETIN)
    with socket.socket() as silent:  # fetches answer; the push hangs
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        git(
            site_a,
            "config",
            "remote.origin.pushurl",
            f"git://127.0.0.1:{silent.getsockname()[1]}/x",
        )
        before = snapshot(site_a)
        process = subprocess.Popen(
            [
                *cacop_exe,
                "--kb",
                str(site_a),
                "submit",
                str(source),
                "--title",
                "Bulletin",
                "--topic",
                "gun-violence",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "CACOP_GIT_TIMEOUT": "30"},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not git(site_a, "branch", "--list", "submit/*"):
            time.sleep(0.02)  # the branch exists: the push is under way
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert b"Traceback" not in stderr
    assert snapshot(site_a) == before  # no branch, no worktree, nothing staged
    assert not (site_a / ".git/index.lock").exists()
