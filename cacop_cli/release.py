"""Which cacop this is, where it came from, and which knowledge bases it can read.

Stdlib only, and cheap to import: every command's settings check uses it. A KB's
`cacop.yaml` records its format (`format: 1`) and the exact cacop its CI jobs install
(`cacop: {requires: SPEC}`); this module judges both, finds the SPEC of the running
cacop for `cacop init`, and holds the ordered upgrade steps for `cacop upgrade`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError, UsageError

FORMAT = 1  # the KB format this cacop writes; a KB without `format:` is format 1

# ---------------------------------------------------------------- install specs

_URL = r"[A-Za-z0-9._~:/?\[\]@!&()*+,;=%-]+"  # no quotes, spaces, `$` or braces: safe in
# a shell line, a YAML scalar and a GitHub Actions step (which expands `${{ … }}`)
SPEC_FORMS = {
    "a VCS URL with a tag or commit": re.compile(
        rf"cacop @ git\+(?:https|ssh)://{_URL}@(?P<ref>[A-Za-z0-9._-]+)"
    ),
    "a URL of a built release (wheel or sdist), optionally with #sha256=…": re.compile(
        rf"cacop @ https://{_URL}/cacop-(?P<version>[0-9][0-9A-Za-z.]*)"
        r"(?:-py3-none-any\.whl|\.tar\.gz)(?:#sha256=[0-9a-f]{64})?"
    ),
    "a package index and an exact version": re.compile(
        rf"--index-url[ =]https://{_URL} cacop==(?P<version>[0-9][0-9A-Za-z.]*)"
    ),
}
SPEC_EXAMPLE = "cacop @ git+https://YOUR-FORGE/YOUR-GROUP/cacop.git@v" + __version__


def check_spec(spec: str, given_as: str = "--cacop-spec") -> str:
    """The spec, stripped, if it names one exact cacop from one named source; else UsageError
    naming where it was given (the option, or cacop.yaml's cacop.requires)."""
    spec = " ".join(spec.split())
    if any(form.fullmatch(spec) for form in SPEC_FORMS.values()):
        return spec
    raise UsageError(
        f"{given_as} {spec!r} does not name one exact cacop from a named source "
        "(a CI job would install whatever that name resolves to on the day it runs)",
        hint=f"give {', or '.join(SPEC_FORMS)}, e.g. --cacop-spec '{SPEC_EXAMPLE}'",
    )


def pip_arguments(spec: str) -> list[str]:
    """A checked spec as the arguments of `pip install`: one requirement, or the index and one."""
    if spec.startswith("--index-url"):
        index, requirement = spec.removeprefix("--index-url").lstrip(" =").split(" ")
        return ["--index-url", index, requirement]
    return [spec]


def spec_version(spec: str) -> str | None:
    """The version a spec names, where it names one (a tag `v1.2.0`, `==1.2.0`, a file name)."""
    for form in SPEC_FORMS.values():
        match = form.fullmatch(spec)
        if match:
            found = match.groupdict().get("version") or match.groupdict().get("ref") or ""
            found = found.removeprefix("v")
            return found if re.fullmatch(r"[0-9]+(\.[0-9]+)*", found) else None
    return None


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"[0-9]+", version.split("+")[0])[:3])


def running_spec() -> str | None:
    """The spec that installs exactly this cacop, if how it was installed says so.

    pip (and pipx, uv) record a direct install in the `direct_url.json` of PEP 610:
    from a VCS URL with the commit it resolved to, or from a URL of a built file. An
    install from a package index records no index, and one from a local file or an
    editable checkout nothing a CI machine could reach: None, and `init` asks."""
    import json
    from importlib import metadata

    try:
        text = metadata.distribution("cacop").read_text("direct_url.json")
        record = json.loads(text) if text else None
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("url"), str):
        return None
    url, vcs, archive = record["url"], record.get("vcs_info"), record.get("archive_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git" and isinstance(vcs.get("commit_id"), str):
        spec = f"cacop @ git+{url}@{vcs['commit_id']}"
    elif isinstance(archive, dict):
        digest = archive.get("hashes", {}).get("sha256") if archive.get("hashes") else None
        spec = f"cacop @ {url}" + (f"#sha256={digest}" if isinstance(digest, str) else "")
    else:
        return None
    try:
        return check_spec(spec)
    except UsageError:
        return None  # e.g. a file:// URL: nothing a CI machine can reach


def unknown_source() -> UsageError:
    return UsageError(
        "this cacop cannot tell where it was installed from (a local file, a checkout or a "
        "package index), so `init` cannot write CI jobs that install the same cacop",
        hint=f"name it: --cacop-spec '{SPEC_EXAMPLE}' (or set CACOP_SPEC); see docs/releasing.md",
    )


# ---------------------------------------------------------------- a KB's format and needs


def install_hint(requires: str | None) -> str:
    wanted = spec_version(requires) if requires else None
    if requires and (wanted is None or _numbers(wanted) > _numbers(__version__)):
        import shlex

        return f"install the cacop this KB names: pipx install --force {shlex.quote(requires)}"
    return "install a newer cacop (pipx install --force 'cacop @ …' from your site's release)"


def check_kb(settings: dict[str, Any], path: Path, lines: dict[str, int]) -> None:
    """ConfigError (exit 3) when this KB needs a newer cacop: its format, or `cacop.requires`.

    Judged before the schema check: a newer KB may carry settings this cacop's schema does
    not know, and "install a newer cacop" is the one useful answer then."""
    needs = settings.get("cacop")
    requires = needs.get("requires") if isinstance(needs, dict) else None
    requires = requires if isinstance(requires, str) else None
    kb_format = settings.get("format", FORMAT)
    if isinstance(kb_format, int) and not isinstance(kb_format, bool) and kb_format > FORMAT:
        raise ConfigError(
            f"{path}:{lines.get('format', 0) + 1}: this knowledge base is in format "
            f"{kb_format}; cacop {__version__} reads formats up to {FORMAT}",
            hint=install_hint(requires),
        )
    wanted = spec_version(requires) if requires else None
    if wanted and _numbers(wanted) > _numbers(__version__):
        raise ConfigError(
            f"{path}:{lines.get('cacop', 0) + 1}: this knowledge base requires cacop {wanted} "
            f"(cacop.requires); this is cacop {__version__}",
            hint=install_hint(requires),
        )


# ---------------------------------------------------------------- upgrades


@dataclass(frozen=True)
class UpgradeStep:
    """What changes a KB of format `source` into format `source + 1`."""

    source: int
    summary: str
    apply: Callable[[Path], list[str]]  # KB root -> the files it rewrote (relative)


# Ordered by `source`: format 1 is the first released format, so nothing upgrades yet.
# A change to the KB's files adds a step here, raises FORMAT, and keeps a fixture KB of the
# old format in tests/files/ (tests/test_release.py upgrades every one of them).
UPGRADES: list[UpgradeStep] = []


@dataclass
class UpgradeResult:
    before: int
    after: int
    steps: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def kb_format(settings: dict[str, Any]) -> int:
    found = settings.get("format", 1)
    return found if isinstance(found, int) and not isinstance(found, bool) else 1


# The lines of the KB's CI files that install cacop, as `ops.ci_files` writes them.
_INSTALL_LINES = {
    ".github/workflows/cacop.yml": re.compile(r"^(\s*run: )pip install .*$", re.MULTILINE),
    ".gitlab-ci.yml": re.compile(r"^(\s*- )pip install .*$", re.MULTILINE),
    ".pre-commit-config.yaml": re.compile(r"^(\s*additional_dependencies: ).*$", re.MULTILINE),
}


def repin(root: Path, spec: str) -> list[str]:
    """Make every install line of the KB's CI jobs and pre-commit hook install `spec` (the
    KB's `cacop.requires`): the one place a coordinator changes. Returns the files rewritten."""
    import shlex

    from . import yamlsafe
    from .entries import write_atomic

    arguments = pip_arguments(check_spec(spec, "cacop.yaml: cacop.requires"))
    install = yamlsafe.scalar("pip install " + " ".join(map(shlex.quote, arguments)))
    dependencies = yamlsafe.scalar(arguments)
    changed = []
    for name, pattern in _INSTALL_LINES.items():
        path = root / name
        if not path.is_file() or path.is_symlink():
            continue
        text = path.read_text(encoding="utf-8")
        value = dependencies if name == ".pre-commit-config.yaml" else install
        pinned = pattern.sub(lambda match, value=value: match.group(1) + value, text)
        if pinned != text:
            write_atomic(path, pinned)
            changed.append(name)
    return changed


def upgrade(root: Path, settings: dict[str, Any]) -> UpgradeResult:
    """Run every step from the KB's format up to FORMAT, in order, then record the format;
    then pin the CI jobs and the hook to `cacop.requires`, if it is set."""
    before = kb_format(settings)
    result = UpgradeResult(before, before)
    for step in sorted(UPGRADES, key=lambda step: step.source):
        if step.source != result.after:
            continue
        result.changed += [name for name in step.apply(root) if name not in result.changed]
        result.steps.append(step.summary)
        result.after = step.source + 1
    if result.after != before:
        _record_format(root / "cacop.yaml", result.after)
        if "cacop.yaml" not in result.changed:
            result.changed.append("cacop.yaml")
    requires = (settings.get("cacop") or {}).get("requires")
    if isinstance(requires, str) and requires.strip():
        repinned = repin(root, requires)
        result.changed += [name for name in repinned if name not in result.changed]
        if repinned:
            result.steps.append(f"CI jobs and the pre-commit hook now install {requires}")
    return result


def _record_format(path: Path, value: int) -> None:
    """Set `format:` in cacop.yaml, changing only that line (or adding it after the comments)."""
    from .config import read_settings
    from .entries import write_atomic

    text = read_settings(path)
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if re.match(r"format\s*:", line):
            ending = line[len(line.rstrip("\r\n")) :] or "\n"
            lines[number] = f"format: {value}{ending}"
            break
    else:
        at = next((n for n, line in enumerate(lines) if not line.startswith("#")), len(lines))
        lines.insert(at, f"format: {value}\n")
    write_atomic(path, "".join(lines))
