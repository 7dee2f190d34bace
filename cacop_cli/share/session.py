"""One sharing command at a time in a clone, and nothing left behind by an earlier one.

`sync`, `submit` and the bundle commands hold `.git/cacop-share.lock` while they work, so
a second one started meanwhile says so at once instead of failing half-way on the network
or on git's own locks. Each first removes the temporary checkouts (plain-text copies of
entries) that a cacop killed earlier left in the temp folder and registered in the clone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import gitrepo
from ..config import KB
from ..errors import Busy, CacopError, Refused
from ..filelock import held

LOCK_NAME = "cacop-share.lock"


def _busy() -> Busy:
    return Busy(
        "another cacop is sharing from this clone (a sync, submit or bundle is running)",
        hint="wait for it to finish, then run this command again",
    )


def _unusable(path: Path, error: OSError) -> CacopError:
    return CacopError(
        f"cannot take the sharing lock {path}: {(error.strerror or str(error)).lower()}",
        hint="check that you may write in the clone's .git folder, then try again",
    )


@contextlib.contextmanager
def sharing(kb: KB) -> Iterator[None]:
    """Hold this clone's sharing lock for the block, after clearing an earlier run's
    leftovers. Raises Busy (exit 1) at once when another cacop holds it."""
    gitrepo.require_repository(kb.root, "share")
    lock = gitrepo.common_git_dir(kb.root) / LOCK_NAME
    with held(lock, True, 0.0, _busy, _unusable):
        clear_leftovers(kb)
        yield


def clear_leftovers(kb: KB) -> list[str]:
    """Remove the temporary checkouts a killed cacop left, and put back where they were
    the files a killed sync had set aside; returns the files put back."""
    gitrepo.clear_leftovers(kb.root)
    return restore_set_aside(kb.root)


def no_commits_yet(what: str) -> Refused:
    """The refusal of a sharing command in a clone whose branch has no commit yet (exit 1):
    git's own "unknown revision 'HEAD'" says neither what is wrong nor what to do."""
    return Refused(
        f"this clone has no commits yet, so there is nothing {what}",
        hint="commit your work first (`git add` the files, then `git commit`), or bring in "
        "the shared history (`git pull` from the shared repository); then run this again",
    )


# What `_move_branch` sets aside lives in .git/cacop-sync-<pid>-<random>/ while the branch
# moves: a manifest (names, and the commits before and after), the untracked files that
# arrive byte for byte (same-N), and the uncommitted edits of files that arrive changed
# (edit-N, with their merged text merged-N and their staged state). A cacop killed there
# leaves it; the next sharing command, `check-share` or `status` puts the work back.
ASIDE_PREFIX = "cacop-sync-"
_MANIFEST = "manifest.json"


def record_set_aside(
    aside: Path,
    branch: str,
    before: str,
    after: str,
    same: list[str],
    edits: dict[str, bytes],
    merged: dict[str, bytes],
    index_entries: str,
) -> None:
    """Write the copies of the edits and then the manifest, before anything is moved."""
    for number, (name, data) in enumerate(edits.items()):
        (aside / f"edit-{number}").write_bytes(data)
        if name in merged:
            (aside / f"merged-{number}").write_bytes(merged[name])
    manifest = {"branch": branch, "before": before, "after": after,
                "same": same, "edits": list(edits), "index": index_entries}  # fmt: skip
    partial = aside / f".{_MANIFEST}.tmp"
    partial.write_text(json.dumps(manifest), encoding="utf-8")
    os.replace(partial, aside / _MANIFEST)


def restore_set_aside(root: Path) -> list[str]:
    """Put back what a sync killed while moving the branch had set aside in
    .git/cacop-sync-*, then remove the folder. Returns the files put back.

    An untracked file set aside comes back where it was when nothing is there now. An
    edited file gets the user's edits back (and their staged state) when the branch is
    still where it was, or the edits merged with what arrived when the branch had moved;
    in each case only when the file still holds what git put there. A folder whose cacop
    still runs is left alone."""
    restored: list[str] = []
    try:
        folders = sorted(gitrepo.git_dir(root).glob(f"{ASIDE_PREFIX}*"))
    except (OSError, CacopError):
        return restored
    for aside in folders:
        pid = aside.name.removeprefix(ASIDE_PREFIX).partition("-")[0]
        if not aside.is_dir() or not gitrepo.process_gone(pid):
            continue
        try:
            manifest = json.loads((aside / _MANIFEST).read_text("utf-8"))
        except FileNotFoundError:
            if any(aside.iterdir()):
                continue  # not cacop's making (or older): never removed unread
            manifest = None
        except (OSError, ValueError):
            continue
        if manifest is not None:
            restored += _put_back(root, aside, manifest)
        shutil.rmtree(aside, ignore_errors=True)
    return restored


def _put_back(root: Path, aside: Path, manifest: dict[str, Any]) -> list[str]:
    restored = []
    for number, name in enumerate(manifest.get("same", [])):
        kept, target = aside / f"same-{number}", root / name
        if kept.is_file() and not target.exists() and not target.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(kept, target)
            restored.append(name)
    head = gitrepo.rev_parse(root, f"refs/heads/{manifest.get('branch', '')}")
    moved = head == manifest.get("after")
    if not moved and head != manifest.get("before"):
        return restored  # the branch went elsewhere since: the copies stay unread
    put_edits = False
    for number, name in enumerate(manifest.get("edits", [])):
        kept = aside / (f"merged-{number}" if moved else f"edit-{number}")
        target = root / name
        committed = gitrepo.read_file_at(root, head, name) if head else None
        if not kept.is_file() or target.is_symlink() or not target.is_file():
            continue
        if target.read_bytes() == committed:  # git's text: the edits were not back yet
            target.write_bytes(kept.read_bytes())
            restored.append(name)
            put_edits = True
    if put_edits and not moved and manifest.get("index"):
        gitrepo.run_git(root, "update-index", "-z", "--index-info",
                        input=manifest["index"].encode())  # fmt: skip
    return restored
