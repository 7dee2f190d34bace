"""One sharing command at a time in a clone, and nothing left behind by an earlier one.

`sync`, `submit` and the bundle commands hold `.git/cacop-share.lock` while they work, so
a second one started meanwhile says so at once instead of failing half-way on the network
or on git's own locks. Each first removes the temporary checkouts (plain-text copies of
entries) that a cacop killed earlier left in the temp folder and registered in the clone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

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
        gitrepo.clear_leftovers(kb.root)
        yield


def no_commits_yet(what: str) -> Refused:
    """The refusal of a sharing command in a clone whose branch has no commit yet (exit 1):
    git's own "unknown revision 'HEAD'" says neither what is wrong nor what to do."""
    return Refused(
        f"this clone has no commits yet, so there is nothing {what}",
        hint="commit your work first (`git add` the files, then `git commit`), or bring in "
        "the shared history (`git pull` from the shared repository); then run this again",
    )
