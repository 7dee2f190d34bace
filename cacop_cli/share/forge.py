"""Links to the forge that hosts the shared repository: where to open a pull request.

`parse_remote` reads a remote's address, `forge_of` names the forge behind a host,
`compare_url` builds the page that opens a pull (merge) request, and `open_with_gh`
asks GitHub's `gh` to open one when it is installed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import quote

from .. import gitrepo


def parse_remote(url: str) -> tuple[str, str] | None:
    """(host, owner/repo path) of an https or ssh remote address; None for a local path."""
    scp = re.fullmatch(r"(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)", url)
    web = re.fullmatch(
        r"(?:https?|ssh|git)://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+)", url
    )
    match = web or (scp if "://" not in url else None)
    if not match:
        return None
    path = match.group("path").strip("/").removesuffix(".git").strip("/")
    return (match.group("host").lower(), path) if path else None


def forge_of(host: str) -> str | None:
    if host == "github.com" or host.startswith("github.") or ".github." in host:
        return "github"
    if "gitlab" in host:
        return "gitlab"
    if host in ("bitbucket.org", "www.bitbucket.org") or host.startswith("bitbucket."):
        return "bitbucket"
    if host in ("codeberg.org", "gitea.com") or host.startswith(("gitea.", "forgejo.")):
        return "gitea"
    return None


def compare_url(url: str, base: str, branch: str) -> str | None:
    """The forge's page for opening a pull (merge) request from branch into base."""
    parsed = parse_remote(url)
    if parsed is None:
        return None
    host, path = parsed
    forge = forge_of(host)
    head, into = quote(branch, safe="/"), quote(base, safe="/")
    if forge in ("github", "gitea"):
        suffix = "?expand=1" if forge == "github" else ""
        return f"https://{host}/{path}/compare/{into}...{head}{suffix}"
    if forge == "gitlab":
        return (
            f"https://{host}/{path}/-/merge_requests/new?merge_request%5Bsource_branch%5D={head}"
            f"&merge_request%5Btarget_branch%5D={into}"
        )
    if forge == "bitbucket":
        return f"https://{host}/{path}/pull-requests/new?source={head}&dest={into}"
    return None


def open_with_gh(root: Path, *, branch: str, base: str, title: str, body: str) -> str | None:
    """`gh pr create`; its output (the PR's address), or what stopped it (gh not installed)."""
    import subprocess

    gh = shutil.which("gh")
    if gh is None:
        return "--open-pr: GitHub's `gh` is not installed, so no pull request was opened"
    try:
        result = subprocess.run(
            [
                gh,
                "pr",
                "create",
                "--head",
                branch,
                "--base",
                base,
                "--title",
                title,
                "--body",
                body,
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=gitrepo.network_timeout(),
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"gh pr create did not work: {exc}"
    output = (result.stdout or result.stderr).strip()
    return output if result.returncode == 0 else f"gh pr create did not work: {output}"
