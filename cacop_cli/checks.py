"""Validators: small named checks that return findings and never print.

Two kinds. A file check (`FILE_CHECKS`) judges one entry file on its own: its
findings depend only on the file's bytes and path and on what its `Context`
holds (the KB's root for its schemas, the site slugs, the limits), plus, for a
work product, what `attachment_facts` sees of its attachments. That is what lets
`validate` keep them between runs (`findings_cache`): a file check must read
nothing else, or that input must join the cache's key. A cross check
(`crosschecks.CROSS_CHECKS`) reads other entries (duplicate ids, dangling links, a response
against its RFI, names that clash in case): it sees every entry of the catalog
through `check` and reports in `finalize`, and runs every time.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as default
from pathlib import Path
from typing import Any, ClassVar

from . import schemas
from .catalog import Catalog
from .models import (
    BIDI,
    CONTROL,
    TYPE_FOLDERS,
    TYPES,
    UNSAFE_TEXT,
    Entry,
    Issue,
)

_BARE_BOOLEANS = {"yes", "no", "on", "off", "y", "n", "true", "false"}


@dataclass(frozen=True)
class Context:
    """All a file check may read beside the file itself; every part is in the cache's key."""

    root: Path  # the KB: its `schemas/` when it holds them all, else cacop's own
    sites: tuple[Any, ...] = ()  # the slugs of kb/sites.yaml; empty: sites are not checked
    limits: dict[str, int] = default(default_factory=dict)

    @classmethod
    def of(cls, catalog: Catalog) -> Context:
        return cls(catalog.kb.root, tuple(catalog.sites), dict(catalog.kb.limits))


class Check:
    """A named validator of one file. Subclasses set `name` and override `check`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.root = context.root

    def check(self, entry: Entry) -> Iterable[Issue]:
        return ()

    def error(self, entry: Entry, field: str | None, message: str, code: str = "") -> Issue:
        line = entry.line_of(field) if field else 1
        return Issue("error", code or self.name, entry.rel, line, message)

    def warning(self, entry: Entry, field: str | None, message: str, code: str = "") -> Issue:
        line = entry.line_of(field) if field else 1
        return Issue("warning", code or self.name, entry.rel, line, message)


FILE_CHECKS: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    FILE_CHECKS[cls.name] = cls
    return cls


def _yaml_typing_hint(entry: Entry, field: str, value: Any) -> str:
    raw = entry.raw_values.get(field)
    if isinstance(value, bool):
        shown = raw if raw is not None else ("yes" if value else "no")
        return f" — YAML reads a bare {shown} as {str(value).lower()}; put it in quotes: '{shown}'"
    if isinstance(value, (int, float)) and raw is not None:
        return f" — YAML reads {raw} as the number {value}; put it in quotes: '{raw}'"
    if isinstance(value, list) and any(isinstance(item, bool) for item in value):
        return " — YAML reads bare yes/no/on/off as true/false; put such words in quotes"
    if value is None:
        return " — the value is empty"
    return ""


def describe_schema_error(entry: Entry, error: Any) -> tuple[str | None, str]:
    """Turn a jsonschema error into (field, message) in an analyst's words."""
    path = list(error.absolute_path)
    field = str(path[0]) if path else None
    where = ".".join(map(str, path))
    if error.validator in ("unevaluatedProperties", "additionalProperties"):
        extra = sorted(set(entry.meta) - _allowed_fields(entry))
        name = next((key for key in extra if key in str(error.message)), extra[0] if extra else "")
        return name or None, (
            f"unknown field '{name}': check its spelling, or name a local field 'x-{name}'"
        )
    if error.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        name = missing.group(1) if missing else "a field"
        return None, f"missing required field '{name}'"
    value = error.instance
    top_value = entry.meta.get(field) if field else None
    if error.validator == "type":
        expected = error.validator_value
        hint = _yaml_typing_hint(entry, field or "", top_value if len(path) == 1 else value)
        return field, f"{where}: {value!r} is not {_article(expected)}{hint}"
    if error.validator == "enum":
        choices = ", ".join(map(str, error.validator_value))
        hint = _yaml_typing_hint(entry, field or "", value) if len(path) == 1 else ""
        return field, f"{where}: {value!r} is not one of: {choices}{hint}"
    if error.validator == "const":
        return field, f"{where}: must be {error.validator_value!r} for this kind of entry"
    if error.validator == "pattern":
        if field in ("created", "updated", "needed_by"):
            return field, f"{where}: {value!r} is not a date (YYYY-MM-DD)"
        if field in ("id", "related", "rfi"):
            return field, (
                f"{where}: {value!r} is not a valid id (3-80 characters of a-z, 0-9 and '-')"
            )
        return field, f"{where}: {value!r} must be lowercase letters, digits and '-'"
    if error.validator == "maxLength":
        return (
            field,
            f"{where}: too long ({len(value)} characters; at most {error.validator_value})",
        )
    if error.validator in ("minLength", "minItems"):
        return field, f"{where}: must not be empty"
    if error.validator == "uniqueItems":
        return field, f"{where}: lists the same value twice"
    return field, f"{where or 'entry'}: {error.message}"


def _article(expected: Any) -> str:
    names = {"string": "text", "array": "a list", "object": "a mapping", "integer": "a number"}
    if isinstance(expected, list):
        return " or ".join(names.get(item, item) for item in expected)
    return names.get(expected, str(expected))


def _allowed_fields(entry: Entry) -> set[str]:
    common = set(schemas.validator("common", None).schema["properties"])
    own = set()
    if entry.type in TYPES:
        own = set(schemas.validator(entry.type, None).schema.get("properties", {}))
    return common | own | {key for key in entry.meta if str(key).startswith("x-")}


@register
class SchemaCheck(Check):
    name = "schema"
    description = "fields, types and values match the JSON Schema of the entry's type"
    schema_folder: Path | None = None

    def check(self, entry: Entry) -> Iterator[Issue]:
        entry_type = entry.meta.get("type")
        if entry_type not in TYPES:
            yield self.error(
                entry,
                "type" if "type" in entry.meta else None,
                f"type: {entry_type!r} is not one of: {', '.join(TYPES)}"
                + _yaml_typing_hint(entry, "type", entry_type),
            )
            return
        seen: set[tuple[str | None, str]] = set()
        if self.schema_folder is None:  # which folder: decided once per run
            self.schema_folder = schemas.schema_dir_for(self.root)
        for error in schemas.errors(entry_type, entry.meta, folder=self.schema_folder):
            field, message = describe_schema_error(entry, error)
            if (field, message) in seen:
                continue
            seen.add((field, message))
            yield self.error(entry, field, message)


@register
class IdCheck(Check):
    name = "id-filename"
    description = "the file name (without .md) equals the id"

    def check(self, entry: Entry) -> Iterator[Issue]:
        entry_id = entry.meta.get("id")
        if isinstance(entry_id, str) and entry_id != entry.path.stem:
            yield self.error(
                entry,
                "id",
                f"id: {entry_id!r} does not match the file name {entry.path.name!r}; "
                f"rename the file to {entry_id}.md or change the id",
            )


@register
class LocationCheck(Check):
    name = "location"
    description = "each entry sits in its type's folder; responses under their RFI"

    def check(self, entry: Entry) -> Iterator[Issue]:
        parts = Path(entry.rel).parts
        entry_type = entry.meta.get("type")
        if entry_type == "response":
            rfi = entry.meta.get("rfi")
            expected = ("kb", "rfis", str(rfi), "responses")
            if tuple(parts[:-1]) != expected:
                yield self.error(
                    entry, "rfi", f"a response to {rfi!r} belongs in kb/rfis/{rfi}/responses/"
                )
        elif entry_type in TYPE_FOLDERS:
            folder = TYPE_FOLDERS[entry_type]
            if tuple(parts[:-1]) != ("kb", folder):
                yield self.error(entry, "type", f"a {entry_type} belongs in kb/{folder}/")


@register
class SiteCheck(Check):
    name = "site"
    description = "the site is listed in kb/sites.yaml; so are the sites an RFI is sent to"

    def check(self, entry: Entry) -> Iterator[Issue]:
        sites = self.context.sites
        if not sites:
            return
        site = entry.meta.get("site")
        if isinstance(site, str) and site not in sites:
            yield self.error(
                entry,
                "site",
                f"site: {site!r} is not in kb/sites.yaml; add it there or use one of: "
                + ", ".join(sorted(sites)),
            )
        to = entry.meta.get("to")
        if entry.type == "rfi" and isinstance(to, list):
            for slug in to:
                if isinstance(slug, str) and slug != "all" and slug not in sites:
                    yield self.error(entry, "to", f"to: {slug!r} is not in kb/sites.yaml")


PLACEHOLDER = "template-prompt"


@functools.cache  # read once per run, not once per entry (10,000 reads took ~1 s)
def template_prompts(entry_type: str) -> dict[str, str]:
    """A type's template sections: heading -> its prompt text (words folded to one space)."""
    from importlib import resources

    try:
        text = resources.files("cacop_cli.templates").joinpath(f"{entry_type}.md")
        template = text.read_text("utf-8")
    except (FileNotFoundError, OSError):
        return {}
    prompts = {}
    for section in re.split(r"(?m)^## ", template)[1:]:
        heading, _, prompt = section.partition("\n")
        if prompt.strip():
            prompts[heading.strip()] = " ".join(prompt.split())
    return prompts


@register
class TemplatePromptCheck(Check):
    name = PLACEHOLDER
    description = "no section still holds its template's prompt unchanged"

    def check(self, entry: Entry) -> Iterator[Issue]:
        prompts = template_prompts(entry.type) if entry.type in TYPES else {}
        if not prompts:
            return
        if any(mark in entry.body for mark in _OTHER_LINE_BREAKS):
            yield from self._by_lines(entry, prompts)
        else:
            yield from self._by_search(entry, prompts)

    def _by_lines(self, entry: Entry, prompts: dict[str, str]) -> Iterator[Issue]:
        lines = entry.body.splitlines()
        for number, line in enumerate(lines):
            heading = line[3:].strip() if line.startswith("## ") else None
            prompt = prompts.get(heading or "")
            if prompt is None:
                continue
            following = []
            for row in lines[number + 1 :]:
                if row.startswith("#"):
                    break
                following.append(row)
            if " ".join(" ".join(following).split()) == prompt:
                yield Issue(
                    "warning",
                    self.name,
                    entry.rel,
                    entry.body_line + number,
                    f"## {heading}: the template's prompt is left unchanged; write this "
                    "section or delete it",
                )

    def _by_search(self, entry: Entry, prompts: dict[str, str]) -> Iterator[Issue]:
        """What `_by_lines` finds, for a body whose only line break is '\\n': the headings and
        their sections found with str.find instead of a loop over every line."""
        body = entry.body
        for start in _heading_starts(body):
            end = body.find("\n", start)
            end = len(body) if end < 0 else end
            heading = body[start + 3 : end].strip()
            prompt = prompts.get(heading)
            if prompt is None:
                continue
            following = body.find("\n#", end)
            section = body[end : following if following >= 0 else len(body)].lstrip()
            first = prompt.split(" ", 1)[0]  # a written section differs at once, mostly
            if not section.startswith(first) or section[len(first) : len(first) + 1].strip():
                continue
            if " ".join(section.split()) == prompt:
                yield Issue(
                    "warning",
                    self.name,
                    entry.rel,
                    entry.body_line + body.count("\n", 0, start),
                    f"## {heading}: the template's prompt is left unchanged; write this "
                    "section or delete it",
                )


def _heading_starts(body: str) -> Iterator[int]:
    """Where each line that starts with '## ' starts (str.find: a regular expression or a
    loop over lines costs ten times more over 60 MB of bodies)."""
    if body.startswith("## "):
        yield 0
    at = body.find("\n## ")
    while at >= 0:
        yield at + 1
        at = body.find("\n## ", at + 1)


# Line breaks of str.splitlines other than '\\n' (with them, the check goes line by line).
_OTHER_LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _real_date(value: Any) -> dt.date | None:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


@register
class DateCheck(Check):
    name = "dates"
    description = "dates exist on the calendar; updated is not before created"

    def check(self, entry: Entry) -> Iterator[Issue]:
        for field in ("created", "updated", "needed_by"):
            value = entry.meta.get(field)
            if (
                isinstance(value, str)
                and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
                and _real_date(value) is None
            ):
                yield self.error(entry, field, f"{field}: {value!r} is not a calendar date")
        created, updated = (
            _real_date(entry.meta.get("created")),
            _real_date(entry.meta.get("updated")),
        )
        if created and updated and updated < created:
            yield self.error(
                entry,
                "updated",
                f"updated: {updated} is before created ({created})",
            )


@register
class AttachmentCheck(Check):
    name = "attachments"
    description = "attachments exist, are regular files inside the entry's folder, under the limit"

    def check(self, entry: Entry) -> Iterator[Issue]:
        names = entry.meta.get("attachments")
        if entry.type != "work-product" or not isinstance(names, list):
            return
        folder = attachment_folder(entry.path)
        limit = self.context.limits["attachment_bytes"]
        for name in names:
            if not isinstance(name, str):
                continue
            problem = attachment_problem(folder, name, limit)
            if problem:
                yield self.error(entry, "attachments", f"attachment {name!r}: {problem}")


def attachment_folder(path: Path) -> Path:
    """Where a work product's attachments are: the folder named as its file, without .md."""
    return path.parent / path.stem


def attachment_names(entry: Entry) -> list[str] | None:
    """The attachments the attachment check looks at: a work product's, else None."""
    names = entry.meta.get("attachments")
    if entry.type != "work-product" or not isinstance(names, list):
        return None
    return [name for name in names if isinstance(name, str)]


def attachment_facts(folder: Path, name: str) -> int | str:
    """All the attachment check learns of one attachment, without opening it: its size when
    it is a regular file, else what it is. Its findings are a function of these facts and
    the limit, so the facts are what the findings cache keys an attachment by."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name.startswith("-")
        or CONTROL.search(name)
    ):
        return "bad-name"
    if folder.is_symlink():
        return "folder-link"
    try:
        info = os.lstat(folder / name)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable:{exc.strerror}"
    if stat.S_ISLNK(info.st_mode):
        return "link"
    if not stat.S_ISREG(info.st_mode):
        return "other"
    return info.st_size


def attachment_problem(folder: Path, name: str, limit: int) -> str | None:
    """Why an attachment is not acceptable, or None. Never opens the file."""
    facts = attachment_facts(folder, name)
    if isinstance(facts, int):
        if facts > limit:
            return f"is {facts:,} bytes; the limit in cacop.yaml is {limit:,}"
        return None
    if facts == "bad-name":
        return "must be a plain file name inside the entry's own folder (no '/', '..' or '-' start)"
    if facts == "folder-link":
        return f"the folder {folder.name}/ is a symbolic link; attachments must be real files"
    if facts == "missing":
        return f"not found: put the file at {folder.name}/{name}"
    if facts == "link":
        return "is a symbolic link; copy the real file in instead"
    if facts == "other":
        return "is not a regular file"
    return f"cannot be read: {facts.removeprefix('unreadable:')}"


@register
class TextSafetyCheck(Check):
    name = "text-safety"
    description = "no invisible direction overrides or control characters in the text"

    def check(self, entry: Entry) -> Iterator[Issue]:
        # One scan of all fields and one of the body; field by field only when something is there.
        if UNSAFE_TEXT.search(" ".join(map(str, entry.meta.values()))):
            for field, value in entry.meta.items():
                text = str(value)
                if BIDI.search(text):
                    yield self.warning(
                        entry,
                        field,
                        f"{field}: holds an invisible text-direction character (e.g. U+202E) "
                        "that can make text read differently from what it is; remove it",
                    )
                elif CONTROL.search(text):
                    yield self.warning(entry, field, f"{field}: holds terminal control characters")
        # A carriage return is a line ending in the body (CRLF files; Markdown reads a bare
        # one as a line break), so it is taken out first: the line count stays the same.
        body = entry.body.replace("\r", "") if "\r" in entry.body else entry.body
        if _plain_ascii(body):
            return
        match = UNSAFE_TEXT.search(body)
        if match:
            line = entry.body_line + body.count("\n", 0, match.start())
            yield Issue(
                "warning",
                self.name,
                entry.rel,
                line,
                f"the body holds an invisible or control character (U+{ord(match.group()):04X}); "
                "remove it",
            )


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"


def _plain_ascii(text: str) -> bool:
    """ASCII text without a character UNSAFE_TEXT matches (any C0 control but tab and
    newline, or DEL): answered in C, where the regular expression takes ~30 ns a character
    (about 1 s over the 60 MB of 10,000 bodies). False says nothing: search then."""
    return text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_ASCII)


# What a clone on Windows cannot hold: these characters, a name ending in a dot or a space,
# a device name with or without an extension (CON, CON.md), and long paths (the old
# MAX_PATH of 260 characters, with room left for the folder the KB is cloned into).
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*\\\x00-\x1f]')
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"{name}{n}" for name in ("com", "lpt") for n in (*"123456789", "¹", "²", "³")]
)
PORTABLE_PATH_CHARS = 200


def portability_problem(name: str) -> str | None:
    """Why a file or folder name would break a clone on another system, or None."""
    bad = _WINDOWS_FORBIDDEN.search(name)
    if bad:
        shown = repr(bad.group())[1:-1] if bad.group() < " " else bad.group()
        return f"the character '{shown}' is not allowed in file names on Windows"
    if name.endswith((".", " ")):
        return "ends in a dot or a space, which Windows drops"
    if name.split(".")[0].rstrip(" ").lower() in _WINDOWS_DEVICES:
        return f"{name.split('.')[0]} is a device name on Windows, with any extension"
    return None


def portable_paths(entry: Entry) -> list[str]:
    """The entry's file and its attachments, as paths relative to the KB."""
    names = entry.meta.get("attachments") if entry.type == "work-product" else None
    folder = entry.rel[: -len(".md")] if entry.rel.endswith(".md") else entry.rel
    paths = [entry.rel]
    paths += [f"{folder}/{n}" for n in (names if isinstance(names, list) else ()) if n]
    return paths


@register
class PortabilityCheck(Check):
    name = "portable"
    description = "file names every system can hold: Windows names and path length"

    def check(self, entry: Entry) -> Iterator[Issue]:
        for path in portable_paths(entry):
            field = None if path == entry.rel else "attachments"
            problem = portability_problem(path.rsplit("/", 1)[-1])
            if problem:
                yield self.error(entry, field, f"{path}: {problem}; rename it")
            elif len(path) > PORTABLE_PATH_CHARS:
                yield self.error(
                    entry,
                    field,
                    f"{path}: the path is {len(path)} characters long; Windows clones fail "
                    f"past about {PORTABLE_PATH_CHARS}: shorten the name",
                )


def kb_level_issues(catalog: Catalog, tracked_state: list[str]) -> list[Issue]:
    """Problems of the KB as a whole: the site registry and committed derived state."""
    issues = list(catalog.sites_issues)
    for path in tracked_state[:1]:
        issues.append(
            Issue(
                "error",
                "committed-index",
                path,
                1,
                ".cacop/ (the private search index) is committed to git; it must never be shared "
                "— remove it with `git rm -r --cached .cacop` and commit",
            )
        )
    return issues


def file_checks(context: Context, skip: Iterable[str] = ()) -> list[Check]:
    """The file checks, ready to run (all but `skip`)."""
    skipped = set(skip)
    return [cls(context) for name, cls in FILE_CHECKS.items() if name not in skipped]


def own_findings(entry: Entry, checks: list[Check]) -> list[Issue]:
    """One entry's findings from the file checks: they depend on nothing but the file, its
    path, the checks' context and its attachments' facts."""
    return [issue for check in checks for issue in check.check(entry)]
