"""Searching an open, verified index: our query tree compiled to Whoosh, scored, counted."""

from __future__ import annotations

import bisect
import contextlib
import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..query import QUERY_FIELDS, AllOf, AnyOf, Every, Not, Phrase, Range, Ranked, Synonyms, Term
from .analysis import STEMS, TEXT_BOOSTS, load_stems, tokens
from .facets import read_facets
from .locks import read_lock
from .record import STATE_DIR, Untrusted, read_record
from .whoosh_internals import lengths_in_memory, pinned_index, term_scores

# Pseudo-relevance feedback (Searcher._with_feedback): how many top entries, how many words.
FEEDBACK_DOCS = 3
FEEDBACK_TERMS = 10
FEEDBACK_SHARE = 0.25  # the feedback words' best score, as a share of the query's best
FEEDBACK_MAX_DF = 0.05  # words held by more of the entries than this are never used


@dataclass
class RawHit:
    fields: dict[str, Any]
    score: float


class Searcher:
    """An open, verified index under the shared read lock. Use `open_searcher(root)`."""

    def __init__(self, index: Any, folder: Path | None = None, toc: int | None = None) -> None:
        self.index = index
        self.searcher = index.searcher()
        self.reader = self.searcher.reader()
        self.schema = self.searcher.schema
        lengths_in_memory(self.reader)
        self.facets = read_facets(folder, toc) if folder is not None else {}
        self.folder = folder
        # Which index this is, as Record.version: (generation folder, toc).
        self.version = (folder.name, toc) if folder is not None and toc is not None else None
        self.coverage: dict[int, float] = {}  # the last coordinated query: doc -> share held

    def close(self) -> None:
        self.searcher.close()

    # ---- queries

    def compile(self, node: Any) -> Any:
        """Our query tree (query.py's nodes) as a Whoosh query."""
        from whoosh import query as q

        match node:
            case Every():
                return q.Every()
            case AllOf():  # a stop word ("for", "to") compiles to nothing: leave it out
                parts = [self.compile(item) for item in node.items]
                parts = [part for part in parts if part is not q.NullQuery]
                return q.And(parts) if parts else q.NullQuery
            case AnyOf():
                return q.Or([self.compile(item) for item in node.items])
            case Ranked():  # any of the concepts, weighted by the share matched (scores())
                parts = [self.compile(item) for item in node.items]
                parts = [part for part in parts if part is not q.NullQuery]
                return Coordinated(parts) if parts else q.NullQuery
            case Not():
                return q.Not(self.compile(node.item))
            case Synonyms():  # forms that analyse alike (hot spot, hot-spot) count once
                unique = {tuple(tokens(form)): form for form in node.forms}
                parts = [self._text(form, None, phrase=True) for form in unique.values()]
                said = node.said.split()
                if len(said) > 1:  # words typed that happen to be a form also match apart
                    parts.append(q.And([self._text(word, None, phrase=False) for word in said]))
                return q.Or(parts)
            case Term():
                return self._term(node)
            case Phrase():
                return self._text(node.text, node.field, phrase=True)
            case Range():
                name, _ = QUERY_FIELDS[node.field]
                return q.TermRange(name, node.low or None, node.high or None)
        raise ValueError(f"unknown query node {type(node).__name__}")

    def _term(self, node: Any) -> Any:
        from whoosh import query as q

        if node.field is None or QUERY_FIELDS[node.field][1] == "text":
            if node.prefix:
                return self._prefix(node.text, node.field)
            return self._text(node.text, node.field, phrase=False)
        name, kind = QUERY_FIELDS[node.field]
        if kind == "words":
            words = tokens(node.text, stemmed=False)
            if node.prefix and words:
                return q.Prefix(name, words[-1])
            return q.And([q.Term(name, word) for word in words]) if words else q.NullQuery
        value = node.text.lower()
        return q.Prefix(name, value) if node.prefix or kind == "date" else q.Term(name, value)

    def _fields(self, field_name: str | None) -> list[str]:
        if field_name is None or field_name == "text":
            return list(TEXT_BOOSTS)
        return [QUERY_FIELDS[field_name][0]]

    def _text(self, text: str, field_name: str | None, phrase: bool) -> Any:
        from whoosh import query as q

        words = tokens(text)
        if not words:
            return q.NullQuery
        parts = []
        for name in self._fields(field_name):
            if len(words) == 1:
                parts.append(q.Term(name, words[0]))
            elif phrase:
                parts.append(q.Phrase(name, words))
            else:  # one query word the analyser split (co-offending): its parts in order
                parts.append(q.Phrase(name, words))
        return parts[0] if len(parts) == 1 else q.Or(parts)

    def _prefix(self, text: str, field_name: str | None) -> Any:
        from whoosh import query as q

        words = tokens(text, stemmed=False)
        if not words:
            return q.NullQuery
        stem = tokens(words[-1]) or [words[-1]]
        prefixes = {words[-1], stem[0]}
        parts = [q.Prefix(name, p) for name in self._fields(field_name) for p in sorted(prefixes)]
        return q.Or(parts)

    def search(
        self,
        node: Any,
        filters: list[Any],
        limit: int,
        feedback: Callable[[str], str] | None = None,
    ) -> tuple[set[int], list[RawHit]]:
        """(every matching document, the best `limit` of them with their stored fields).

        Every match is scored (see `scores`), so the total and the facets come from the same
        pass. Whoosh's own top-N collector skips blocks by quality: that would need a second
        pass for the total, and on indexes of several segments it dropped the best-scoring
        entries of AND queries.

        `feedback` (path -> the entry's text): pseudo-relevance feedback for a query of
        several concepts, see `_with_feedback`.
        """
        from whoosh import query as q

        query = self.compile(node)
        restriction = q.And([self.compile(item) for item in filters]) if filters else None
        if isinstance(node, Every):  # a listing by filters: newest first
            results = self.searcher.search(
                query, limit=limit, filter=restriction, sortedby="date", reverse=True
            )
            hits = [RawHit(dict(hit.fields()), float(hit.score or 0.0)) for hit in results]
            everything = q.And([query, restriction]) if restriction is not None else query
            return set(self.searcher.docs_for_query(everything)), hits
        self.coverage = {}
        scores = self.scores(query)
        allowed = self.scores(restriction) if restriction is not None else None
        if allowed is not None:
            scores = {doc: score for doc, score in scores.items() if doc in allowed}
        if feedback is not None and scores and type(query) is _LazyCoordinated.made:
            scores = self._with_feedback(query, scores, feedback, allowed)
        # Whoosh's order: the higher score first, then the lower document number.
        best = heapq.nsmallest(limit, scores.items(), key=lambda item: (-item[1], item[0]))
        stored = self.searcher.stored_fields
        return set(scores), [RawHit(dict(stored(doc)), score) for doc, score in best]

    # ---- scoring

    def scores(self, query: Any) -> dict[int, float]:
        """Every live document `query` matches (global number) -> its score, as Whoosh's own
        matchers score it (BM25F; And and Or add their parts' scores, AndNot keeps the left's).

        Whoosh walks compound queries posting by posting through a tree of matchers, several
        Python calls per posting and per level: 100-250 ms of a search at 10,000 entries.
        Here a term's postings are read a block of 128 at a time and scored in one loop, and
        compound queries combine whole sets. Anything else (phrases, prefixes, ranges, Or
        with a coordination bonus) is scored by Whoosh's own matcher for that part alone.
        tests/test_index.py holds the results equal to Whoosh's for every kind of query.
        """
        from whoosh import query as q

        kind = type(query)
        if query is q.NullQuery or kind is q.NullQuery.__class__:
            return {}
        if kind is q.Term:
            scores = term_scores(self, query)
            if scores is not None:
                return scores
        elif kind is q.Phrase:
            scores = self._phrase_scores(query)
            if scores is not None:
                return scores
        elif kind in (q.And, q.Or) and query.boost == 1.0 and not getattr(query, "scale", None):
            parts = [self.scores(sub) for sub in query.subqueries if sub is not q.NullQuery]
            if not parts:
                return {}
            if kind is q.And:
                parts.sort(key=len)
                common = set(parts[0]).intersection(*parts[1:])
                return {doc: sum(part[doc] for part in parts) for doc in common}
            combined: dict[int, float] = {}
            for part in parts:
                for doc, score in part.items():
                    combined[doc] = combined.get(doc, 0.0) + score
            return combined
        elif kind is _LazyCoordinated.made:
            return self._coordinated(query)
        elif kind is q.AndNot and query.boost == 1.0:
            positive = self.scores(query.a)
            negative = self.scores(query.b) if positive else {}
            return {doc: score for doc, score in positive.items() if doc not in negative}
        return self._whoosh_scores(query)

    def _coordinated(self, query: Any) -> dict[int, float]:
        """Any of the concepts (words, phrases, vocabulary groups), each document's summed
        score weighted by the share of the concepts it holds, squared: an entry holding
        every concept comes first unless another holding fewer scores far higher. Each
        concept is scored once (a dict per concept, from the posting blocks), so counting
        the concepts a document holds costs one set lookup per posting, where Whoosh's
        Or(scale) walks a tree of matchers posting by posting."""
        import math

        parts = [self.scores(sub) for sub in query.subqueries]
        documents = self.reader.doc_count() or 1
        combined: dict[int, float] = {}
        held: dict[int, float] = {}
        total = 0.0
        for part in parts:
            weight = math.log(1 + documents / max(1, len(part)))
            total += weight
            for doc, score in part.items():
                combined[doc] = combined.get(doc, 0.0) + score
                held[doc] = held.get(doc, 0) + weight
        self.coverage = {doc: count / total for doc, count in held.items()}
        if len(parts) == 1:
            return combined
        return {doc: score * (held[doc] / total) ** 2 for doc, score in combined.items()}

    def _with_feedback(
        self,
        query: Any,
        scores: dict[int, float],
        text_of: Callable[[str], str],
        allowed: dict[int, float] | None,
    ) -> dict[int, float]:
        """Pseudo-relevance feedback (Bo1, from Amati's divergence from randomness): the
        words that best tell the top FEEDBACK_DOCS entries apart from the whole index,
        weighted, normalised to 1 at the best, searched in the body and added to the
        scores at FEEDBACK_SHARE of the best score. Words held by more than
        FEEDBACK_MAX_DF of the entries are never used, so the added postings stay short
        as the KB grows. An entry that gains only through feedback never passes one that
        holds every concept of the query."""
        import math

        from whoosh import query as q

        coverage = dict(self.coverage)
        ranked = heapq.nsmallest(
            FEEDBACK_DOCS, scores.items(), key=lambda item: (-item[1], item[0])
        )
        counted: Counter[str] = Counter()
        stored = self.searcher.stored_fields
        for doc, _ in ranked:
            counted.update(tokens(text_of(str(stored(doc).get("path", "")))[:100_000]))
        in_query = {text for _, text in query.all_terms(phrases=True)}
        documents = self.reader.doc_count() or 1
        ceiling = max(3, int(documents * FEEDBACK_MAX_DF))
        weights = {}
        for word, frequency in counted.items():
            if word in in_query or len(word) < 3 or word.isdigit():
                continue
            share = self.reader.doc_frequency("body", word)
            if not 2 <= share <= ceiling:
                continue
            mean = self.reader.frequency("body", word) / documents
            weights[word] = frequency * math.log2((1 + mean) / mean) + math.log2(1 + mean)
        best = heapq.nlargest(FEEDBACK_TERMS, weights.items(), key=lambda item: item[1])
        if not best:
            return scores
        top_weight = best[0][1]
        gained = self.scores(q.Or([q.Term("body", w, boost=x / top_weight) for w, x in best]))
        if allowed is not None:
            gained = {doc: score for doc, score in gained.items() if doc in allowed}
        if not gained:
            return scores
        scale = FEEDBACK_SHARE * max(scores.values()) / max(gained.values())
        complete = [score for doc, score in scores.items() if coverage.get(doc) == 1.0]
        floor = min(complete) if complete else math.inf
        result = dict(scores)
        for doc, extra in gained.items():
            base = scores.get(doc, 0.0)
            lifted = base + extra * scale
            if coverage.get(doc) != 1.0 and lifted >= floor:
                lifted = max(base, math.nextafter(floor, 0.0))
            result[doc] = lifted
        return result

    def _whoosh_scores(self, query: Any) -> dict[int, float]:
        """Scores from Whoosh's own matcher, segment by segment, as its collectors run it."""
        scores = {}
        context = self.searcher.context()
        for subsearcher, offset in self.searcher.leaf_searchers():
            matcher = query.matcher(subsearcher, context)
            while matcher.is_active():
                scores[offset + matcher.id()] = matcher.score()
                matcher.next()
        return scores

    def _phrase_scores(self, query: Any) -> dict[int, float] | None:
        """A phrase scored as Whoosh's SpanNear2 matcher scores it: where its words stand one
        after another, the sum of the words' scores. None: Whoosh's matcher scores it.

        Whoosh intersects the words' matchers posting by posting and builds Span objects
        for every position of every candidate (130-150 ms for a common phrase at 10,000
        entries). Here the words' postings are read a block at a time, as for a term, and
        only the documents holding every word have their positions decoded.
        """
        from whoosh import query as q

        name, words = query.fieldname, list(query.words)
        if name not in self.schema:
            return None
        field = self.schema[name]
        if (
            query.slop != 1
            or len(words) < 2
            or not field.format
            or not field.format.supports("positions")
        ):
            return None
        scored, held = {}, {}
        for word in dict.fromkeys(words):  # a repeated word ("gun gun") is read once
            values: dict[int, bytes] = {}
            part = term_scores(self, q.Term(name, word), values)
            if part is None:
                return None
            if not part:
                return {}
            scored[word], held[word] = part, values
        parts = [scored[word] for word in words]  # Whoosh adds a repeated word's score twice
        common = set(min(parts, key=len)).intersection(*parts)
        decode = field.format.decode_positions
        scores = {}
        for doc in common:
            first = decode(held[words[0]][doc])
            later = [set(decode(held[word][doc])) for word in words[1:]]
            if any(all(start + step in at for step, at in enumerate(later, 1)) for start in first):
                score = sum(part[doc] for part in parts)
                scores[doc] = score * query.boost if query.boost != 1.0 else score
        return scores

    def counts(self, docs: set[int], field_name: str) -> dict[str, int]:
        """How many of `docs` hold each value of an exact field (facets)."""
        counted: dict[str, int] | None = None
        if field_name in self.facets:
            combinations, codes = self.facets[field_name]
            counted = {}
            try:
                for code, number in Counter(map(codes.__getitem__, docs)).items():
                    for value in combinations[code]:
                        counted[value] = counted.get(value, 0) + number
            except IndexError:  # a document the table does not cover
                counted = None
        if counted is None:  # no table for this generation: read the postings
            counted = self._counts_from_postings(docs, field_name)
        return dict(sorted(counted.items(), key=lambda item: (-item[1], item[0])))

    def _counts_from_postings(self, docs: set[int], field_name: str) -> dict[str, int]:
        counted = {}
        for raw in self.reader.lexicon(field_name):
            value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            ids = self.reader.postings(field_name, raw).all_ids()
            number = sum(1 for doc in ids if doc in docs)
            if number:
                counted[value] = number
        return counted

    # ---- words

    def known(self, word: str) -> bool:
        """Does any text field hold this word (after analysis)?"""
        words = tokens(word)
        return bool(words) and all(
            any(self.reader.doc_frequency(name, token) for name in TEXT_BOOSTS) for token in words
        )

    def corrections(self, word: str) -> list[str]:
        """Words of any entry's text (the unstemmed `spell` field: titles, tags, summaries and
        bodies) close to `word`: within 1 edit under 7 letters, 2 from 7, the first letter
        fixed; the nearest first, then the most frequent.

        The words are read from the stems remembered beside the index (every word indexed
        has its stem there), and a Levenshtein automaton walks them in memory: Whoosh's own
        walk of the term table seeks the segment files some 50,000 times per word (430 ms
        at 10,000 entries). A word no live entry holds any more is dropped by its count.
        """
        from whoosh.automata.fsa import find_all_matches
        from whoosh.automata.lev import levenshtein_automaton
        from whoosh.support.levenshtein import distance

        word = word.lower()
        if len(word) < 4:
            return []
        maxdist = 1 if len(word) < 7 else 2
        words = self._words_from(word[0])
        if words:

            def at_or_after(text: str) -> str | None:
                at = bisect.bisect_left(words, text)
                return words[at] if at < len(words) else None

            dfa = levenshtein_automaton(word, maxdist, prefix=1).to_dfa()
            found = set(find_all_matches(dfa, at_or_after))
        else:  # no stems file: Whoosh's walk
            found = set()
            for leaf, _ in self.reader.leaf_readers():
                found.update(leaf.terms_within("spell", word, maxdist, prefix=1))
        found.discard(word)
        frequency = self.reader.doc_frequency
        ranked = sorted((distance(word, w), -frequency("spell", w), w) for w in found)
        return [candidate for _, count, candidate in ranked if count < 0][:3]

    def _words_from(self, letter: str) -> list[str]:
        """The indexed words starting with `letter`, sorted (empty if none are remembered)."""
        if self.folder is not None:
            load_stems(self.folder)
        return sorted(known for known in STEMS if known[:1] == letter)

    def key_terms(self, text: str, number: int = 20) -> list[tuple[str, float]]:
        """The words of `text` that best tell it apart in this index (for `similar`)."""
        return [
            (word, weight)
            for word, weight in self.searcher.key_terms_from_text("body", text, numterms=number)
        ]

    def weighted_terms(self, terms: Iterable[tuple[str, float]]) -> Any:
        from whoosh import query as q

        return q.Or(
            [
                q.Term(name, word, boost=weight)
                for word, weight in terms
                for name in ("title", "tags", "summary", "body")
            ]
        )

    def search_compiled(self, query: Any, exclude_path: str | None, limit: int) -> list[RawHit]:
        from whoosh import query as q

        mask = q.Term("path", exclude_path) if exclude_path else None
        results = self.searcher.search(query, limit=limit, mask=mask)
        return [RawHit(dict(hit.fields()), float(hit.score or 0.0)) for hit in results]

    def stored_all(self) -> list[dict[str, Any]]:
        """Every document's stored fields, sorted by path (to compare two indexes)."""
        return sorted(
            (dict(fields) for _, fields in self.reader.iter_docs()), key=lambda d: d["path"]
        )

    def lexicon(self, field_name: str) -> list[str]:
        """Words of a field that some live document holds (deleted ones linger until a merge)."""
        return [
            raw.decode("utf-8") if isinstance(raw, bytes) else raw
            for raw in self.reader.lexicon(field_name)
            if any(True for _ in self.reader.postings(field_name, raw).all_ids())
        ]


def _coordinated_class() -> type:
    from whoosh import query as q

    class Coordinated(q.Or):
        """Our Ranked node: scored by Searcher._coordinated, never by Whoosh's matchers."""

    return Coordinated


class _LazyCoordinated:
    """The Coordinated query class, made on first use (it needs Whoosh: lazy imports)."""

    made: type | None = None

    def __call__(self, parts: list[Any]) -> Any:
        if _LazyCoordinated.made is None:
            _LazyCoordinated.made = _coordinated_class()
        return _LazyCoordinated.made(parts)


Coordinated = _LazyCoordinated()


@contextlib.contextmanager
def open_searcher(root: Path, wait: float | None = None) -> Iterator[Searcher]:
    """The live index, verified, under the shared lock; raises Untrusted if it may not be used."""
    with read_lock(root, wait):
        record = read_record(root)
        try:
            index = pinned_index(root / STATE_DIR / record.generation, record.toc, readonly=True)
            searcher = Searcher(index, root / STATE_DIR / record.generation, record.toc)
        except Exception as exc:  # a damaged file; Whoosh raises many kinds
            raise Untrusted(f"it could not be opened ({type(exc).__name__})") from exc
        try:
            yield searcher
        finally:
            searcher.close()
