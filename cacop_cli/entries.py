"""Reading and writing entries: Markdown with a strict YAML frontmatter block.

python-frontmatter's default handler returns empty metadata, silently, for an
unclosed `---`, a BOM, or list frontmatter. `StrictYAMLHandler` plugs into its
handler protocol but splits strictly and loads through `yamlsafe`, so every
one of those is an error with a line number.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .closest import closest_ids
from .closest import folded as _folded
from .errors import CacopError, EntryError, NotFound, UsageError
from .models import ENTRY_FOLDERS, TYPE_FOLDERS, Entry
from .safefile import read_regular_file  # noqa: F401  (re-exported: callers read files so)

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,79}$")
FIELD_ORDER = (
    "id", "type", "title", "site", "authors", "created", "updated", "topics", "tags", "tlp",
    "summary", "status", "evidence", "product_type", "attachments", "tools", "data_sources",
    "priority", "needed_by", "to", "rfi", "related",
)  # fmt: skip
BOM = "\ufeff"
QUOTED_FIELDS = ("title", "summary")
_DELIMITER = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)
_BARE_CR = re.compile(r"\r(?!\n)")
# `=======` alone is also a Markdown heading underline, so only the angle markers count.
_CONFLICT = re.compile(r"^(<{7}|>{7})(?:[ \t]|\r?$)", re.MULTILINE)
DEFAULT_ENTRY_BYTES = 1_048_576
DEFAULT_FRONTMATTER_BYTES = 65_536
T = TypeVar("T")

if TYPE_CHECKING:
    from . import yamlsafe
    from .config import KB


def _strict_handler() -> type:
    from frontmatter.default_handlers import BaseHandler

    from . import yamlsafe

    class StrictYAMLHandler(BaseHandler):
        """A python-frontmatter handler that never returns empty metadata by accident."""

        FM_BOUNDARY = _DELIMITER
        START_DELIMITER = END_DELIMITER = "---"

        def detect(self, text: str) -> bool:
            return text.lstrip(BOM).startswith("---")

        def split(self, text: str) -> tuple[str, str]:
            frontmatter, body, _ = split_frontmatter(text)
            return frontmatter, body

        def load(self, fm: str, **kwargs: Any) -> dict[str, Any]:
            return parse_frontmatter(fm).value

        def export(self, metadata: dict[str, Any], **kwargs: Any) -> str:
            return yamlsafe.dump(ordered(metadata)).rstrip("\n")

    return StrictYAMLHandler


def __getattr__(name: str) -> Any:
    """`StrictYAMLHandler` is built on first use: python-frontmatter and PyYAML load only
    for commands that parse entries (a search that finds the index fresh parses none)."""
    if name == "StrictYAMLHandler":
        handler = _strict_handler()
        globals()[name] = handler
        return handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def split_frontmatter(text: str) -> tuple[str, str, int]:
    """Split text into (frontmatter, body, 1-based line where the body starts)."""
    text = text.removeprefix(BOM)
    if not text.strip():
        raise EntryError("empty", "the file is empty; an entry starts with a --- frontmatter block")
    _refuse_bare_cr(text)
    first_end = text.find("\n")
    first_line = text if first_end < 0 else text[:first_end]
    if not _DELIMITER.fullmatch(first_line):
        raise EntryError(
            "no-frontmatter",
            "no frontmatter: an entry must start with a line '---', then its fields, then '---'",
            hint="copy the header of an existing entry, or run `cacop new`",
        )
    closing = _DELIMITER.search(text, first_end + 1) if first_end >= 0 else None
    if closing is None:
        raise EntryError(
            "unclosed-frontmatter",
            "the frontmatter block opened on line 1 is never closed: add a line '---' after the "
            "last field",
        )
    frontmatter = text[first_end + 1 : closing.start()]
    rest = text[closing.end() :]
    rest = rest[1:] if rest.startswith("\n") else rest
    body_line = text.count("\n", 0, closing.end()) + 2
    return frontmatter, rest, body_line


def _refuse_bare_cr(text: str) -> None:
    """A carriage return not followed by a line feed (old Mac line endings) up to the end of
    the frontmatter: git, YAML and editors on other systems split such a file differently."""
    bare = _BARE_CR.search(text)
    if bare is None:
        return
    closing = _DELIMITER.search(text, text.find("\n") + 1) if "\n" in text else None
    if closing is not None and bare.start() > closing.end():
        return  # in the body: Markdown reads it as a line break on every system
    before = text[: bare.start()]
    line = before.count("\n") + len(_BARE_CR.findall(before)) + 1  # as an editor shows it
    raise EntryError(
        "bare-cr",
        "the frontmatter has a line that ends in a carriage return alone (CR without LF, as "
        "some old editors save); other systems read such a file differently",
        line=line,
        hint="save the file with LF or CRLF line endings (in most editors: 'line endings')",
    )


def parse_frontmatter(frontmatter: str) -> yamlsafe.Document:
    """Frontmatter text -> mapping document; raises EntryError with file lines (+1 for '---')."""
    from . import yamlsafe

    try:
        document = yamlsafe.load(frontmatter)
    except yamlsafe.YamlProblem as exc:
        raise EntryError(exc.code, exc.message, line=exc.line + 2) from exc
    if not isinstance(document.value, dict):
        kind = "empty" if document.value is None else type(document.value).__name__
        raise EntryError(
            "frontmatter-not-mapping",
            f"the frontmatter must be a list of 'field: value' lines, not {kind}",
            line=2,
        )
    return document


def read_entry(path: Path, root: Path, limits: dict[str, int] | None = None) -> Entry:
    """Read one entry strictly. Raises EntryError (with a line) for anything unreadable."""
    limits = limits or {}
    data = read_regular_file(path, limits.get("entry_bytes", DEFAULT_ENTRY_BYTES))
    return entry_from_bytes(data, path, root, limits)


def entry_from_bytes(
    data: bytes, path: Path, root: Path, limits: dict[str, int] | None = None
) -> Entry:
    """An entry from its file's bytes (read from disk, or from a commit), as strictly as
    `read_entry` reads a file; `path` is where the file is (or would be) in the KB."""
    limits = limits or {}
    max_front = limits.get("frontmatter_bytes", DEFAULT_FRONTMATTER_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise EntryError(
            "not-utf8",
            f"byte {data[exc.start]:#04x} is not UTF-8 text; save the file as UTF-8",
            line=line,
        ) from exc
    if "\x00" in text:
        raise EntryError(
            "nul-bytes",
            "the file holds NUL bytes: it is binary, not a Markdown entry",
            line=text.count("\n", 0, text.index("\x00")) + 1,
        )
    conflict = ("<<<<<<<" in text or ">>>>>>>" in text) and _CONFLICT.search(text)
    if conflict:
        raise EntryError(
            "conflict-markers",
            "git conflict markers (<<<<<<<, =======, >>>>>>>) are left in the file; "
            "keep the right version and delete the markers",
            line=text.count("\n", 0, conflict.start()) + 1,
        )
    frontmatter, body, body_line = split_frontmatter(text)
    if len(frontmatter.encode("utf-8")) > max_front:
        raise EntryError(
            "frontmatter-too-large",
            f"the frontmatter is larger than {max_front:,} bytes; keep fields short and put "
            "text in the body",
            line=2,
        )
    document = parse_frontmatter(frontmatter)
    return Entry(
        path=path,
        rel=relpath(path, root),
        meta=document.value,
        body=body,
        lines={key: line + 2 for key, line in document.key_lines.items()},
        raw_values=document.raw_scalars,
        body_line=body_line,
    )


def relpath(path: Path, root: Path) -> str:
    text, base = str(path), str(root)
    if os.sep == "/" and text.startswith(base) and text[len(base) : len(base) + 1] == "/":
        return text[len(base) + 1 :]  # what relative_to gives, without parsing the parts
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def ordered(meta: dict[str, Any]) -> dict[str, Any]:
    """Fields in the canonical order; extension and unknown fields keep theirs, at the end."""
    known = {key: meta[key] for key in FIELD_ORDER if key in meta}
    known.update((key, value) for key, value in meta.items() if key not in known)
    return known


def render_entry(meta: dict[str, Any], body: str) -> str:
    """An entry's text: frontmatter block, then the body."""
    from . import yamlsafe

    body = body if body.endswith("\n") or not body else body + "\n"
    meta = dict(meta)
    for name in QUOTED_FIELDS:  # free text: quoted whenever YAML would read it otherwise
        value = meta.get(name)
        if isinstance(value, str) and yamlsafe.needs_quotes(value):
            meta[name] = yamlsafe.Quoted(value)
    return f"---\n{yamlsafe.dump(ordered(meta))}---\n{body}"


def parse_text(text: str) -> tuple[dict[str, Any], str]:
    """(fields, body) from an entry's text; the inverse of render_entry."""
    frontmatter, body, _ = split_frontmatter(text)
    return parse_frontmatter(frontmatter).value, body


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a crash leaves the old or the new version, never half of one.

    A write the system refuses (a full disk, a read-only folder) is a CacopError that names
    the file; the file is then as it was."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise unwritable(path, error) from error
    finally:
        temporary.unlink(missing_ok=True)


def unwritable(path: Path, error: OSError) -> CacopError:
    """A file the system would not let us write (a full disk, a read-only folder), in words."""
    reason = (error.strerror or type(error).__name__).lower()
    return CacopError(
        f"cannot write {path}: {reason}; the file is as it was before",
        hint="free some space or fix the folder's permissions, then run the command again",
    )


def set_field(text: str, name: str, value: Any) -> str:
    """Change one top-level field's value, touching no other byte of the file.

    The value's place comes from the YAML parser's own marks, so quoted values holding
    '#', block lists and `|` texts are replaced whole; CRLF, a BOM, comments and the
    order of fields are kept.
    """
    from . import yamlsafe

    frontmatter, _, _ = split_frontmatter(text)
    bom = BOM if text.startswith(BOM) else ""
    offset = len(bom) + text.removeprefix(BOM).index("\n") + 1
    newline = "\r\n" if text[offset - 2 : offset] == "\r\n" else "\n"
    try:
        span = yamlsafe.field_span(frontmatter, name)
    except yamlsafe.YamlProblem as exc:
        raise EntryError(exc.code, exc.message, line=exc.line + 2) from exc
    rendered = yamlsafe.scalar(value).replace("\n", newline)
    if span is not None:
        if span.block or span.start == span.end:  # replace from the ':' on: `key: value`
            start, rendered = span.after_colon, " " + rendered
        else:
            start = span.start
        return text[: offset + start] + rendered + text[offset + span.end :]
    insert_at = offset + len(frontmatter)
    rendered_line = f"{name}: {rendered}{newline}"
    end_marker = re.search(r"^\.\.\.[ \t]*\r?\n?\Z", frontmatter, re.MULTILINE)
    if end_marker:  # a field after '...' would start a second YAML document
        insert_at = offset + end_marker.start()
    elif frontmatter and not frontmatter.endswith("\n"):
        rendered_line = f"{newline}{name}: {rendered}"
    return text[:insert_at] + rendered_line + text[insert_at:]


def slugify(title: str, max_length: int = 60) -> str:
    """Lowercase ASCII words joined by hyphens, cut at a word boundary."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_title.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_length:
            slug = slug or word[:max_length]  # a first word longer than the limit: its start
            break
        slug = candidate
    return slug or "entry"


def check_id(entry_id: str) -> str:
    """Refuse ids that are not safe to build a path from (before any path is built)."""
    if not isinstance(entry_id, str) or not ID_RE.fullmatch(entry_id):
        raise UsageError(
            f"{entry_id!r} is not an entry id",
            hint="ids are 3-80 characters of a-z, 0-9 and '-', starting with a letter or digit",
        )
    return entry_id


def entry_path(root: Path, entry_type: str, entry_id: str, rfi: str | None = None) -> Path:
    check_id(entry_id)
    kb = root / "kb"
    if entry_type == "response":
        if rfi is None:
            raise UsageError("a response needs the id of its RFI")
        return kb / "rfis" / check_id(rfi) / "responses" / f"{entry_id}.md"
    return kb / TYPE_FOLDERS[entry_type] / f"{entry_id}.md"


def iter_entry_files(root: Path) -> Iterator[Path]:
    """Every entry file of the KB, in a stable order, without following links out of it."""
    for folder, names in _entry_file_names(root):
        here = Path(folder)
        for name in names:
            yield here / name


def _entry_file_names(root: Path) -> Iterator[tuple[str, list[str]]]:
    """(folder, names of its entry files), in iter_entry_files' order, as text: making a
    Path of each of 50,000 files costs more than listing them."""
    kb = os.path.join(root, "kb")
    for folder in ENTRY_FOLDERS:
        base = os.path.join(kb, folder)
        if not os.path.isdir(base):
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            relative = tuple(dirpath[len(base) + 1 :].split(os.sep)) if dirpath != base else ()
            if folder == "work-products":
                dirnames[:] = []  # attachment folders, never entries: not even listed
                if relative:
                    continue
            if folder == "rfis" and relative and (len(relative) != 2 or relative[1] != "responses"):
                if len(relative) >= 2:
                    dirnames[:] = []
                    continue
                dirnames[:] = [name for name in dirnames if name == "responses"]
                continue
            names = sorted(filenames)
            yield dirpath, [name for name in names if name.endswith(".md") and name[0] != "."]


def has_entries(root: Path) -> bool:
    """Does the KB hold any entry file yet, readable or not? False right after `cacop init`."""
    return next(iter_entry_files(root), None) is not None


# ---------------------------------------------------------------- naming entries


def locate(kb: KB, entry_id: str) -> Path | None:
    """The file of an entry, found by id without reading the whole KB."""
    check_id(entry_id)
    found = _in_a_top_folder(kb, entry_id)
    if found is not None:
        return found
    rfis = os.path.join(kb.kb_dir, "rfis")  # a response: rfis/*/responses/<id>.md, the first
    try:  # by name (os, not pathlib's glob: 0.30 -> 0.1 s at 50,000 entries)
        names = sorted(os.listdir(rfis))
    except OSError:
        return None
    for name in names:
        candidate = os.path.join(rfis, name, "responses", f"{entry_id}.md")
        if os.path.isfile(candidate):
            return Path(candidate)
    return None


def _in_a_top_folder(kb: KB, entry_id: str) -> Path | None:
    """The file of a strategy, work product or RFI by id: one lookup a folder."""
    for folder in TYPE_FOLDERS.values():
        candidate = kb.kb_dir / folder / f"{entry_id}.md"
        if candidate.is_file():
            return candidate
    return None


def entry_files_by_id(kb: KB) -> dict[str, Path]:
    """Every entry's id (its file name) and file, from folder listings alone: no entry is read."""
    return {entry_id: kb.root / rel for entry_id, rel in _entry_rels_by_id(kb).items()}


def _entry_rels_by_id(kb: KB) -> dict[str, str]:
    """Every entry's id (its file name) and file relative to the KB root, with '/': the first
    of that name, in iter_entry_files' order."""
    found: dict[str, str] = {}
    skip = len(os.path.join(kb.root, ""))
    for folder, names in _entry_file_names(kb.root):
        inside = folder[skip:].replace(os.sep, "/")
        for name in names:
            found.setdefault(name[: -len(".md")], f"{inside}/{name}")
    return found


def _from_listing(kb: KB, answer: Callable[[dict[str, str], Any], T]) -> T | None:
    """answer(each id -> its file, as _entry_rels_by_id, and the listing they came from),
    from the listing kept with the index (after its freshness check: the same files the
    folders hold), worked out while that check's early scan runs (listing.while_checking);
    None when the KB has no index yet (the folders are walked then, and no index is built
    for a name). At 50,000 entries the walk took ~0.4 s, the check ~0.25 s."""
    from .listing import while_checking
    from .scan import RECORD, STATE_DIR

    if not os.path.isfile(os.path.join(kb.root, STATE_DIR, RECORD)):
        return None
    return while_checking(kb, lambda listing: answer(_rels_by_id_in(listing), listing))


def _rels_by_id_in(listing: Any) -> dict[str, str]:
    """Each id the listing names -> its file, the first in the walk's order for an id that
    two files bear (the readable files, then the unreadable)."""
    found: dict[str, str] = {}
    rels = [*listing.columns["rel"], *(issue.path for issue in listing.unreadable)]
    for rel in rels:
        entry_id = rel[rel.rfind("/") + 1 : -len(".md")]
        held = found.setdefault(entry_id, rel)
        if held != rel and walk_order(rel) < walk_order(held):  # one name twice: the first
            found[entry_id] = rel
    return found


def walk_order(rel: str) -> tuple[Any, ...]:
    """Where iter_entry_files meets the file at `rel` (relative to the KB root): by folder,
    a folder's files before those of its sub-folders, names sorted (the catalog lists
    entries so)."""
    _, folder, *parts = rel.split("/")
    return (ENTRY_FOLDERS.index(folder), len(parts) > 1, parts)


def _titles(files: dict[str, str], kb: KB, listing: Any = None) -> dict[str, str]:
    """The titles of the entries that can be read, by id (only on a miss): from the listing
    kept with the index, after its freshness check, so no entry file is opened; from the
    files when the index cannot be used (load_listing reads them then). The listing part
    holds each title, so no entry's card is decoded (at 50,000 entries: 147 MB otherwise).
    `listing`: one read already."""
    from .listing import load_listing

    columns = (listing if listing is not None else load_listing(kb)).columns
    by_rel = dict(zip(columns["rel"], columns["title"], strict=True))
    titles = {}
    for entry_id, rel in files.items():
        title = by_rel.get(rel)
        if title is not None:
            titles[entry_id] = title
    return titles


def _did_you_mean(ids: list[str], titles: dict[str, str]) -> str:
    named = [
        f"{entry_id} ({titles[entry_id]})" if titles.get(entry_id) else entry_id for entry_id in ids
    ]
    return "did you mean " + ", ".join(named) + "?"


def _several(given: str, ids: list[str]) -> NotFound:
    shown = ids[:5] + (["…"] if len(ids) > 5 else [])
    return NotFound(
        f"{len(ids)} entries match {given!r}: {', '.join(shown)}",
        hint="give more of the id, or the whole of it",
    )


def resolve_id(kb: KB, given: str, *, kinds: tuple[str, ...] = ()) -> str:
    """The id of the entry that someone named: its id, a unique start of one, or its exact
    title (case-blind). NotFound (or UsageError for text that cannot be an id) with the
    closest ids when nothing or several match.

    Fast at any size: an exact id is one file lookup; otherwise the names and titles come
    from the listing kept with the index, after its freshness check (without an index yet,
    a prefix lists the folders and builds none: only when no id matches are titles read,
    from the listing then).
    """
    if not isinstance(given, str) or not given.strip():
        raise UsageError("give an entry id", hint="`cacop list` shows every id")
    if given.startswith("-") or "/" in given or "\\" in given or ".." in given or "\x00" in given:
        check_id(given)  # a path or an option, never a name: refused before any path is built
    shaped = ID_RE.fullmatch(given) is not None
    if shaped and _in_a_top_folder(kb, given) is not None:
        return given  # a response's id is looked up below: in the listing, if indexed

    def answer(files: dict[str, str], listing: Any) -> str | CacopError:
        """The id `given` names among `files` (id -> "kb/<folder>/<id>.md"), or the error
        to raise: worked out from the listing while the freshness check runs, if indexed."""
        if kinds:
            folders = {TYPE_FOLDERS.get(kind, kind) for kind in kinds}
            files = {
                entry_id: rel
                for entry_id, rel in files.items()
                if (rel.split("/")[-2] == "responses" and "response" in kinds)
                or (rel.count("/") == 2 and rel.split("/")[1] in folders)
            }
        prefix = given.strip().lower()
        if prefix in files:  # the id, typed in capitals
            return prefix
        started = sorted(entry_id for entry_id in files if entry_id.startswith(prefix))
        if len(started) == 1:
            return started[0]
        if started:  # ids match: titles are not read
            return _several(given, started)
        titles = _titles(files, kb, listing)
        wanted = _folded(given)
        named = sorted(entry_id for entry_id, title in titles.items() if _folded(title) == wanted)
        if len(named) == 1:
            return named[0]
        if named:
            return _several(given, named)
        close = closest_ids(given, titles)
        hint = _did_you_mean(close, titles) if close else not_found_hint(kb)
        if not shaped:
            return UsageError(
                f"{given!r} is not an entry id, nor the title of one",
                hint=hint
                if close
                else "ids are 3-80 characters of a-z, 0-9 and '-', starting "
                "with a letter or digit; `cacop list` shows every id",
            )
        return NotFound(f"no entry has the id {given!r}", hint=hint)

    found = _from_listing(kb, answer)
    if found is None:  # no index yet: the folders are walked ("kb/<folder>/<id>.md")
        found = answer(_entry_rels_by_id(kb), None)
    if isinstance(found, CacopError):
        raise found
    return found


def likely_duplicates(title: str, hits: list[Any]) -> list[Any]:
    """The similar entries whose titles are nearly this one's: almost the same text, or
    most of the same words."""
    import difflib

    wanted = _folded(title)
    words = set(re.findall(r"\w+", wanted))
    found = []
    for hit in hits:
        theirs = _folded(str(getattr(hit, "title", "")))
        their_words = set(re.findall(r"\w+", theirs))
        shared = len(words & their_words) / len(words | their_words) if words else 0.0
        if difflib.SequenceMatcher(None, wanted, theirs).ratio() >= 0.8 or shared >= 0.7:
            found.append(hit)
    return found


def not_found_hint(kb: KB) -> str:
    """What to do about an id that names no entry: find the right one, or, in a KB with
    no entries yet, add the first."""
    if not has_entries(kb.root):
        return (
            "the knowledge base has no entries yet: add the first with `cacop new strategy "
            "--title '…'`, or run `cacop sync` to bring in what the community has shared"
        )
    return "`cacop list` shows every id; `cacop search WORDS` finds one by its text"
