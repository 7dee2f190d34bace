"""Search: the query language, the field's vocabulary, typo correction, filters, results.

The query is checked here, before Whoosh sees it (Whoosh silently rewrites a
malformed query), and parsed into a small tree that `index.Searcher.compile`
turns into a Whoosh query. Whoosh itself is only ever imported by `index`.

    words            all of them (ranked by BM25F: title > tags > summary > body)
    "a phrase"       those words in that order
    field:value      title: summary: body: tag: topic: author: id: type: site: status: tlp:
                     evidence: product_type: priority: rfi: to: created: updated: needed_by:
    AND OR NOT ( )   boolean logic (upper case); words side by side mean AND
    carjack*         prefix
    created:[2024-01-01 TO 2024-06-30]   a range of dates
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import vocabulary as vocabulary_file
from .config import KB
from .entries import check_id, read_entry, split_frontmatter
from .errors import CacopError, EntryError, NotFound, QueryError, UsageError
from .index import QUERY_FIELDS
from .models import (
    EVIDENCE,
    PRIORITIES,
    PRODUCT_TYPES,
    RFI_STATUSES,
    STRATEGY_STATUSES,
    TLP_ORDER,
    TOPICS,
    TYPES,
    Hit,
    Issue,
)

MAX_QUERY_CHARS = 1_000
MAX_DEPTH = 12
MAX_CLAUSES = 64
SNIPPET_CHARS = 220
DEFAULT_LIMIT = 10
FEW_HITS = 1  # at most this many hits: try correcting the query's spelling
# Fewer entries than this hold every word: list them first, then those holding most words
# (the same whatever --limit is, so `total` does not depend on it).
FEW_ALL_WORDS = 5
# How words side by side combine: "all" (AND, and when no entry holds every word, the
# entries holding most of them), "strict" (AND only) or "any" (OR, ranked by how many match).
# Chosen by measuring tests/relevance with scripts/relevance.py --modes: "all" ties "any" on
# recall@5 and beats it on MRR (typo correction only starts when all-words finds little),
# and "strict" misses long questions typed as queries.
DEFAULT_MODE = "all"

CHOICES: dict[str, tuple[str, ...]] = {
    "type": TYPES,
    "tlp": TLP_ORDER,
    "topic": TOPICS,
    "topics": TOPICS,
    "status": STRATEGY_STATUSES + RFI_STATUSES,
    "evidence": EVIDENCE,
    "product_type": PRODUCT_TYPES,
    "priority": PRIORITIES,
}
FIELD_EXAMPLES = {
    "text": 'title:carjacking or title:"hot spots"',
    "words": "author:whitfield",
    "list": "tag:nibin or topic:gun-violence",
    "exact": "type:strategy or site:memphis",
    "date": "created:2024 or created:[2024-01-01 TO 2024-06-30]",
}


# ---------------------------------------------------------------- the query tree


@dataclass(frozen=True)
class Term:
    text: str
    field: str | None = None
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    text: str
    field: str | None = None


@dataclass(frozen=True)
class Range:
    field: str
    low: str
    high: str


@dataclass(frozen=True)
class Synonyms:
    """One vocabulary group: any of its forms (words or phrases)."""

    forms: tuple[str, ...]
    said: str  # what the user typed


@dataclass(frozen=True)
class Implicit:
    """Terms side by side: combined by the default mode (all words, or any ranked)."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class AllOf:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Ranked:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class Every:
    pass


# ---------------------------------------------------------------- checking and parsing


@dataclass
class _Token:
    kind: str  # WORD PHRASE RANGE LPAREN RPAREN AND OR NOT
    position: int  # 1-based character position, for messages
    text: str = ""
    field: str | None = None
    prefix: bool = False
    low: str = ""
    high: str = ""


_FIELD = re.compile(r"([A-Za-z_][A-Za-z_-]*):(.*)", re.DOTALL)
_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")
_BREAK = set(' \t\r\n\f\v()"')


def _field_name(name: str, position: int) -> str:
    key = name.lower().replace("-", "_")
    if key not in QUERY_FIELDS:
        fields = ", ".join(sorted({name for name in QUERY_FIELDS if not name.endswith("s")}))
        raise QueryError(
            f"{name}: (character {position}) is not a field you can search",
            hint=f"fields: {fields}; to search for text with a ':', put it in quotes",
        )
    return key


def _example(field_name: str) -> str:
    return FIELD_EXAMPLES[QUERY_FIELDS[field_name][1]]


def _check_value(field_name: str, value: str, prefix: bool, position: int) -> None:
    kind = QUERY_FIELDS[field_name][1]
    if kind == "date" and not prefix and not _DATE.fullmatch(value):
        raise QueryError(
            f"{field_name}:{value} (character {position}) is not a date",
            hint=f"write {_example(field_name)}",
        )
    choices = CHOICES.get(field_name)
    if choices and not prefix and value.lower() not in choices:
        raise QueryError(
            f"{field_name}:{value} (character {position}) is not a {field_name}",
            hint=f"use one of: {', '.join(choices)}",
        )


def _check_word(word: str, position: int) -> tuple[str, bool]:
    """(word without a trailing *, is it a prefix); refuses * anywhere else."""
    if word.startswith("*"):
        raise QueryError(
            f"a word cannot start with * (character {position})",
            hint="put * at the end of at least two letters, like carjack*",
        )
    prefix = word.endswith("*")
    stem = word[:-1] if prefix else word
    if "*" in stem:
        raise QueryError(
            f"{word!r} (character {position}): * can only end a word",
            hint="use a prefix like carjack*; * inside or between words is not supported",
        )
    if prefix and len(re.sub(r"\W", "", stem)) < 2:
        raise QueryError(
            f"{word!r} (character {position}): a prefix needs at least two letters before *",
            hint="like carjack* or nib*",
        )
    return stem, prefix


def _lex(query: str) -> list[_Token]:
    found: list[_Token] = []
    position, length = 0, len(query)
    pending_field: tuple[str, int] | None = None
    while position < length:
        char = query[position]
        if char.isspace():
            if pending_field:
                name = pending_field[0]
                raise QueryError(
                    f"{name}: (character {pending_field[1]}) needs a value right after the ':'",
                    hint=f"write {_example(name)}",
                )
            position += 1
            continue
        start = position + 1
        if char in "()":
            if pending_field and char == ")":
                break
            kind = "LPAREN" if char == "(" else "RPAREN"
            found.append(_Token(kind, start, field=pending_field[0] if pending_field else None))
            pending_field = None
            position += 1
            continue
        if char == '"':
            closing = query.find('"', position + 1)
            if closing < 0:
                raise QueryError(
                    f"the quote at character {start} is never closed",
                    hint='add a closing " after the phrase, or remove the quote',
                )
            text = query[position + 1 : closing]
            if not text.strip():
                raise QueryError(
                    f"the quotes at character {start} hold nothing",
                    hint='put words between them, like "hot spots"',
                )
            field_name = pending_field[0] if pending_field else None
            if field_name and QUERY_FIELDS[field_name][1] in ("exact", "date", "list"):
                _check_value(field_name, text, False, start)
            found.append(_Token("PHRASE", start, text=text, field=field_name))
            pending_field = None
            position = closing + 1
            continue
        end = position
        while end < length and query[end] not in _BREAK:
            end += 1
        chunk = query[position:end]
        if pending_field:  # unreachable: a field's value follows its ':' directly
            pending_field = None
        if chunk in ("AND", "OR", "NOT"):
            found.append(_Token(chunk, start))
            position = end
            continue
        match = _FIELD.fullmatch(chunk)
        if match and not match.group(2).startswith("//"):
            name = _field_name(match.group(1), start)
            value = match.group(2)
            if not value:
                if end < length and query[end] in '"(':
                    pending_field = (name, start)
                    position = end
                    continue
                raise QueryError(
                    f"{match.group(1)}: (character {start}) needs a value after the ':'",
                    hint=f"write {_example(name)}",
                )
            if value.startswith("["):
                closing = query.find("]", position)
                if closing < 0:
                    raise QueryError(
                        f"the range after {match.group(1)}: (character {start}) is never closed",
                        hint="write it as created:[2024-01-01 TO 2024-06-30]",
                    )
                found.append(
                    _range(name, query[position + len(match.group(1)) + 2 : closing], start)
                )
                position = closing + 1
                continue
            stem, prefix = _check_word(value, start)
            if QUERY_FIELDS[name][1] in ("exact", "date", "list"):
                _check_value(name, stem, prefix, start)
            found.append(_Token("WORD", start, text=stem, field=name, prefix=prefix))
            position = end
            continue
        stem, prefix = _check_word(chunk, start)
        found.append(_Token("WORD", start, text=stem, prefix=prefix))
        position = end
    if pending_field:
        raise QueryError(
            f"{pending_field[0]}: (character {pending_field[1]}) needs a value after the ':'",
            hint=f"write {_example(pending_field[0])}",
        )
    return found


def _range(field_name: str, inner: str, position: int) -> _Token:
    if QUERY_FIELDS[field_name][1] not in ("date", "exact"):
        raise QueryError(
            f"{field_name}: (character {position}) cannot take a range",
            hint="ranges work on dates: created:[2024-01-01 TO 2024-06-30]",
        )
    parts = inner.split()
    if "TO" not in parts or len(parts) > 3 or parts.count("TO") != 1:
        raise QueryError(
            f"the range after {field_name}: (character {position}) must read [FROM TO UNTIL]",
            hint="like created:[2024-01-01 TO 2024-06-30]; leave a side out for no limit",
        )
    split = parts.index("TO")
    low = parts[0] if split == 1 else ""
    high = parts[split + 1] if split + 1 < len(parts) else ""
    if len(parts) == 3 and split != 1:
        raise QueryError(f"the range after {field_name}: must read [FROM TO UNTIL]")
    for bound in (low, high):
        if bound and QUERY_FIELDS[field_name][1] == "date" and not _DATE.fullmatch(bound):
            raise QueryError(
                f"{bound!r} in the range after {field_name}: is not a date",
                hint="write dates as YYYY, YYYY-MM or YYYY-MM-DD",
            )
    if not low and not high:
        raise QueryError(f"the range after {field_name}: needs at least one end")
    until = high + "~" if high and len(high) < 10 else high  # 2024 includes all of 2024
    if low and high and low.lower() > until.lower():
        raise QueryError(
            f"the range after {field_name}: (character {position}) runs backwards: "
            f"{low} comes after {high}, so nothing can fall in it",
            hint=f"write the earlier end first: {field_name}:[{high} TO {low}]",
        )
    high = until
    return _Token("RANGE", position, field=field_name, low=low.lower(), high=high.lower())


class _Parser:
    STARTS = ("WORD", "PHRASE", "RANGE", "LPAREN", "NOT")

    def __init__(self, found: list[_Token]) -> None:
        self.tokens = found
        self.at = 0
        self.clauses = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def parse(self) -> Any:
        first = self.peek()
        if first is None:
            return Every()
        node = self.any_of(0, None)
        extra = self.peek()
        if extra is not None:
            raise QueryError(
                f"the ) at character {extra.position} has no ( before it",
                hint="remove it, or add the ( it closes",
            )
        return node

    def _need_after(self, operator: _Token) -> None:
        following = self.peek()
        if following is None or following.kind not in self.STARTS:
            raise QueryError(
                f"{operator.kind} at character {operator.position} needs a word after it",
                hint=f"write like: robbery {operator.kind} burglary"
                if operator.kind != "NOT"
                else "write like: robbery NOT commercial",
            )

    def any_of(self, depth: int, field_name: str | None) -> Any:
        items = [self.all_of(depth, field_name)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            self._need_after(token)
            items.append(self.all_of(depth, field_name))
        return items[0] if len(items) == 1 else AnyOf(tuple(items))

    def all_of(self, depth: int, field_name: str | None) -> Any:
        first = self.peek()
        if first is not None and first.kind in ("AND", "OR"):
            raise QueryError(
                f"{first.kind} at character {first.position} needs a word before it",
                hint=f"write like: robbery {first.kind} burglary",
            )
        explicit: list[Any] = []
        implicit: list[Any] = [self.unary(depth, field_name)]
        while (token := self.peek()) is not None:
            if token.kind == "AND":
                self.take()
                self._need_after(token)
                explicit.append(_implicit(implicit))
                implicit = [self.unary(depth, field_name)]
            elif token.kind in self.STARTS:
                implicit.append(self.unary(depth, field_name))
            else:
                break
        explicit.append(_implicit(implicit))
        return explicit[0] if len(explicit) == 1 else AllOf(tuple(explicit))

    def unary(self, depth: int, field_name: str | None) -> Any:
        token = self.peek()
        if token is not None and token.kind == "NOT":
            self.take()
            self._need_after(token)
            return Not(self.unary(depth, field_name))
        return self.atom(depth, field_name)

    def atom(self, depth: int, field_name: str | None) -> Any:
        token = self.take()
        if token.kind == "LPAREN":
            if depth >= MAX_DEPTH:
                raise QueryError(
                    f"the query nests parentheses more than {MAX_DEPTH} deep",
                    hint="simplify it: a few words and one level of ( ) is usually enough",
                )
            following = self.peek()
            if following is None:
                raise QueryError(
                    f"the ( at character {token.position} is never closed",
                    hint="add a ) after the words it groups",
                )
            if following.kind == "RPAREN":
                raise QueryError(f"the ( ) at character {token.position} holds nothing")
            inner = self.any_of(depth + 1, token.field or field_name)
            closing = self.peek()
            if closing is None or closing.kind != "RPAREN":
                raise QueryError(
                    f"the ( at character {token.position} is never closed",
                    hint="add a ) after the words it groups",
                )
            self.take()
            return inner
        if token.kind == "RPAREN":
            raise QueryError(
                f"the ) at character {token.position} has no ( before it",
                hint="remove it, or add the ( it closes",
            )
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise QueryError(
                f"the query has more than {MAX_CLAUSES} words",
                hint="use the few words that matter most",
            )
        chosen = token.field or field_name
        if token.kind == "RANGE":
            return Range(token.field or "", token.low, token.high)
        if token.kind == "PHRASE":
            return Phrase(token.text, chosen)
        if chosen and not token.field and QUERY_FIELDS[chosen][1] in ("exact", "date", "list"):
            _check_value(chosen, token.text, token.prefix, token.position)
        return Term(token.text, chosen, token.prefix)


def _implicit(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else Implicit(tuple(items))


def parse(query: str) -> Any:
    """The query as a tree; raises QueryError (exit 2) saying what to fix."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(query):,} characters long; at most {MAX_QUERY_CHARS:,}",
            hint="search for the few words that matter most",
        )
    if "\x00" in query:
        raise QueryError("the query holds a NUL character")
    return _Parser(_lex(query)).parse()


def apply_mode(node: Any, mode: str = DEFAULT_MODE) -> Any:
    """Resolve words-side-by-side to all-words (AND) or any-words (ranked OR)."""
    kind = type(node).__name__
    if kind == "Implicit":
        items = [apply_mode(item, mode) for item in node.items]
        if mode in ("all", "strict"):
            return AllOf(tuple(items))
        # Only free words become optional; field:value clauses and NOT stay required.
        words = [item for item in items if _is_words(item)]
        required = [item for item in items if not _is_words(item)]
        if not words:
            return AllOf(tuple(required))
        ranked = Ranked(tuple(words)) if len(words) > 1 else words[0]
        return AllOf((ranked, *required)) if required else ranked
    if kind in ("AllOf", "AnyOf", "Ranked"):
        return type(node)(tuple(apply_mode(item, mode) for item in node.items))
    if kind == "Not":
        return Not(apply_mode(node.item, mode))
    return node


def plain_words(node: Any) -> list[str]:
    """The words of free text in the query (not in NOT, fields or prefixes), in order."""
    kind = type(node).__name__
    if kind == "Term":
        return [node.text] if node.field in (None, "text") and not node.prefix else []
    if kind in ("Implicit", "AllOf", "AnyOf", "Ranked"):
        return [word for item in node.items for word in plain_words(item)]
    return []


def highlight_words(node: Any) -> list[str]:
    """Words worth highlighting in a snippet."""
    kind = type(node).__name__
    if kind == "Term":
        if node.field is None or QUERY_FIELDS[node.field][1] == "text":
            return [node.text]
        return []
    if kind == "Phrase":
        return node.text.split() if node.field is None or node.field == "text" else []
    if kind == "Synonyms":
        return [word for form in node.forms for word in form.split()]
    if kind in ("Implicit", "AllOf", "AnyOf", "Ranked"):
        return [word for item in node.items for word in highlight_words(item)]
    return []


def has_free_text(node: Any) -> bool:
    kind = type(node).__name__
    if kind in ("Term", "Phrase", "Synonyms"):
        return node.field is None if kind != "Synonyms" else True
    if kind in ("Implicit", "AllOf", "AnyOf", "Ranked"):
        return any(has_free_text(item) for item in node.items)
    return False


# ---------------------------------------------------------------- vocabulary


@dataclass
class Expander:
    """Replaces query terms that a vocabulary group holds with the whole group."""

    lookup: dict[tuple[str, ...], tuple[str, ...]]
    longest: int

    @classmethod
    def for_kb(cls, kb: KB) -> Expander:
        from .index import tokens

        lookup: dict[tuple[str, ...], tuple[str, ...]] = {}
        for group in vocabulary_file.groups(kb.root):
            for form in group:
                key = tuple(tokens(form))
                if key:
                    lookup.setdefault(key, tuple(group))
        return cls(lookup, max((len(key) for key in lookup), default=0))

    def expand(self, node: Any) -> Any:
        from .index import tokens

        kind = type(node).__name__
        if kind == "Phrase" and node.field in (None, "text"):
            group = self.lookup.get(tuple(tokens(node.text)))
            return Synonyms(group, node.text) if group else node
        if kind == "Term":
            return self._run([node])[0]
        if kind == "Not":
            return Not(self.expand(node.item))
        if kind not in ("Implicit", "AllOf", "AnyOf", "Ranked"):
            return node
        items = [self.expand(item) if not isinstance(item, Term) else item for item in node.items]
        if kind == "Implicit":
            items = self._run(items)
        else:
            items = [self._run([item])[0] if isinstance(item, Term) else item for item in items]
        return type(node)(tuple(items)) if len(items) > 1 else items[0]

    def _run(self, items: list[Any]) -> list[Any]:
        """Greedy longest match of vocabulary forms over consecutive plain words."""
        from .index import tokens

        result: list[Any] = []
        position = 0
        while position < len(items):
            item = items[position]
            if not _expandable(item):
                result.append(item)
                position += 1
                continue
            matched = False
            stop = position
            while stop < len(items) and stop - position < self.longest + 2:
                if not _expandable(items[stop]):
                    break
                stop += 1
            for end in range(stop, position, -1):
                words = [items[index].text for index in range(position, end)]
                key = tuple(token for word in words for token in tokens(word))
                group = self.lookup.get(key) if key else None
                if group and tokens(words[0]) and tokens(words[-1]):
                    result.append(Synonyms(group, " ".join(words)))
                    position = end
                    matched = True
                    break
            if not matched:
                result.append(item)
                position += 1
        return result


def _expandable(item: Any) -> bool:
    return isinstance(item, Term) and item.field in (None, "text") and not item.prefix


# ---------------------------------------------------------------- entries as documents


def _text_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value if item is not None)
    return "" if value is None else str(value)


def document_for(kb: KB, rel: str) -> dict[str, Any] | str:
    """The fields the index holds for one entry file, or why it cannot be read."""
    try:
        entry = read_entry(kb.root / rel, kb.root, kb.limits)
    except EntryError as error:
        return f"{error.line}: {error.message}"
    meta = entry.meta
    document: dict[str, Any] = {"path": rel, "id": entry.id, "body": entry.body}
    for name in ("type", "site", "status", "tlp", "evidence", "product_type", "priority", "rfi"):
        value = meta.get(name)
        if isinstance(value, str) and value:
            document[name] = value.lower()
    for name in ("created", "updated", "needed_by"):
        value = meta.get(name)
        if isinstance(value, str) and value:
            document[name] = value
    date = document.get("updated") or document.get("created")
    if date:
        document["date"] = date
    for name, target in (("topics", "topic"), ("tags", "tag"), ("to", "to")):
        values = meta.get(name)
        if isinstance(values, list):
            document[target] = ",".join(str(item) for item in values if item is not None)
    title = _text_value(meta.get("title")) or entry.id
    summary = _text_value(meta.get("summary"))
    tags = " ".join(str(tag) for tag in meta.get("tags") or () if tag is not None)
    document.update(
        title=title,
        summary=summary,
        tags=tags.replace("-", " "),
        author=_text_value(meta.get("authors")),
        spell=" ".join((title, summary, tags.replace("-", " "))),
    )
    return document


# ---------------------------------------------------------------- keeping the index fresh


@dataclass
class RefreshStats:
    """What bringing the index up to date did."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    seconds: float = 0.0
    rebuilt: bool = False
    count: int = 0  # entries in the index afterwards
    notices: list[str] = field(default_factory=list)
    skipped: list[Issue] = field(default_factory=list)  # broken entries met this time
    broken: list[Issue] = field(default_factory=list)  # every entry the index lacks
    unchanged: tuple[str, int] | None = None  # the index version found fresh, if untouched


Progress = Callable[[int, int], None]


def _issues(found: dict[str, str]) -> list[Issue]:
    issues = []
    for path, why in sorted(found.items()):
        line, _, message = why.partition(": ")
        number = int(line) if line.isdigit() else 1
        issues.append(Issue("error", "unreadable", path, number, message or why))
    return issues


def _stats(report: Any, started: float) -> RefreshStats:
    notices = []
    if report.rebuilt and report.reason and not report.first_use:
        notices.append(f"the search index was rebuilt: {report.reason}")
    return RefreshStats(
        added=report.added,
        changed=report.changed,
        removed=report.removed,
        seconds=time.perf_counter() - started,
        rebuilt=report.rebuilt,
        count=report.count,
        notices=notices,
        skipped=_issues(report.skipped),
        broken=_issues(report.broken),
        unchanged=report.unchanged,
    )


def refresh(kb: KB, progress: Progress | None = None) -> RefreshStats:
    """Bring the index up to date with the entry files (new, changed, deleted only)."""
    from . import index

    started = time.perf_counter()
    report = index.refresh(kb.root, lambda rel: document_for(kb, rel), progress)
    if report.merge_due:  # small segments have gathered: merge them, but not in our time
        index.merge_in_background(kb.root)
    return _stats(report, started)


def rebuild(kb: KB, progress: Progress | None = None, reason: str | None = None) -> RefreshStats:
    """Build the index from nothing, beside the live one; switch only when complete."""
    from . import index

    started = time.perf_counter()
    report = index.rebuild(kb.root, lambda rel: document_for(kb, rel), progress, reason=reason)
    return _stats(report, started)


def _while_scanning(kb: KB, work: Callable[[Any], Any]) -> tuple[tuple[str, int], Any] | None:
    """(index version, `work(searcher)`) run on the index as it is while the early freshness
    scan still runs in its own process (a large KB), instead of waiting for it; None if no
    scan is running or anything goes wrong (the caller then works as usual)."""
    from . import index, scan

    if not scan.running(kb.root):
        return None
    try:
        with index.open_searcher(kb.root) as searcher:
            return searcher.version, work(searcher)
    except Exception:  # the usual path below meets it again, and reports it
        return None


def _with_searcher(kb: KB, work: Callable[[Any], Any], progress: Progress | None = None):
    """Refresh, then run `work(searcher)`; a damaged index is rebuilt once, with a notice.

    In a large KB the early scan outlasts the CLI's loading, so the work runs meanwhile on
    the index as it is; its result stands only if the refresh then finds that same index
    version up to date (no file changed, no other writer), else the work runs again."""
    from . import index

    guess = _while_scanning(kb, work)
    stats = refresh(kb, progress)
    if guess is not None and guess[0] == stats.unchanged:
        return stats, guess[1]
    for attempt in (1, 2):
        try:
            with index.open_searcher(kb.root) as searcher:
                return stats, work(searcher)
        except CacopError:
            raise
        except Exception as exc:  # Untrusted, or a damaged file found while reading
            if attempt == 2:
                raise CacopError(
                    f"the search index cannot be read even after a rebuild: {exc}",
                    hint="delete the .cacop folder and try again",
                ) from exc
            reason = getattr(exc, "reason", None) or f"it could not be read ({type(exc).__name__})"
            previous = stats.notices
            stats = rebuild(kb, progress, reason=reason)
            stats.notices = previous + stats.notices
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- results


@dataclass
class SearchResult:
    query: str
    total: int
    hits: list[Hit]
    corrected: str | None = None  # the query actually searched, when a typo was corrected
    suggestion: str | None = None
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    highlight: str | None = None  # regular expression of the words to highlight in snippets
    notices: list[str] = field(default_factory=list)
    broken: list[Issue] = field(default_factory=list)
    refresh: RefreshStats | None = None


# Markdown's marks: a link or image (its text is kept), runs of `*_#>|, and HTML tags. The
# lookahead lets the regex engine skip to the next possible mark instead of trying every
# alternative at every character (2.5x faster on an entry's body here).
_MARKUP = re.compile(r"(?=[!\[`*_#>|<])(?:!?\[([^\]]*)\]\([^)]*\)|[`*_#>|]+|<[^>]{0,200}>)")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def highlight_pattern(words: list[str]) -> str | None:
    """A regex matching the words as written or by their stem, at word starts."""
    from .index import tokens

    alternatives: set[str] = set()
    for word in words[:40]:
        for token in tokens(word) + tokens(word, stemmed=False):
            if len(token) >= 2 or token.isdigit():
                alternatives.add(re.escape(token))
    if not alternatives:
        return None
    ordered = sorted(alternatives, key=len, reverse=True)
    return r"(?i)\b(?:" + "|".join(ordered) + r")\w*"


def make_snippet(text: str, pattern: str | None, width: int = SNIPPET_CHARS) -> str:
    """A short passage of `text` around the densest cluster of the query's words."""
    plain = " ".join(_CONTROL.sub(" ", _MARKUP.sub(lambda m: m.group(1) or " ", text)).split())
    if len(plain) <= width:
        return plain
    start = 0
    if pattern:
        regex = re.compile(pattern)
        matches = []
        for match in regex.finditer(plain):
            matches.append((match.start(), match.group().lower()))
            if len(matches) >= 300:
                break
        best = -1
        for index, (position, _) in enumerate(matches):
            window = {word for where, word in matches[index:] if where < position + width - 40}
            if len(window) > best:
                best, start = len(window), max(0, position - 40)
    if start:
        space = plain.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    end = min(len(plain), start + width)
    if end < len(plain):
        space = plain.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    return ("…" if start else "") + plain[start:end].strip() + ("…" if end < len(plain) else "")


def _file_text(kb: KB, rel: str) -> str:
    path = kb.root / rel
    try:
        if path.stat().st_size > kb.limits.get("entry_bytes", 1_048_576):
            return ""
        text = path.read_text("utf-8", errors="replace")
        frontmatter, body, _ = split_frontmatter(text)
    except (OSError, EntryError):
        return ""
    summary = re.search(r"^summary:[ \t]*(.+)$", frontmatter, re.MULTILINE)
    lead = summary.group(1).strip().strip("'\"") + "\n" if summary else ""
    return lead + body


def _hit(kb: KB, raw: Any, pattern: str | None) -> Hit:
    fields = raw.fields
    topics = [topic for topic in str(fields.get("topic", "")).split(",") if topic]
    return Hit(
        id=str(fields.get("id", "")),
        type=str(fields.get("type", "")),
        title=str(fields.get("title", "")),
        site=str(fields.get("site", "")),
        tlp=str(fields.get("tlp", "")),
        path=str(fields.get("path", "")),
        score=round(raw.score, 4),
        snippet=make_snippet(_file_text(kb, str(fields.get("path", ""))), pattern),
        created=str(fields.get("updated") or fields.get("created") or ""),
        topics=topics,
    )


def _filters(**given: Any) -> list[Any]:
    """Filter options as query nodes (each checked like the query's own field:value)."""
    nodes: list[Any] = []
    for name in ("type", "site", "topic", "tag", "status", "tlp"):
        value = given.get(name)
        for item in value if isinstance(value, (list, tuple)) else [value] if value else []:
            item = str(item).strip()
            if name in CHOICES and item.lower() not in CHOICES[name]:
                raise UsageError(f"--{name} {item!r} is not one of: {', '.join(CHOICES[name])}")
            nodes.append(Term(item.lower(), name))
    if given.get("author"):
        nodes.append(Term(str(given["author"]), "author"))
    since, until = given.get("since"), given.get("until")
    for option, value in (("since", since), ("until", until)):
        if value and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
            raise UsageError(f"--{option} {value!r} is not a date (YYYY-MM-DD)")
    if since and until and str(since) > str(until):
        raise UsageError(
            f"--since {since} is after --until {until}, so no entry can match both",
            hint="swap them, or leave one out",
        )
    if since:  # created or updated on or after
        nodes.append(Range("date", str(since), ""))
    if until:  # created on or before
        nodes.append(Range("created", "", str(until)))
    return nodes


def _search_once(
    searcher: Any, tree: Any, filters: list[Any], limit: int, mode: str
) -> tuple[int, list[Any], set[int]]:
    """(how many entries match, the best `limit` of them, every matching document)."""
    docs, raw = searcher.search(apply_mode(tree, mode), filters, limit)
    return len(docs), raw, docs


def _corrected_query(query: str, replacements: dict[str, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        return replacements.get(match.group(0).lower(), match.group(0))

    return re.sub(r"[\w-]+", swap, query)


def search(
    kb: KB,
    query: str,
    *,
    type: str | None = None,  # noqa: A002 - the option's name
    site: str | None = None,
    topic: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    tlp: str | None = None,
    author: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = DEFAULT_LIMIT,
    facets: bool = True,
    mode: str = DEFAULT_MODE,
    progress: Progress | None = None,
) -> SearchResult:
    """Ranked search of the KB; refreshes the index first. Raises QueryError for bad queries."""
    query = query.strip()
    tree = parse(query)
    filters = _filters(
        type=type, site=site, topic=topic, tag=tag, status=status, tlp=tlp, author=author,
        since=since, until=until,
    )  # fmt: skip
    if isinstance(tree, Every) and not filters:
        raise QueryError(
            "give words to search for, or a filter",
            hint="like: cacop search carjacking, or cacop search --type rfi --status open",
        )
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    expander = Expander.for_kb(kb)
    expanded = expander.expand(tree)

    def work(searcher: Any) -> SearchResult:
        total, raw, docs = _search_once(searcher, expanded, filters, limit, mode)
        searched = expanded
        result = SearchResult(query=query, total=total, hits=[])
        if total <= FEW_HITS:
            corrected = _correction(searcher, query, tree)
            if corrected:
                better_tree = expander.expand(parse(corrected))
                better = _search_once(searcher, better_tree, filters, limit, mode)
                if total == 0 and better[0]:
                    total, raw, docs = better
                    searched = better_tree
                    result.corrected = corrected
                elif better[0] > total:
                    result.suggestion = f"did you mean: {corrected}"
        if total < FEW_ALL_WORDS and mode == "all" and _has_implicit(searched):
            # Too few entries hold every word: list them first, then those holding most words.
            some_total, some_raw, some_docs = _search_once(
                searcher, searched, filters, limit, "any"
            )
            if some_total > total:
                listed = {item.fields.get("path") for item in raw}
                raw = raw + [item for item in some_raw if item.fields.get("path") not in listed]
                raw = raw[:limit]
                result.notices.append(
                    "no entry holds every word; showing those that hold the most"
                    if total == 0
                    else f"{total} {'entry holds' if total == 1 else 'entries hold'} every word "
                    "(listed first); the others hold some of the words"
                )
                total, docs = some_total, some_docs
        if total == 0 and not result.suggestion:
            result.suggestion = _no_hits_advice(tree, filters)
        pattern = highlight_pattern(highlight_words(searched))
        result.total, result.highlight = total, pattern
        result.hits = [_hit(kb, item, pattern) for item in raw]
        if facets and total:
            result.facets = {
                name: searcher.counts(docs, name) for name in ("type", "site", "topic")
            }
        return result

    stats, result = _with_searcher(kb, work, progress)
    result.notices = stats.notices + result.notices
    result.broken, result.refresh = stats.broken, stats
    return result


def _correction(searcher: Any, query: str, tree: Any) -> str | None:
    """The query with each word the index does not know replaced by its closest known word."""
    replacements = {}
    for word in plain_words(tree):
        if not searcher.known(word):
            options = searcher.corrections(word)
            if options:
                replacements[word.lower()] = options[0]
    return _corrected_query(query, replacements) if replacements else None


def _is_words(node: Any) -> bool:
    """Free text (not a field constraint, a range or a NOT)."""
    kind = type(node).__name__
    if kind in ("Term", "Phrase"):
        return node.field is None or QUERY_FIELDS[node.field][1] == "text"
    if kind == "Synonyms":
        return True
    if kind in ("Implicit", "AllOf", "AnyOf", "Ranked"):
        return any(_is_words(item) for item in node.items)
    return False


def _has_implicit(node: Any) -> bool:
    """Does the query hold two or more free words side by side (so "some of them" differs)?"""
    kind = type(node).__name__
    if kind == "Implicit":
        return sum(1 for item in node.items if _is_words(item)) > 1 or any(
            _has_implicit(item) for item in node.items
        )
    if kind in ("AllOf", "AnyOf", "Ranked"):
        return any(_has_implicit(item) for item in node.items)
    return False


def _no_hits_advice(tree: Any, filters: list[Any]) -> str:
    if filters and not isinstance(tree, Every):
        return "no entry matches the words and the filters together; try without a filter"
    if filters:
        return "no entry matches these filters; `cacop list` shows every entry"
    if len(plain_words(tree)) > 1:
        return "try fewer words, OR between them, or a prefix like carjack*"
    return "try another word, a prefix like carjack*, or `cacop list` to browse"


# ---------------------------------------------------------------- similar entries


def _similar(kb: KB, text: str, exclude: str | None, limit: int) -> list[Hit]:
    def work(searcher: Any) -> list[Hit]:
        terms = searcher.key_terms(text, 20)
        if not terms:
            return []
        query = searcher.weighted_terms(terms)
        raw = searcher.search_compiled(query, exclude, limit)
        pattern = highlight_pattern([word for word, _ in terms[:8]])
        return [_hit(kb, item, pattern) for item in raw]

    return _with_searcher(kb, work)[1]


def similar(kb: KB, entry_id: str, limit: int = 5) -> list[Hit]:
    """The entries most like one entry ("has anyone done this before?")."""
    from .ops import locate

    check_id(entry_id)
    path = locate(kb, entry_id)
    if path is None:
        from .ops import not_found_hint

        raise NotFound(f"no entry has the id {entry_id!r}", hint=not_found_hint(kb))
    document = document_for(kb, path.relative_to(kb.root).as_posix())
    if isinstance(document, str):
        raise CacopError(f"{path.relative_to(kb.root)}:{document}", hint="fix the file first")
    text = " ".join(
        [document["title"]] * 3 + [document["summary"], document["tags"], document["body"]]
    )
    return _similar(kb, text, document["path"], limit)


def similar_to_text(kb: KB, title: str, body: str, limit: int = 3) -> list[Hit]:
    """The entries most like a draft (for `submit`, before it commits)."""
    return _similar(kb, " ".join([title] * 3 + [body]), None, limit)


def snapshot(kb: KB) -> dict[str, Any]:
    """The index's documents and words, to compare two indexes (tests)."""
    from . import index

    with index.open_searcher(kb.root) as searcher:
        return {
            "documents": searcher.stored_all(),
            "words": {name: searcher.lexicon(name) for name in ("title", "body", "tag")},
        }
