"""The index's schema and text analysis: what Whoosh holds and how text becomes tokens.

The analyser fuses Whoosh's tokenizer | lowercase | stop | stem chain into one loop
(`fast_stemming_class`), and every Porter2 stem met is remembered (STEMS), beside
the index too, for the next writer. FORMAT, the schema and the analysis together
make `schema_digest`, part of the signed record's identity: change any of them and
older indexes are rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import json
import marshal
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import __version__

FORMAT = 11  # bump when the schema, the analysis, the cards or how their columns are made
# (columns.py, models.list_line) change: older indexes are rebuilt (an update keeps rows)
# 7: the listing part (cards.listing), and bodies in shards (cards.shard_of), not one
# bodies.marshal; 8: the part for outputs for others (cards.OTHERS); 9: the listing's
# columns kept apart (columns.Columns); 10: the same for the part for outputs for others;
# 11: parts of columns as a table of lengths and pieces, each read into its own bytes
# (columns.columns_part), ids and titles not interned (cards.OWN_TEXTS)
INDEX_NAME = "MAIN"

# Text fields searched by default, and how much a match in each counts (BM25F field weights).
# Attachments' text counts least: it is long, and often a form or a table, not the point.
TEXT_BOOSTS = {"title": 3.0, "tags": 2.0, "summary": 1.5, "body": 1.0, "attachments": 0.5}
# A case number like 24-013377 or 2024/013 stays one token; other words split on punctuation.
TOKEN_PATTERN = r"\d+(?:[-/.]\d+)+|\w+(?:\.?\w+)*"

STORED = ("path", "id", "type", "title", "site", "tlp", "created", "updated", "topic")
# The kind of each field of schema() (a test keeps the two equal). The record's identity is
# made from this table, so the freshness check need not import Whoosh's fields and analysis.
FIELD_KINDS = {
    "attachments": "TEXT", "author": "TEXT", "body": "TEXT", "created": "ID", "date": "ID",
    "evidence": "ID", "id": "ID", "needed_by": "ID", "path": "ID", "priority": "ID",
    "product_type": "ID",
    "rfi": "ID", "site": "ID", "spell": "TEXT", "status": "ID", "summary": "TEXT",
    "tag": "KEYWORD", "tags": "TEXT", "title": "TEXT", "tlp": "ID", "to": "KEYWORD",
    "topic": "KEYWORD", "type": "ID", "updated": "ID",
}  # fmt: skip


@functools.cache
def defer_unused_whoosh_modules() -> None:
    """Let Whoosh load two modules it imports, that cacop never uses, only when first used.

    whoosh.searching imports whoosh.highlight (Results builds a highlighter, and our own
    searches build no Results), and whoosh.query imports whoosh.lang.morph_en, which
    compiles some 50 regular expressions of English word forms for a query type we never
    build. importlib's LazyLoader loads a module at its first attribute access (the
    package attribute is set too, or `from whoosh import highlight` would touch it);
    morph_en is imported as `from ... import variations`, so it gets a stand-in whose
    `variations` loads the real module.
    """
    import importlib.util
    import sys
    import types

    import whoosh

    name = "whoosh.highlight"
    spec = importlib.util.find_spec(name)
    if name not in sys.modules and spec is not None and spec.loader is not None:
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        whoosh.highlight = module  # type: ignore[attr-defined]
        spec.loader.exec_module(module)
    name = "whoosh.lang.morph_en"
    if name not in sys.modules:
        stand_in = types.ModuleType(name)

        def variations(word: str) -> Any:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            return importlib.import_module(name).variations(word)

        stand_in.variations = variations  # type: ignore[attr-defined]
        sys.modules[name] = stand_in


def _analyzers() -> tuple[Any, Any]:
    """(stemming analyser for ranked text, plain analyser for spelling and names)."""
    defer_unused_whoosh_modules()
    from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
    from whoosh.lang.porter2 import stem

    plain = RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter()
    # minsize=1 keeps one-character words and tags (Whoosh's default drops them). Porter2
    # (Snowball English) rather than Whoosh's default Porter: "deduplicating" and
    # "deduplicate" share a stem only in Porter2.
    chain = plain | StopFilter(minsize=1) | StemFilter(stemfn=stem, cachesize=100_000)
    fused = fast_stemming_class()
    return fused(*chain.items), plain


@functools.cache
def fast_stemming_class() -> type:
    """Whoosh's tokenizer | lowercase | stop | stem chain run as one loop (the same tokens).

    Each stage of a Whoosh chain is a generator handing one shared Token along: four
    Python frames per word. Fused, analysing a 900-word body takes about a third of the
    time, and analysis is most of a build's work. Rare calls (character offsets, the
    original text, no tokenising) take the chain itself. A test compares the two.
    """
    from whoosh.analysis.acore import Token
    from whoosh.analysis.analyzers import CompositeAnalyzer

    from .whoosh_internals import cached_stem

    class FastStemming(CompositeAnalyzer):
        def __call__(  # type: ignore[override]
            self,
            value: str,
            positions: bool = False,
            chars: bool = False,
            keeporiginal: bool = False,
            removestops: bool = True,
            start_pos: int = 0,
            start_char: int = 0,
            tokenize: bool = True,
            mode: str = "",
            no_morph: bool = False,
            **kwargs: Any,
        ) -> Iterator[Any]:
            if chars or keeporiginal or not tokenize or start_char:
                return CompositeAnalyzer.__call__(
                    self, value, no_morph=no_morph, positions=positions, chars=chars,
                    keeporiginal=keeporiginal, removestops=removestops, start_pos=start_pos,
                    start_char=start_char, tokenize=tokenize, mode=mode, **kwargs,
                )  # fmt: skip
            assert isinstance(value, str), f"{value!r} is not unicode"
            token = Token(positions, False, removestops=removestops, mode=mode, **kwargs)
            return self._fused(value, token, positions, removestops, start_pos, no_morph)

        def _fused(
            self,
            value: str,
            token: Any,
            positions: bool,
            removestops: bool,
            start_pos: int,
            no_morph: bool,
        ) -> Iterator[Any]:
            tokenizer, _, stopper, stemmer = self.items
            stops, shortest, longest = stopper.stops, stopper.min, stopper.max
            stem = None if no_morph else cached_stem(stemmer)
            stems = STEMS if stemmer.stemfn is _porter2() else None
            unstemmed = stemmer.ignore
            renumber = stopper.renumber and positions  # words after a stop word close up
            kept = None  # position of the last word kept, when renumbering
            for position, match in enumerate(tokenizer.expression.finditer(value), start_pos):
                text = match.group(0).lower()
                if (
                    len(text) >= shortest
                    and (longest is None or len(text) <= longest)
                    and text not in stops
                ):
                    token.stopped = False
                    if stem is not None and text not in unstemmed:
                        if stems is None:
                            text = stem(text)
                        else:  # a dict lookup; Porter2 only for a word never met
                            stemmed = stems.get(text)
                            if stemmed is None:
                                stemmed = stems[text] = stem(text)
                            text = stemmed
                    if renumber:
                        position = kept = position if kept is None else kept + 1
                elif removestops:
                    continue
                else:
                    token.stopped = True
                token.text = text
                token.boost = 1.0
                if positions:
                    token.pos = position
                yield token

    # Whoosh pickles the analyser into its TOC: pickle finds the class as
    # cacop_cli.index.FastStemming (the package's __getattr__), where indexes written
    # before index/ became a package also name it.
    FastStemming.__module__ = "cacop_cli.index"
    FastStemming.__qualname__ = FastStemming.__name__ = "FastStemming"
    return FastStemming


# Every word's Porter2 stem met so far: stemming a word takes ~17 us in Python, and the
# distinct words of 10 changed entries (~2,700) took 40-80 ms of a refresh to stem afresh.
# Remembered beside the index (STEMS_FILE) for the next writer.
STEMS: dict[str, str] = {}
STEMS_FILE = "stems.marshal"


def _porter2() -> Any:
    from whoosh.lang.porter2 import stem

    return stem


def load_stems(folder: Path) -> int:
    """Add the stems remembered in a verified generation folder; how many STEMS then holds."""
    try:
        remembered = marshal.loads((folder / STEMS_FILE).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return len(STEMS)
    if isinstance(remembered, dict):
        STEMS.update(remembered)
    return len(STEMS)


def save_stems(folder: Path, reader: Any | None = None) -> None:
    """Remember STEMS in `folder`; with a reader, first stem every word the index holds
    (its unstemmed `spell` words: after a rebuild, whose stemming ran in other processes)."""
    if reader is not None:
        stem = _porter2()
        for raw in reader.lexicon("spell"):
            word = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if word not in STEMS:
                STEMS[word] = stem(word)
    (folder / STEMS_FILE).write_bytes(marshal.dumps(STEMS))


_ANALYZERS: tuple[Any, Any] | None = None


def analyzers() -> tuple[Any, Any]:
    global _ANALYZERS
    if _ANALYZERS is None:
        _ANALYZERS = _analyzers()
    return _ANALYZERS


def schema() -> Any:
    from whoosh.fields import ID, KEYWORD, TEXT, Schema

    stemming, plain = analyzers()
    return Schema(
        path=ID(stored=True, unique=True),
        id=ID(stored=True),
        type=ID(stored=True),
        site=ID(stored=True),
        status=ID,
        tlp=ID(stored=True),  # every search hit shows its TLP
        evidence=ID,
        product_type=ID,
        priority=ID,
        rfi=ID,
        to=KEYWORD(commas=True, lowercase=True),
        created=ID(stored=True),
        updated=ID(stored=True),
        needed_by=ID,
        date=ID,
        topic=KEYWORD(stored=True, commas=True, lowercase=True),
        tag=KEYWORD(commas=True, lowercase=True),
        author=TEXT(analyzer=plain, phrase=True),
        title=TEXT(analyzer=stemming, stored=True, field_boost=TEXT_BOOSTS["title"]),
        tags=TEXT(analyzer=stemming, field_boost=TEXT_BOOSTS["tags"]),
        summary=TEXT(analyzer=stemming, field_boost=TEXT_BOOSTS["summary"]),
        body=TEXT(analyzer=stemming, field_boost=TEXT_BOOSTS["body"]),
        attachments=TEXT(analyzer=stemming, field_boost=TEXT_BOOSTS["attachments"]),
        spell=TEXT(analyzer=plain, phrase=False),  # unstemmed words for typo correction
    )


@functools.cache
def schema_digest() -> str:
    """Identifies everything that decides how the index reads: ours, Whoosh's, the schema."""
    import whoosh  # the package alone: its version, no submodule

    described = json.dumps(
        {
            "format": FORMAT,
            "cacop": __version__,
            "whoosh": whoosh.versionstring(),
            "token": TOKEN_PATTERN,
            "stemmer": "porter2",
            "boosts": TEXT_BOOSTS,
            "fields": FIELD_KINDS,
        },
        sort_keys=True,
    )
    return hashlib.sha256(described.encode()).hexdigest()[:32]


def spelling_words(*texts: str) -> str:
    """The `spell` field's value: each distinct word of the entry's text once, unstemmed
    (typos are corrected against every word an entry holds, body included).

    Listing each word once keeps the field small: its postings are one per word and entry,
    and the plain analyser reads some 400 distinct words instead of a body's 900-1,500.
    """
    distinct = dict.fromkeys(_WORD.findall(" ".join(texts).lower()))  # in C, in first order
    return " ".join(word for word in distinct if len(word) <= MAX_SPELL_CHARS)


MAX_SPELL_CHARS = 40  # longer runs are not words anyone misspells in a query
_WORD = re.compile(TOKEN_PATTERN)


def tokens(text: str, stemmed: bool = True) -> list[str]:
    """The index's own tokens for some text (what a query word becomes)."""
    stemming, plain = analyzers()
    analyzer = stemming if stemmed else plain
    return [token.text for token in analyzer(text)]
