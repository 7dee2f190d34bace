"""Output of config and whoami."""

from __future__ import annotations

from typing import Any

from . import note, out, print_json


def identity(settings: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(settings)
        return
    for key, found in settings.items():
        out().print(f"{key}: {found['value'] or '(not set)'}  (from {found['from']})", markup=False)


def changed(where: str) -> None:
    note(f"set {where}")
