"""`check-share` and `hooks install`: the sharing gate for plain git and for CI.

`check_range` runs the commit gate (`gates.gate_commits`) over a revision range, the way
`sync` does before a push; `check_pre_push` reads the lines git hands a pre-push hook;
`install_hook` writes that hook, never over one that is not ours.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import gitrepo
from ..config import KB
from ..errors import CacopError, Refused, UsageError
from ..models import Outcome
from .gates import Finding
from .outgoing import gate_outgoing, reason_from_env
from .session import clear_leftovers, no_commits_yet

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
HOOK_MARK = "# cacop-hook: pre-push"
CHAINED = "pre-push.local"


@dataclass
class ShareCheck(Outcome):
    range: str
    commits: int
    findings: list[Finding] = field(default_factory=list)
    unscanned_allowed: list[Finding] = field(default_factory=list)  # with --allow-unscanned
    unscanned_reason: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


def _revision(kb: KB, rev: str, spec: str) -> str:
    sha = gitrepo.rev_parse(kb.root, rev)
    if sha is None:
        raise UsageError(
            f"{spec!r}: {rev!r} names no commit in this clone",
            hint="give a range like origin/main..HEAD (fetch first if the branch is remote)",
        )
    return sha


def default_range(kb: KB) -> str:
    """The commits on HEAD that the shared branch lacks; all of HEAD without one."""
    shared = f"{kb.remote}/{kb.branch}"
    return f"{shared}..HEAD" if gitrepo.rev_parse(kb.root, shared) else "HEAD"


def check_range(
    kb: KB,
    spec: str | None = None,
    today: dt.date | None = None,
    allow_unscanned: str | None = None,
) -> ShareCheck:
    """Findings of the sharing gate in the commits of `spec` (A..B, or one revision's
    whole history). A revision that names no commit is a UsageError (exit 2). With
    `allow_unscanned` (a reason), files cacop cannot read are listed, not refused."""
    gitrepo.require_repository(kb.root, "check what would be shared")
    clear_leftovers(kb)
    spec = default_range(kb) if spec is None else spec
    if not spec.strip() or spec.startswith("-") or "..." in spec:
        raise UsageError(
            f"{spec!r} is not a range of commits",
            hint="give BASE..HEAD, e.g. origin/main..HEAD (or one revision for all its history)",
        )
    base, dots, head = spec.partition("..")
    if not dots:
        base, head = "", spec
    if (head or "HEAD") == "HEAD" and gitrepo.rev_parse(kb.root, "HEAD") is None:
        raise no_commits_yet("to check")
    head_sha = _revision(kb, head or "HEAD", spec)
    base_sha = _revision(kb, base, spec) if base else None
    commits = gitrepo.commits_between(kb.root, base_sha, head_sha)
    return _checked(kb, spec, commits, today, allow_unscanned)


def check_pre_push(
    kb: KB, lines: str, today: dt.date | None = None, allow_unscanned: str | None = None
) -> ShareCheck:
    """The gate over what a `git push` sends, from the lines git gives a pre-push hook:
    `<local ref> <local sha> <remote ref> <remote sha>`. Deletions send nothing; a new
    branch (or a remote commit this clone lacks) sends what no remote-tracking branch has.
    The --allow-unscanned reason may come from CACOP_ALLOW_UNSCANNED, which cacop's own
    push (`sync --allow-unscanned`) sets, so that the hook takes the same override."""
    gitrepo.require_repository(kb.root, "check what would be shared")
    commits: list[str] = []
    refs: list[str] = []
    for number, line in enumerate(lines.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4 or not (_SHA.fullmatch(parts[1]) and _SHA.fullmatch(parts[3])):
            raise UsageError(
                f"pre-push input line {number} is not '<local ref> <sha> <remote ref> <sha>'",
                hint="--stdin-pre-push reads what git gives a pre-push hook",
            )
        local_ref, local_sha, remote_ref, remote_sha = parts
        if set(local_sha) == {"0"}:
            continue  # a deletion sends no commits
        refs.append(remote_ref)
        known = set(remote_sha) != {"0"} and gitrepo.rev_parse(kb.root, remote_sha)
        if known:
            found = gitrepo.commits_between(kb.root, remote_sha, local_sha)
        else:
            found = gitrepo.commits_not_on_remotes(kb.root, local_sha)
        commits += [commit for commit in found if commit not in commits]
    described = "push to " + (", ".join(refs) if refs else "nothing")
    return _checked(kb, described, commits, today, allow_unscanned or reason_from_env())


def _checked(
    kb: KB, described: str, commits: list[str], today: dt.date | None, reason: str | None
) -> ShareCheck:
    gated = gate_outgoing(
        kb, commits, base=None, tip="", today=today, allow_unscanned=reason, validate=False
    )
    return ShareCheck(
        described, len(commits), gated.refused, gated.unscanned_allowed, gated.unscanned_reason
    )


# ---------------------------------------------------------------- the hook


HOOK = """\
#!/bin/sh
{mark} (written by `cacop hooks install`; rerun it to update this file)
# Runs cacop's sharing gate on what `git push` sends: nothing above share.max_tlp, no
# personal data, no secrets. A hook of your own goes in {chained} next to this file,
# made executable: it runs first, with the same arguments and input.
input=$(cat)
here=$(dirname "$0")
if [ -x "$here/{chained}" ]; then
    printf '%s\\n' "$input" | "$here/{chained}" "$@" || exit $?
fi
if command -v cacop >/dev/null 2>&1; then
    printf '%s\\n' "$input" | cacop check-share --kb . --stdin-pre-push
elif [ -x {python} ]; then
    printf '%s\\n' "$input" | {python} -m cacop_cli check-share --kb . --stdin-pre-push
else
    echo "cacop pre-push: cacop is not installed, so nothing was pushed." >&2
    echo "hint: install the cacop that cacop.yaml names (cacop.requires), then push again." >&2
    exit 1
fi
"""


@dataclass
class HookInstalled:
    path: Path
    status: str  # installed, updated, chained (a foreign hook moved to pre-push.local), kept


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def hook_text() -> str:
    python = Path(sys.executable).as_posix()
    return HOOK.format(mark=HOOK_MARK, chained=CHAINED, python=_sh_quote(python))


def install_hook(root: Path, *, force: bool = False, keep_foreign: bool = False) -> HookInstalled:
    """Write the pre-push hook where git looks for hooks (core.hooksPath respected).

    A hook that is not ours is never overwritten: it is refused (Refused, exit 1), kept
    (keep_foreign, as `init` does), or with force moved to pre-push.local, which ours runs
    first."""
    gitrepo.require_repository(root, "install a git hook")
    folder = gitrepo.hooks_dir(root)
    target = folder / "pre-push"
    status = "installed"
    if target.is_symlink() or target.exists():
        try:
            ours = HOOK_MARK in target.read_text("utf-8", errors="replace")
        except OSError:
            ours = False
        status = "updated" if ours else status
        if not ours:
            if keep_foreign:
                return HookInstalled(target, "kept")
            chained = folder / CHAINED
            if not force or chained.exists() or chained.is_symlink():
                raise Refused(
                    f"{target} is a pre-push hook that cacop did not write; it was left as it is",
                    hint=f"to run both, rename it to {CHAINED} in the same folder (cacop's hook "
                    "runs it first), then `cacop hooks install`; or `cacop hooks install "
                    f"--force` does that rename for you"
                    + (f" (first move the existing {CHAINED})" if chained.exists() else ""),
                )
            os.replace(target, chained)
            status = "chained"
    temporary = target.with_name(".pre-push.cacop-tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(hook_text().encode("utf-8"))  # LF endings: git's sh reads them
        mode = temporary.stat().st_mode
        temporary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(temporary, target)
    except OSError as error:  # hooks folder is a file, core.hooksPath unwritable, disk full
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise CacopError(
            f"cannot write the hook in {folder}: {(error.strerror or str(error)).lower()}",
            hint="git's hooks folder (or core.hooksPath) must be a folder you can write; "
            "fix it, then run `cacop hooks install` again",
        ) from error
    return HookInstalled(target, status)
