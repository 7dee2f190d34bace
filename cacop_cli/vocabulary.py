"""The field's vocabulary (kb/vocabulary.yaml): groups of terms that mean the same thing.

Search expands a query term into every term of its group (`Expander`); `validate`
checks the file with `check()`. Stdlib and yamlsafe only at import, so `validate`
stays light: the query tree and the index's analyser are imported when expanding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .models import Issue

if TYPE_CHECKING:
    from .config import KB

VOCABULARY_PATH = "kb/vocabulary.yaml"
MAX_TERM_CHARS = 80
MAX_TERM_WORDS = 8
_QUERY_SYNTAX = re.compile(r'["()*:\[\]{}]')


@dataclass
class Vocabulary:
    """Groups of equivalent terms, as written in the file."""

    groups: list[list[str]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


def load(root: Path) -> Vocabulary:
    """The vocabulary of the KB at `root`; a missing file is an empty vocabulary.

    Problems become issues (never exceptions); groups with problems are left out.
    """
    from .config import read_settings
    from .errors import EntryError

    path = root / VOCABULARY_PATH
    vocabulary = Vocabulary()
    try:
        text = read_settings(path)
    except FileNotFoundError:
        return vocabulary
    except EntryError as exc:
        vocabulary.issues.append(Issue("error", "vocabulary", VOCABULARY_PATH, 1, exc.message))
        return vocabulary
    except OSError as exc:
        vocabulary.issues.append(
            Issue("error", "vocabulary", VOCABULARY_PATH, 1, f"cannot be read: {exc}")
        )
        return vocabulary
    return parse(text)


def groups(root: Path) -> list[list[str]]:
    """The usable groups of the KB's vocabulary (what search expands queries with),
    remembered per version of the file so that a search need not load PyYAML."""
    from .config import read_settings, remembered
    from .errors import EntryError

    try:
        text = read_settings(root / VOCABULARY_PATH)
    except (OSError, EntryError):
        return load(root).groups
    return remembered("vocabulary", text, lambda: parse(text).groups)


def parse(text: str) -> Vocabulary:
    """The vocabulary in the text of a vocabulary.yaml."""
    from . import yamlsafe

    vocabulary = Vocabulary()
    try:
        document = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        vocabulary.issues.append(
            Issue("error", "vocabulary", VOCABULARY_PATH, exc.line + 1, exc.message)
        )
        return vocabulary
    value = document.value
    if value is None:
        return vocabulary
    groups = value.get("groups") if isinstance(value, dict) else None
    if not isinstance(value, dict) or set(value) - {"groups"} or not isinstance(groups, list):
        vocabulary.issues.append(
            Issue(
                "error",
                "vocabulary",
                VOCABULARY_PATH,
                1,
                "must hold one field, 'groups:', a list of groups like [LPR, license plate reader]",
            )
        )
        return vocabulary
    seen: dict[str, int] = {}
    cursor = _offset_of_line(text, document.key_lines.get("groups", 0) + 1)
    for number, group in enumerate(groups, 1):
        problem = _group_problem(group)
        first = str(group[0]) if isinstance(group, list) and group else "-"
        position = text.find(first, cursor)
        cursor = position + 1 if position >= 0 else cursor
        line = text.count("\n", 0, position) + 1 if position >= 0 else 1
        if problem:
            vocabulary.issues.append(_issue(line, f"group {number}: {problem}"))
            continue
        for term in group:
            key = " ".join(term.lower().split())
            if seen.get(key) == number:
                message = f"{term!r} is listed twice (case does not matter)"
                vocabulary.issues.append(_issue(line, f"group {number}: {message}"))
            elif key in seen:
                message = (
                    f"{term!r} is already in group {seen[key]}; a term belongs to one group only "
                    "(merge the two groups if they mean the same)"
                )
                vocabulary.issues.append(_issue(line, f"group {number}: {message}"))
            seen[key] = number
        vocabulary.groups.append([" ".join(term.split()) for term in group])
    return vocabulary


def _issue(line: int, message: str) -> Issue:
    return Issue("error", "vocabulary", VOCABULARY_PATH, line, message)


def _offset_of_line(text: str, line: int) -> int:
    offset = 0
    for _ in range(max(line - 1, 0)):
        offset = text.find("\n", offset) + 1
        if offset == 0:
            return 0
    return offset


def _group_problem(group: object) -> str | None:
    if not isinstance(group, list) or len(group) < 2:
        return "must be a list of at least two equivalent terms, like [LPR, license plate reader]"
    for term in group:
        if not isinstance(term, str) or not term.strip():
            return (
                f"{term!r} is not a term: write each term as text (quote values YAML would "
                "read as yes/no or numbers)"
            )
        if len(term) > MAX_TERM_CHARS or len(term.split()) > MAX_TERM_WORDS:
            return f"{term!r} is too long for a term (at most {MAX_TERM_WORDS} words)"
        if _QUERY_SYNTAX.search(term):
            return f"{term!r} holds query syntax (quotes, brackets, ':' or '*'); leave them out"
    return None


def check(root: Path) -> list[Issue]:
    """What `validate` reports about kb/vocabulary.yaml."""
    return load(root).issues


# ---------------------------------------------------------------- expanding a query


@dataclass
class Expander:
    """Replaces query terms that a vocabulary group holds with the whole group."""

    lookup: dict[tuple[str, ...], tuple[str, ...]]
    longest: int

    @classmethod
    def for_kb(cls, kb: KB) -> Expander:
        from .index import tokens

        lookup: dict[tuple[str, ...], tuple[str, ...]] = {}
        for group in groups(kb.root):
            for form in group:
                key = tuple(tokens(form))
                if key:
                    lookup.setdefault(key, tuple(group))
        return cls(lookup, max((len(key) for key in lookup), default=0))

    def expand(self, node: Any) -> Any:
        from .index import tokens
        from .query import GROUPS, Implicit, Not, Phrase, Synonyms, Term

        match node:
            case Phrase() if node.field in (None, "text"):
                group = self.lookup.get(tuple(tokens(node.text)))
                return Synonyms(group, node.text) if group else node
            case Term():
                return self._run([node])[0]
            case Not():
                return Not(self.expand(node.item))
        if not isinstance(node, GROUPS):
            return node
        items = [self.expand(item) if not isinstance(item, Term) else item for item in node.items]
        if isinstance(node, Implicit):
            items = self._run(items)
        else:
            items = [self._run([item])[0] if isinstance(item, Term) else item for item in items]
        return type(node)(tuple(items)) if len(items) > 1 else items[0]

    def _run(self, items: list[Any]) -> list[Any]:
        """Greedy longest match of vocabulary forms over consecutive plain words."""
        from .index import tokens
        from .query import Synonyms

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
    from .query import Term

    return isinstance(item, Term) and item.field in (None, "text") and not item.prefix
