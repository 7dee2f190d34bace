"""Validators across entries: they read other entries, so `validate` runs them every time,
from the catalog (duplicate ids, dangling links, a response against its RFI, names that
differ only in case). Each sees every entry through `check` and reports in `finalize`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from .catalog import Catalog
from .checks import Check, Context, portable_paths
from .models import TLP_ORDER, Entry, Issue, tlp_rank


class CrossCheck(Check):
    """A named validator across entries: `check` sees every entry, `finalize` reports."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(Context.of(catalog))
        self.catalog = catalog

    def finalize(self) -> Iterable[Issue]:
        return ()


CROSS_CHECKS: dict[str, type[CrossCheck]] = {}


def register(cls: type[CrossCheck]) -> type[CrossCheck]:
    CROSS_CHECKS[cls.name] = cls
    return cls


@register
class UniqueIdCheck(CrossCheck):
    name = "unique-ids"
    description = "no two entries share an id"

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog)
        self.seen: dict[str, list[Entry]] = defaultdict(list)

    def check(self, entry: Entry) -> Iterable[Issue]:
        entry_id = entry.meta.get("id")
        if isinstance(entry_id, str):
            self.seen[entry_id].append(entry)
        return ()

    def finalize(self) -> Iterator[Issue]:
        for entry_id, entries in self.seen.items():
            for duplicate in entries[1:]:
                yield self.error(
                    duplicate, "id", f"id: {entry_id!r} is already used by {entries[0].rel}"
                )


@register
class LinkCheck(CrossCheck):
    name = "links"
    description = "related ids and a response's rfi exist; a response is as strict as its RFI"

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog)
        self.pending: list[Entry] = []

    def check(self, entry: Entry) -> Iterable[Issue]:
        self.pending.append(entry)
        return ()

    def finalize(self) -> Iterator[Issue]:
        known = {entry.meta.get("id"): entry for entry in self.catalog.entries}
        for entry in self.pending:
            related = entry.meta.get("related")
            for target in related if isinstance(related, list) else ():
                if isinstance(target, str) and target not in known:
                    yield self.error(entry, "related", f"related: no entry has the id {target!r}")
            if entry.type != "response":
                continue
            rfi_id = entry.meta.get("rfi")
            rfi = known.get(rfi_id)
            if not isinstance(rfi_id, str):
                continue
            if rfi is None or rfi.type != "rfi":
                yield self.error(entry, "rfi", f"rfi: no RFI has the id {rfi_id!r}")
                continue
            mine, theirs = entry.meta.get("tlp"), rfi.meta.get("tlp")
            if theirs in TLP_ORDER and mine in TLP_ORDER and tlp_rank(mine) < tlp_rank(theirs):
                yield self.error(
                    entry,
                    "tlp",
                    f"tlp: {mine} is less strict than the RFI's {theirs}; a response must be "
                    f"marked {theirs} or stricter",
                )


@register
class CaseClashCheck(CrossCheck):
    name = "portable"  # skipping "portable" skips both halves
    description = "no two file names differ only in case"

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog)
        self.paths: dict[str, list[tuple[Entry, str]]] = defaultdict(list)

    def check(self, entry: Entry) -> Iterable[Issue]:
        for path in portable_paths(entry):
            self.paths[path.lower()].append((entry, path))
        return ()

    def finalize(self) -> Iterator[Issue]:
        for same in self.paths.values():
            if len({path for _, path in same}) < 2:
                continue
            first = same[0][1]
            for entry, path in same[1:]:
                if path != first:
                    field = None if path == entry.rel else "attachments"
                    yield self.error(
                        entry,
                        field,
                        f"{path} differs from {first} only in upper and lower case; on Windows "
                        "and macOS they are one file: rename one",
                    )


def cross_findings(
    catalog: Catalog,
    selected: set[str] | None = None,
    skip: Iterable[str] = (),
    cross_for_all: bool = False,
) -> list[Issue]:
    """The cross checks over every entry of the catalog (except `skip`).

    With `selected` (relative paths), findings are kept only for those files, unless
    `cross_for_all` keeps every one (a change can break an entry it did not touch, e.g.
    by deleting a link target).
    """
    skipped = set(skip)
    checks = [cls(catalog) for name, cls in CROSS_CHECKS.items() if name not in skipped]
    for entry in catalog.entries:
        for check in checks:
            check.check(entry)
    found = [issue for check in checks for issue in check.finalize()]
    if selected is not None and not cross_for_all:
        found = [issue for issue in found if issue.path in selected]
    return found
