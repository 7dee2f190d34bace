"""Sharing between sites: `submit`, `sync` and offline bundles, over real git.

Nothing here touches the user's working tree unless that is the job:
`submit` builds its commit in a temporary checkout and only adds a branch;
`sync` rebases in a temporary checkout and then moves the user's branch the way
`git reset --keep` does (uncommitted edits stay byte for byte, or nothing
happens). Every step that changes the clone runs with Ctrl-C held back, so an
interruption lands before or after it, never in between.

The modules: `forge` (links to the forge's pull-request page, `gh`), `gates` (what
may leave: TLP, personal data, secrets, validity; the entry gate), `outgoing` (the
commit gate over a push or a bundle's range), `submit`, `sync` (integrating what
arrived), `bundles` and `check` (`check-share` and the pre-push hook that runs it for
plain git).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .bundles import BundleApplied, BundleCreated, bundle_apply, bundle_create
    from .check import HookInstalled, ShareCheck, check_pre_push, check_range, install_hook
    from .forge import compare_url, forge_of, parse_remote
    from .gates import Finding, GateRefused, record_override
    from .outgoing import gate_commits
    from .submit import Sending, SubmitResult, submit_entry, submit_files
    from .sync import Arrival, Integration, SyncResult, arrivals, integrate, refresh_index

# Each name's module, imported on first use: `status` reads `share.status` alone, and
# importing every module here (the gates and their patterns, sync, submit) cost it ~100 ms.
# `share.sync` is the module (the function is `share.sync.sync`): a name given lazily would
# be replaced by the module whenever something imports it first.
_MODULES = {
    "bundles": ("BundleApplied", "BundleCreated", "bundle_apply", "bundle_create"),
    "check": ("HookInstalled", "ShareCheck", "check_pre_push", "check_range", "install_hook"),
    "forge": ("compare_url", "forge_of", "parse_remote"),
    "gates": ("Finding", "GateRefused", "record_override"),
    "outgoing": ("gate_commits",),
    "submit": ("Sending", "SubmitResult", "submit_entry", "submit_files"),
    "sync": (
        "Arrival",
        "Integration",
        "SyncResult",
        "arrivals",
        "integrate",
        "refresh_index",
    ),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Arrival",
    "BundleApplied",
    "BundleCreated",
    "Finding",
    "HookInstalled",
    "ShareCheck",
    "GateRefused",
    "Integration",
    "Sending",
    "SubmitResult",
    "SyncResult",
    "arrivals",
    "bundle_apply",
    "bundle_create",
    "check_pre_push",
    "check_range",
    "compare_url",
    "forge_of",
    "gate_commits",
    "install_hook",
    "integrate",
    "parse_remote",
    "record_override",
    "refresh_index",
    "submit_entry",
    "submit_files",
]
