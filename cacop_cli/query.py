"""The query language: its tree, its fields, and the checking parser. Standard library only.

Checked here before Whoosh sees it (Whoosh silently rewrites a malformed query), and parsed
into a tree of the node classes below, which `index.Searcher.compile` makes a Whoosh query.

    words            any of them; entries holding more of them first (see docs/architecture.md)
    "a phrase"       those words in that order
    field:value      title: summary: body: tag: topic: author: id: type: site: status: tlp:
                     evidence: product_type: priority: rfi: to: created: updated: needed_by:
    AND OR NOT ( )   boolean logic (upper case)
    -word            leaves out what holds it, as NOT does (-"a phrase" and -tag:x too)
    carjack*         prefix
    created:[2024-01-01 TO 2024-06-30]   a range of dates
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import QueryError
from .models import (
    EVIDENCE,
    PRIORITIES,
    PRODUCT_TYPES,
    RFI_STATUSES,
    STRATEGY_STATUSES,
    TLP_ORDER,
    TOPICS,
    TYPES,
)

# Field names of the query language -> (index field, kind).
#   text: analysed and stemmed; words: analysed, not stemmed; exact: the whole value, lowercased;
#   date: YYYY-MM-DD text (ranges and prefixes work); list: several exact values.
QUERY_FIELDS: dict[str, tuple[str, str]] = {
    "title": ("title", "text"),
    "summary": ("summary", "text"),
    "body": ("body", "text"),
    "text": ("", "text"),  # all text fields
    "tag": ("tag", "list"),
    "tags": ("tag", "list"),
    "topic": ("topic", "list"),
    "topics": ("topic", "list"),
    "author": ("author", "words"),
    "authors": ("author", "words"),
    "id": ("id", "exact"),
    "type": ("type", "exact"),
    "site": ("site", "exact"),
    "status": ("status", "exact"),
    "tlp": ("tlp", "exact"),
    "evidence": ("evidence", "exact"),
    "product_type": ("product_type", "exact"),
    "priority": ("priority", "exact"),
    "rfi": ("rfi", "exact"),
    "to": ("to", "list"),
    "created": ("created", "date"),
    "updated": ("updated", "date"),
    "needed_by": ("needed_by", "date"),
    "date": ("date", "date"),
}
MAX_QUERY_CHARS = 1_000
MAX_DEPTH = 12
MAX_CLAUSES = 64
# How words side by side combine: "strict" (AND only), or "all" and "any" (the same since
# issue 15: ORed, each entry weighted by the share of the query's concepts it holds, so
# entries holding all of them come first; see search._search_once and docs/architecture.md,
# "Ranking").
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


GROUPS = (Implicit, AllOf, AnyOf, Ranked)  # the nodes that hold several others (`items`)


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
        if char == "-" and not pending_field:  # -word, -"a phrase", -tag:x: as NOT does
            following = query[position + 1] if position + 1 < length else ""
            if following == "-":
                raise QueryError(
                    f"'--' at character {start}: one - leaves out the word right after it",
                    hint="write -commercial (or NOT commercial) to leave out entries holding it",
                )
            if not following or following.isspace() or following == ")":
                raise QueryError(
                    f"the - at character {start} has no word right after it",
                    hint="write -commercial (or NOT commercial) to leave out entries holding it; "
                    'to search for a dash, put it in quotes: "-"',
                )
            found.append(_Token("NOT", start, text="-"))
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
                f"{operator.text or operator.kind} at character {operator.position} "
                "needs a word after it",
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
    match node:
        case Implicit():
            items = [apply_mode(item, mode) for item in node.items]
            if mode in ("all", "strict"):
                return AllOf(tuple(items))
            # Only free words become optional; field:value clauses and NOT stay required.
            words = [item for item in items if is_words(item)]
            required = [item for item in items if not is_words(item)]
            if not words:
                return AllOf(tuple(required))
            ranked = Ranked(tuple(words)) if len(words) > 1 else words[0]
            return AllOf((ranked, *required)) if required else ranked
        case AllOf() | AnyOf() | Ranked():
            return type(node)(tuple(apply_mode(item, mode) for item in node.items))
        case Not():
            return Not(apply_mode(node.item, mode))
    return node


def plain_words(node: Any) -> list[str]:
    """The words of free text in the query (not in NOT, fields or prefixes), in order."""
    match node:
        case Term():
            return [node.text] if node.field in (None, "text") and not node.prefix else []
        case Implicit() | AllOf() | AnyOf() | Ranked():
            return [word for item in node.items for word in plain_words(item)]
    return []


def highlight_words(node: Any) -> list[str]:
    """Words worth highlighting in a snippet."""
    match node:
        case Term():
            if node.field is None or QUERY_FIELDS[node.field][1] == "text":
                return [node.text]
            return []
        case Phrase():
            return node.text.split() if node.field is None or node.field == "text" else []
        case Synonyms():
            return [word for form in node.forms for word in form.split()]
        case Implicit() | AllOf() | AnyOf() | Ranked():
            return [word for item in node.items for word in highlight_words(item)]
    return []


def has_free_text(node: Any) -> bool:
    match node:
        case Term() | Phrase():
            return node.field is None
        case Synonyms():
            return True
        case Implicit() | AllOf() | AnyOf() | Ranked():
            return any(has_free_text(item) for item in node.items)
    return False


def is_words(node: Any) -> bool:
    """Free text (not a field constraint, a range or a NOT)."""
    match node:
        case Term() | Phrase():
            return node.field is None or QUERY_FIELDS[node.field][1] == "text"
        case Synonyms():
            return True
        case Implicit() | AllOf() | AnyOf() | Ranked():
            return any(is_words(item) for item in node.items)
    return False


def has_implicit(node: Any) -> bool:
    """Does the query hold two or more free words side by side (so "some of them" differs)?"""
    match node:
        case Implicit():
            return sum(1 for item in node.items if is_words(item)) > 1 or any(
                has_implicit(item) for item in node.items
            )
        case AllOf() | AnyOf() | Ranked():
            return any(has_implicit(item) for item in node.items)
    return False
