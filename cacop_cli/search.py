"""Search: typo correction, filters, results, similar entries, keeping the index fresh.

A query is parsed and checked by `query` (the language), its words widened by the
field's vocabulary (`vocabulary.Expander`), and run by `index.Searcher`. Whoosh
itself is only ever imported by `index`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .config import KB
from .entries import split_frontmatter
from .errors import CacopError, EntryError, NotFound, QueryError, UsageError
from .models import CONTROL, Hit, Issue
from .query import (
    CHOICES,
    DEFAULT_MODE,
    Every,
    Range,
    Term,
    apply_mode,
    highlight_words,
    parse,
    plain_words,
)
from .vocabulary import Expander

SNIPPET_CHARS = 220
DEFAULT_LIMIT = 10
FEW_HITS = 1  # at most this many hits: try correcting the query's spelling
# In a query of three or more bare words, these carry no concept: question words and
# common English words the index's own stop list (analysis.py) keeps. Dropped after the
# vocabulary has matched its groups (so "plate reader" or "calls for service" still
# match), never inside quotes. See docs/architecture.md, "Ranking".
QUESTION_WORDS = frozenset({
    "how", "what", "which", "who", "whom", "whose", "why", "where", "when", "whether", "does",
    "do", "did", "done", "doing", "has", "have", "had", "having", "should", "would", "could",
    "can", "cannot", "might", "must", "shall", "will", "was", "were", "been", "being", "am", "is",
    "are", "anyone", "anybody", "someone", "somebody", "any", "some", "other", "others",
    "another", "our", "ours", "we", "us", "i", "me", "my", "you", "your", "they", "them", "their",
    "there", "here", "about", "into", "out", "over", "under", "again", "then", "than", "so",
    "such", "very", "just", "also", "only", "own", "same", "too", "more", "most", "much", "many",
    "few", "each", "every", "all", "both", "keep", "keeps", "get", "gets", "got", "make", "makes",
    "made", "use", "used", "using", "way", "ways", "work", "works", "need", "needs", "know",
    "tell", "find", "help", "best", "good", "really", "actually", "these", "those", "this",
    "that", "it", "its",
})  # fmt: skip
BARE_WORDS_FOR_STOPS = 3

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
    report = index.refresh(kb.root, lambda rel: index.document_for(kb, rel), progress)
    if report.merge_due:  # small segments have gathered: merge them, but not in our time
        index.merge_in_background(kb.root)
    return _stats(report, started)


def rebuild(kb: KB, progress: Progress | None = None, reason: str | None = None) -> RefreshStats:
    """Build the index from nothing, beside the live one; switch only when complete."""
    from . import index

    started = time.perf_counter()
    report = index.rebuild(
        kb.root, lambda rel: index.document_for(kb, rel), progress, reason=reason
    )
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


def _on_checked(kb: KB, work: Callable[[Any], Any], checked: Any) -> tuple[Any, Any] | None:
    """(stats, work(searcher)) with no freshness check of its own, on the live index (read lock
    held) if it is the version `checked` (load_catalog's, this process) found fresh; else None."""
    if checked is None or checked.unchanged is None:
        return None
    from . import index

    try:
        with index.open_searcher(kb.root) as searcher:
            same = searcher.version == checked.unchanged  # the check's notices: said already
            return (replace(checked, notices=[]), work(searcher)) if same else None
    except CacopError:  # the query's own, or the lock busy: as the usual path says
        raise
    except Exception:  # noqa: BLE001 - untrusted or damaged: the usual path rebuilds it
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
    plain = " ".join(CONTROL.sub(" ", _MARKUP.sub(lambda m: m.group(1) or " ", text)).split())
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


def _words_found(regex: re.Pattern[str], text: str) -> int:
    return len({match.group().lower() for match in regex.finditer(text[:200_000])})


def _in_attachment(kb: KB, rel: str, pattern: str, beat: int) -> tuple[dict[str, str], str] | None:
    """({"file", "where"}, snippet) of the attachment part holding most of the query's words,
    if it holds more than `beat` (extracted text comes from the cache in .cacop/extract/)."""
    from .entries import read_entry
    from .index import attachment_parts

    try:
        entry = read_entry(kb.root / rel, kb.root, kb.limits)
    except EntryError:
        return None
    regex = re.compile(pattern)
    best: tuple[int, str, Any] | None = None
    for name, part in attachment_parts(kb, rel, entry.meta.get("attachments")):
        found = _words_found(regex, part.text)
        if found > (best[0] if best else beat):
            best = (found, name, part)
    if best is None:
        return None
    _, name, part = best
    where = part.location
    first = regex.search(part.text)
    if part.labels and first is not None:  # the cell (or place) where the first word stands
        for mark, label in zip(part.marks, part.labels, strict=False):
            if mark > first.start():
                break
            where = label
    snippet = make_snippet(part.text, pattern)
    return {"file": name, "where": where}, CONTROL.sub(" ", snippet)


def _hit(kb: KB, raw: Any, pattern: str | None, text_of: Callable[[str], str] | None = None) -> Hit:
    fields = raw.fields
    topics = [topic for topic in str(fields.get("topic", "")).split(",") if topic]
    rel = str(fields.get("path", ""))
    text = text_of(rel) if text_of is not None else _file_text(kb, rel)
    snippet = make_snippet(text, pattern)
    matched_in = None
    # Found only in an attachment: the entry's own text holds none of the words. (Asking for
    # "every word" sent nearly every hit there, since the pattern holds each word's synonyms
    # too, and reading an entry and its extracted parts cost ~4 ms a hit.)
    own_text = f"{fields.get('title', '')}\n{text}"
    if (
        pattern
        and fields.get("type") == "work-product"
        and not _words_found(re.compile(pattern), own_text)
    ):
        found = _in_attachment(kb, rel, pattern, 0)
        if found is not None:
            matched_in, snippet = found
    return Hit(
        id=str(fields.get("id", "")),
        type=str(fields.get("type", "")),
        title=str(fields.get("title", "")),
        site=str(fields.get("site", "")),
        tlp=str(fields.get("tlp", "")),
        path=str(fields.get("path", "")),
        score=round(raw.score, 4),
        snippet=snippet,
        created=str(fields.get("updated") or fields.get("created") or ""),
        dated="updated" if fields.get("updated") else "created",
        topics=topics,
        matched_in=matched_in,
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


@dataclass(frozen=True)
class Ranking:
    """What ranking uses beyond BM25F (scripts/relevance.py switches each off to measure it)."""

    vocabulary: bool = True
    coordination: bool = True
    feedback: bool = False  # measured no gain on tests/relevance: see docs/architecture.md


def _search_once(
    searcher: Any,
    tree: Any,
    filters: list[Any],
    limit: int,
    mode: str,
    ranking: Ranking = Ranking(),
    text_of: Callable[[str], str] | None = None,
) -> tuple[int, list[Any], set[int]]:
    """(how many entries match, the best `limit` of them, every matching document).

    Words side by side are ORed and ranked by the share of the query's concepts each
    entry holds (Searcher's coordination); "strict" keeps them all required."""
    node = apply_mode(tree, "strict" if mode == "strict" else "any")
    if not ranking.coordination:
        node = _plain_or(node)
    feedback = text_of if ranking.feedback and mode != "strict" else None
    docs, raw = searcher.search(node, filters, limit, feedback=feedback)
    return len(docs), raw, docs


def _plain_or(node: Any) -> Any:
    """Ranked (coordinated) groups as plain OR: summed BM25F, no share of concepts."""
    from .query import GROUPS, AnyOf, Not, Ranked

    if isinstance(node, Not):
        return Not(_plain_or(node.item))
    if not isinstance(node, GROUPS):
        return node
    items = tuple(_plain_or(item) for item in node.items)
    return AnyOf(items) if isinstance(node, Ranked) else type(node)(items)


def drop_question_words(node: Any) -> Any:
    """The tree without question and stop words among three or more bare words side by
    side (after vocabulary expansion; phrases, fields, prefixes and groups stay)."""
    from .query import GROUPS, Implicit, Not

    if isinstance(node, Not):
        return Not(drop_question_words(node.item))
    if not isinstance(node, GROUPS):
        return node
    items = [drop_question_words(item) for item in node.items]
    if isinstance(node, Implicit):
        bare = [item for item in items if _bare(item)]
        if len(bare) >= BARE_WORDS_FOR_STOPS:
            kept = [
                item for item in items if not (_bare(item) and item.text.lower() in QUESTION_WORDS)
            ]
            items = kept or items
    return type(node)(tuple(items)) if len(items) > 1 else items[0]


def _bare(item: Any) -> bool:
    return isinstance(item, Term) and item.field is None and not item.prefix


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
    ranking: Ranking = Ranking(),
    snippets: bool = True,
    checked: RefreshStats | None = None,
) -> SearchResult:
    """Ranked search of the KB; refreshes the index first. Raises QueryError for bad queries.
    Without `snippets` no entry file is read (`experts`); `checked`: see `_on_checked`."""
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
    expander = Expander.for_kb(kb) if ranking.vocabulary else Expander({}, 0)
    expanded = drop_question_words(expander.expand(tree))

    texts: dict[str, str] = {}

    def text_of(rel: str) -> str:  # read once per search: ranking, correction and snippets
        if rel not in texts:
            texts[rel] = _file_text(kb, rel)
        return texts[rel]

    def work(searcher: Any) -> SearchResult:
        total, raw, docs = _search_once(searcher, expanded, filters, limit, mode, ranking, text_of)
        searched = expanded
        result = SearchResult(query=query, total=total, hits=[])
        # Few hits, or a word no entry holds (words are ORed: the others still find some)
        asked = drop_question_words(tree)
        unknown = any(_unknown(searcher, word) for word in plain_words(asked))
        if total <= FEW_HITS or unknown:
            corrected = _correction(searcher, query, asked)
            if corrected:
                better_tree = drop_question_words(expander.expand(parse(corrected)))
                better = _search_once(searcher, better_tree, filters, limit, mode, ranking, text_of)
                if (total == 0 or unknown) and better[0]:
                    total, raw, docs = better
                    searched = better_tree
                    result.corrected = corrected
                elif better[0] > total:
                    result.suggestion = f"did you mean: {corrected}"
        if total == 0 and not result.suggestion:
            result.suggestion = _no_hits_advice(tree, filters)
        pattern = highlight_pattern(highlight_words(searched))
        result.total, result.highlight = total, pattern
        if snippets:
            result.hits = [_hit(kb, item, pattern, text_of) for item in raw]
        else:
            result.hits = [_hit(kb, item, None, lambda rel: "") for item in raw]
        if facets and total:
            result.facets = {
                name: searcher.counts(docs, name) for name in ("type", "site", "topic")
            }
        return result

    stats, result = _on_checked(kb, work, checked) or _with_searcher(kb, work, progress)
    result.notices = stats.notices + result.notices
    result.broken, result.refresh = stats.broken, stats
    return result


def _correction(searcher: Any, query: str, tree: Any) -> str | None:
    """The query with each word the index does not know replaced by its closest known word."""
    replacements = {}
    for word in plain_words(tree):
        if _unknown(searcher, word):
            options = searcher.corrections(word)
            if options:
                replacements[word.lower()] = options[0]
    return _corrected_query(query, replacements) if replacements else None


def _unknown(searcher: Any, word: str) -> bool:
    """A word the index holds nowhere (a stop word, which it never holds, is not unknown)."""
    from .index import tokens

    return bool(tokens(word)) and not searcher.known(word)


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
    from .index import document_for
    from .ops import locate, resolve_id

    entry_id = resolve_id(kb, entry_id)
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
