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
# cacop's own vocabulary, used by every KB (package data, shipped in the wheel).
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "vocabulary.yaml"
DEFAULT_LABEL = "cacop_cli/data/vocabulary.yaml"
# What `cacop init` writes to kb/vocabulary.yaml: nothing of its own yet, and how to add.
INIT_TEXT = """\
# This knowledge base's additions to cacop's default vocabulary.
#
# Every search already knows the field's usual equivalences: NIBIN, LPR, GVI,
# carjacking and some 200 more (cacop_cli/data/vocabulary.yaml in cacop).
# Add what your community says that the default does not know, for example:
#
#   groups:
#     - [Flock, LPR]                     # shares a term with a default group: extends it
#     - [Operation Safe Summer, summer violence plan]    # a group of its own
#   disable: [switch]                    # a default group you do not want, by its name
#
# Only group terms an analyst would accept for one another. `cacop validate`
# checks this file.
groups: []
"""
MAX_TERM_CHARS = 80
MAX_TERM_WORDS = 8
_QUERY_SYNTAX = re.compile(r'["()*:\[\]{}]')
GROUP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_SHAPE = (
    "must hold 'groups:' (a list of groups like [LPR, license plate reader], or a mapping of "
    "group names to such lists) and 'disable:' (names of default groups to switch off); "
    "both are optional"
)


@dataclass
class Vocabulary:
    """Groups of equivalent terms, as written in the file."""

    groups: list[list[str]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)  # each group's name, if named
    lines: list[int] = field(default_factory=list)  # each group's line in the file
    disabled: list[tuple[str, int]] = field(default_factory=list)  # (default group, line)


def _read(path: Path, label: str) -> tuple[str | None, list[Issue]]:
    """(the file's text, or None when missing or unreadable; the problem, if any)."""
    from .config import read_settings
    from .errors import EntryError

    try:
        return read_settings(path), []
    except FileNotFoundError:
        return None, []
    except EntryError as exc:
        return None, [Issue("error", "vocabulary", label, 1, exc.message)]
    except OSError as exc:
        return None, [Issue("error", "vocabulary", label, 1, f"cannot be read: {exc}")]


def load(root: Path) -> Vocabulary:
    """cacop's default vocabulary merged with the KB's own at `root` (a missing file adds
    nothing). Problems become issues (never exceptions); groups with problems are left out."""
    default_text, default_issues = _read(DEFAULT_PATH, DEFAULT_LABEL)
    own_text, own_issues = _read(root / VOCABULARY_PATH, VOCABULARY_PATH)
    default = parse(default_text or "", DEFAULT_LABEL)
    own = parse(own_text or "")
    merged = merge(default, own)
    merged.issues = default_issues + default.issues + own_issues + own.issues + merged.issues
    return merged


def load_default() -> Vocabulary:
    """cacop's default vocabulary alone (its tests check it)."""
    text, issues = _read(DEFAULT_PATH, DEFAULT_LABEL)
    vocabulary = parse(text or "", DEFAULT_LABEL)
    vocabulary.issues = issues + vocabulary.issues
    return vocabulary


def groups(root: Path) -> list[list[str]]:
    """The usable groups, default and the KB's merged (what search expands queries with)."""
    return _table(root)[0]


def _table(root: Path) -> tuple[list[list[str]], list[tuple[list[str], int]]]:
    """(the usable groups, each form's index tokens -> its group), remembered per version
    of the two files: a search then neither loads PyYAML nor analyses some 900 forms."""
    from .config import remembered

    def derive() -> list[Any]:
        from .index import tokens

        usable = load(root).groups
        return [
            usable,
            [[tokens(form), number] for number, group in enumerate(usable) for form in group],
        ]

    default_text, problems = _read(DEFAULT_PATH, DEFAULT_LABEL)
    own_text, own_problems = _read(root / VOCABULARY_PATH, VOCABULARY_PATH)
    if problems or own_problems:
        usable, forms = derive()
    else:
        usable, forms = remembered("vocabulary-forms", f"{default_text}\0{own_text or ''}", derive)
    return usable, [(key, number) for key, number in forms]


def _key(term: str) -> str:
    return " ".join(term.lower().split())


def merge(default: Vocabulary, own: Vocabulary) -> Vocabulary:
    """The default groups with the KB's applied: `disable:` switches a default group off,
    a KB group of the same name replaces it, a KB group sharing a term with one default
    group adds its other terms to it, and any other KB group is added as it is."""
    merged = Vocabulary()
    named = {name: index for index, name in enumerate(default.names) if name}
    switched_off = set()
    for name, line in own.disabled:
        if name in named:
            switched_off.add(name)
        else:
            merged.issues.append(
                Issue(
                    "warning", "vocabulary", VOCABULARY_PATH, line,
                    f"disable: {name!r} is not a group of cacop's default vocabulary "
                    f"({DEFAULT_LABEL}); nothing was switched off",
                )
            )  # fmt: skip
    replaced = {name for name in own.names if name in named}
    kept: list[list[str]] = []
    kept_names: list[str | None] = []
    owner: dict[str, int] = {}  # a default term -> its group in `kept`
    for group, name in zip(default.groups, default.names, strict=False):
        if name in switched_off or name in replaced:
            continue
        for term in group:
            owner[_key(term)] = len(kept)
        kept.append(list(group))
        kept_names.append(name)
    added: list[list[str]] = []
    for group, name, line in zip(own.groups, own.names, own.lines, strict=False):
        touched = sorted({owner[_key(term)] for term in group if _key(term) in owner})
        if name in replaced or not touched:
            added.append(list(group))
        elif len(touched) == 1:
            target = kept[touched[0]]
            present = {_key(term) for term in target}
            target += [term for term in group if _key(term) not in present]
        else:
            joined = " and ".join(repr(kept_names[index]) for index in touched)
            merged.issues.append(
                Issue(
                    "error", "vocabulary", VOCABULARY_PATH, line,
                    f"the group [{', '.join(group)}] joins the default groups {joined}, which mean "
                    "different things; split it, or switch one of them off under disable:",
                )
            )  # fmt: skip
    merged.groups = added + kept  # the KB's own first: its meaning wins a shared term
    return merged


def parse(text: str, label: str = VOCABULARY_PATH) -> Vocabulary:
    """The vocabulary in the text of a vocabulary.yaml (`label` names it in issues)."""
    from . import yamlsafe

    vocabulary = Vocabulary()
    try:
        document = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        vocabulary.issues.append(Issue("error", "vocabulary", label, exc.line + 1, exc.message))
        return vocabulary
    value = document.value
    if value is None:
        return vocabulary
    groups = value.get("groups", []) if isinstance(value, dict) else None
    disable = value.get("disable", []) if isinstance(value, dict) else None
    if (
        not isinstance(value, dict)
        or set(value) - {"groups", "disable"}
        or not isinstance(groups, (list, dict))
        or not isinstance(disable, list)
    ):
        vocabulary.issues.append(Issue("error", "vocabulary", label, 1, _SHAPE))
        return vocabulary
    disable_line = document.key_lines.get("disable", 0) + 1
    for name in disable:
        if isinstance(name, str) and GROUP_NAME.fullmatch(name):
            vocabulary.disabled.append((name, disable_line))
        else:
            vocabulary.issues.append(
                Issue("error", "vocabulary", label, disable_line,
                      f"disable: {name!r} is not a group name (like lpr or focused-deterrence)")
            )  # fmt: skip
    seen: dict[str, int] = {}
    cursor = _offset_of_line(text, document.key_lines.get("groups", 0) + 1)
    named = isinstance(groups, dict)
    items = list(groups.items()) if isinstance(groups, dict) else [(None, g) for g in groups]
    for number, (name, group) in enumerate(items, 1):
        if named:
            found = re.compile(rf"^[ \t]*['\"]?{re.escape(str(name))}['\"]?[ \t]*:", re.M)
            match = found.search(text, cursor)
            position = match.start() if match else -1
        else:
            first = str(group[0]) if isinstance(group, list) and group else "-"
            position = text.find(first, cursor)
        cursor = position + 1 if position >= 0 else cursor
        line = text.count("\n", 0, position) + 1 if position >= 0 else 1
        title = f"group {name}" if named else f"group {number}"
        if named and not (isinstance(name, str) and GROUP_NAME.fullmatch(name)):
            message = f"{name!r} is not a group name: lower-case letters, digits and '-'"
            vocabulary.issues.append(Issue("error", "vocabulary", label, line, message))
            continue
        problem = _group_problem(group)
        if problem:
            vocabulary.issues.append(
                Issue("error", "vocabulary", label, line, f"{title}: {problem}")
            )
            continue
        for term in group:
            key = _key(term)
            if seen.get(key) == number:
                message = f"{term!r} is listed twice (case does not matter)"
                vocabulary.issues.append(
                    Issue("error", "vocabulary", label, line, f"{title}: {message}")
                )
            elif key in seen:
                earlier = items[seen[key] - 1][0] if named else seen[key]
                message = (
                    f"{term!r} is already in group {earlier}; a term belongs to one group only "
                    "(merge the two groups if they mean the same)"
                )
                vocabulary.issues.append(
                    Issue("error", "vocabulary", label, line, f"{title}: {message}")
                )
            seen[key] = number
        vocabulary.groups.append([" ".join(term.split()) for term in group])
        vocabulary.names.append(name)
        vocabulary.lines.append(line)
    return vocabulary


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


def sources(root: Path) -> tuple[str, str | None] | None:
    """The texts of cacop's vocabulary and the KB's (None: there is no KB file), on which
    `check` depends alone; None when either cannot be read."""
    default_text, problems = _read(DEFAULT_PATH, DEFAULT_LABEL)
    own_text, own_problems = _read(root / VOCABULARY_PATH, VOCABULARY_PATH)
    if problems or own_problems or default_text is None:
        return None
    return default_text, own_text


def check(root: Path) -> list[Issue]:
    """What `validate` reports about kb/vocabulary.yaml (and how it merges with the default)."""
    return load(root).issues


# ---------------------------------------------------------------- expanding a query


@dataclass
class Expander:
    """Replaces query terms that a vocabulary group holds with the whole group."""

    lookup: dict[tuple[str, ...], tuple[str, ...]]
    longest: int

    @classmethod
    def for_kb(cls, kb: KB) -> Expander:

        usable, forms = _table(kb.root)
        lookup: dict[tuple[str, ...], tuple[str, ...]] = {}
        for key, number in forms:
            if key:
                lookup.setdefault(tuple(key), tuple(usable[number]))
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
