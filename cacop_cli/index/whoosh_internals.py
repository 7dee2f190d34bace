"""Every line of cacop that reads Whoosh's private attributes, and why.

Why it exists. Whoosh's public search path runs a tree of matcher objects posting by
posting, several Python calls per posting and per level, and reads a document's field
length from disk for each score. At 10,000 entries that is most of a search. The fast
paths here read Whoosh's own data structures directly instead:

- `term_scores`: a term's postings read a block of 128 at a time (the matcher's
  `_ids`, `_weights`, `_values`, `_next_block`) and scored with Whoosh's own BM25F
  formula (its `_field_B`) in one loop. Measured: one word at 10k entries 102 -> 15 ms
  of query time, two words 173 -> 38 ms (commit 1eae476); a common phrase, whose word
  postings come from here, 130-150 -> 48-51 ms (commit 1378ad9).
- `lengths_in_memory`: the text fields' length columns read once per segment (the
  per-document reader's `_perdoc`, `_readers`, `_cached_reader` and the column's
  `_dbfile`, `_basepos`, ...) instead of a seek and read per scored document: a
  one-word search in-process 546 -> 315 ms at 10k entries (commit 0f5f4a9).
- `pinned_index`: opens exactly the generation the signed record names (overrides
  `FileIndex._read_toc`), never "the newest TOC in the folder"; `latest_toc` and
  `segments` read `TOC._latest_generation` and `FileIndex._segments`.
- `cached_stem`: the StemFilter's own cached stem function (`_stem`), for the fused
  analyser in analysis.py.

What holds it equal. tests/test_index.py::
test_our_scoring_equals_whooshs_own_matchers_for_every_kind_of_query compares, on a
multi-segment index with deletions, every document's score from `Searcher.scores` with
Whoosh's own searcher (rel 1e-9) for terms, phrases, prefixes, ranges, AND/OR/NOT
and fields; test_lengths_read_once_score_exactly_as_whoosh_reads_them compares a
searcher with the lengths in memory with Whoosh's plain one, hit by hit. The two
scoring paths fall back to Whoosh's own code (None, or the reader left as it is) when
Whoosh's layout is not what they expect, so a Whoosh upgrade costs speed, not answers;
pinned_index, latest_toc and segments have no fallback, and every index test uses them.

Nothing else in cacop touches a Whoosh private; tests/test_architecture.py::
test_only_whoosh_internals_reads_whooshs_private_attributes holds it so in index/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .analysis import INDEX_NAME, TEXT_BOOSTS, defer_unused_whoosh_modules, schema


class _HeldByCacop:
    """Whoosh's own write lock, as a lock that is always free: every Whoosh writer runs under
    cacop's write lock (index.locks), so a second lock only added Whoosh's platform code
    (fcntl, or msvcrt on Windows) for nothing."""

    def acquire(self, blocking: bool = False) -> bool:
        return True

    def release(self) -> None:
        return None


def storage(folder: Path, readonly: bool = False, own_temp: bool = False) -> Any:
    """Whoosh's FileStorage for `folder`: without mmap (see docs/architecture.md) and with
    its locks left to cacop's. `own_temp`: each process's writer has a temporary folder
    (its column files, and where postings spill) of its own, not "MAIN.tmp": writers in
    several processes at once in one folder (a build's parts) would otherwise share it,
    and the first to finish would remove it under the others. One process runs one writer
    at a time."""
    import os

    from whoosh.filedb.filestore import FileStorage

    class Storage(FileStorage):
        def lock(self, name: str) -> _HeldByCacop:
            return _HeldByCacop()

        def temp_storage(self, name: str | None = None) -> Any:
            return super().temp_storage(f"{os.getpid()}-{name}" if own_temp and name else name)

    return Storage(str(folder), supports_mmap=False, readonly=readonly)


def pinned_index(folder: Path, toc: int, readonly: bool) -> Any:
    """The Whoosh index in `folder` at exactly generation `toc` (never the newest on disk)."""
    defer_unused_whoosh_modules()
    from whoosh.index import TOC, FileIndex

    class PinnedIndex(FileIndex):
        def __init__(self, storage: Any, fields: Any) -> None:  # no probing of the folder
            self.storage = storage
            self._schema = fields
            self.indexname = INDEX_NAME

        def _read_toc(self) -> Any:
            return TOC.read(self.storage, self.indexname, gen=toc, schema=self._schema)

        def latest_generation(self) -> int:
            return toc

    return PinnedIndex(storage(folder, readonly), schema())


def latest_toc(folder: Path) -> int:
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import TOC

    return TOC._latest_generation(FileStorage(str(folder), readonly=True), INDEX_NAME)


def segments(index: Any) -> list[Any]:
    """The segments of a Whoosh index (FileIndex keeps the list private)."""
    return index._segments()


def cached_stem(stemmer: Any) -> Any:
    """A StemFilter's stem function, wrapped in the filter's own cache."""
    return stemmer._stem


def term_scores(
    searcher: Any, query: Any, values: dict[int, bytes] | None = None
) -> dict[int, float] | None:
    """One term's BM25F scores in `searcher` (an index.Searcher) from its postings, a block
    at a time; None when this index is not laid out as expected (then Whoosh's matcher
    scores it). `values`, when given, receives each scored document's posting value (its
    positions, for phrases)."""
    from whoosh.scoring import BM25F
    from whoosh.util.numeric import byte_to_length

    try:
        from whoosh.codec.whoosh3 import _lenfield
    except ImportError:
        return None

    name, weighting = query.fieldname, searcher.searcher.weighting
    if name not in searcher.schema or type(weighting) is not BM25F:
        return None
    try:
        raw = searcher.schema[name].to_bytes(query.text)
    except ValueError:
        return {}
    if (name, raw) not in searcher.reader:
        return {}
    if not searcher.schema[name].scorable:
        return None
    idf = searcher.searcher.idf(name, raw)
    avgfl = searcher.searcher.avg_field_length(name) or 1
    big_b = weighting._field_B.get(name, weighting.B)
    k1 = weighting.K1
    boost = query.boost
    # Whoosh's bm25() term by term, its length part computed once per length byte
    norms = [k1 * ((1 - big_b) + big_b * byte_to_length(b) / avgfl) for b in range(256)]
    k1_plus = k1 + 1
    scores: dict[int, float] = {}
    try:
        for leaf, offset in searcher.reader.leaf_readers():
            if (name, raw) not in leaf:
                continue
            lengths = leaf._perdoc._readers.get(_lenfield(name))
            if not isinstance(lengths, _Lengths):
                return None
            data = lengths.data
            deleted = leaf.deleted_docs_set if leaf.has_deletions() else ()
            matcher = leaf.postings(name, raw)
            matcher = getattr(matcher, "child", matcher)
            while matcher.is_active():
                if matcher._ids is None:
                    matcher._read_ids()
                if matcher._weights is None:
                    matcher._read_weights()
                if values is not None:
                    if matcher._values is None:
                        matcher._read_values()
                    values.update(
                        (offset + doc, value)
                        for doc, value in zip(matcher._ids, matcher._values, strict=True)
                    )
                for doc, tf in zip(matcher._ids, matcher._weights, strict=True):
                    if doc in deleted:
                        continue
                    score = idf * ((tf * k1_plus) / (tf + norms[data[doc]]))
                    scores[offset + doc] = score * boost if boost != 1.0 else score
                matcher._next_block()
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return scores


class _Lengths:
    """A field's length column read once: BM25F asks for every scored document's length,
    and without mmap Whoosh's column reader does a seek and read for each (a third of a
    one-word search at 10k entries). One byte per document: 10 kB per field at 10k."""

    def __init__(self, data: bytes, default: int) -> None:
        self.data, self.default = data, default

    def __getitem__(self, docnum: int) -> int:
        return self.data[docnum] if docnum < len(self.data) else self.default


def lengths_in_memory(reader: Any) -> None:
    """Load the text fields' length columns of each segment (whoosh3's own layout; on any
    other layout, or a change of it, searching simply goes on with Whoosh's reader)."""
    try:
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield

        for leaf, _ in reader.leaf_readers():
            perdoc = leaf._perdoc
            for name in TEXT_BOOSTS:
                column = perdoc._cached_reader(_lenfield(name), LENGTHS_COLUMN)
                if column is not None and column._fixedlen == 1 and not column._reverse:
                    data = column._dbfile.get(column._basepos, column._count)
                    perdoc._readers[_lenfield(name)] = _Lengths(data, column._default)
    except (ImportError, AttributeError, TypeError):
        pass


def finish_segment(writer: Any) -> Any | None:
    """Write out the new segment of a writer without committing a table of contents, as
    Whoosh's multi-process writer has its sub-writers do (`_finalize_segment`), with the
    field lengths read once (`_LengthsOnce`) instead of a seek and read per posting (a
    fifth of writing the postings). The segment, or None if no document was added."""
    if not writer._added:
        writer._close_segment()
        writer._finish()
        return None
    writer.perdocwriter.close()
    lengths = writer.per_document_reader() if writer.codec.length_stats else None
    postings = writer.pool.iter_postings()
    writer.fieldwriter.add_postings(writer.schema, lengths and _LengthsOnce(lengths), postings)
    writer.fieldwriter.close()
    if lengths:
        lengths.close()
    writer._close_segment()
    writer._assemble_segment()
    segment = writer.get_segment()
    writer._finish()
    return segment


def commit_segments(index: Any, written: list[Any]) -> None:
    """Make `written` (segments of `index` from finish_segment) its next generation, as they
    are: no merge (Whoosh's multi-process writer with multisegment=True does the same)."""
    writer = index.writer()
    writer._close_segment()  # its own new segment, empty: never listed
    writer._commit_toc(written)
    writer._finish()


class _LengthsOnce:
    """A per-document reader's field lengths, each field's column read into memory once."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def doc_field_length_reader(self, name: str, default: int = 0) -> Any:
        from whoosh.util.numeric import byte_to_length

        try:
            from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield

            column = self.reader._cached_reader(_lenfield(name), LENGTHS_COLUMN)
            if column is None or column._fixedlen != 1 or column._reverse:
                raise TypeError(name)
            data = column._dbfile.get(column._basepos, column._count)
            missing = column._default
        except (ImportError, AttributeError, TypeError):
            return self.reader.doc_field_length_reader(name, default)
        # as Whoosh's own reader: a zero byte gives None
        table = [None, *(byte_to_length(byte) for byte in range(1, 256))]
        size = len(data)

        def length(docnum: int) -> int | None:
            return table[data[docnum] if docnum < size else missing]

        return length


def part_writer(index: Any) -> Any:
    """A writer for one part of a build (index.parts): Whoosh's own, with a leaner posting
    pool (`_PostingsByTerm`): at 1,000 entries its add and write 10.4-11.3 -> 9.4-9.9 s CPU.
    Nothing spills to run files: a part is kept small enough to fit in memory instead."""
    writer = index.writer()
    writer.pool = _PostingsByTerm(writer.pool)
    return writer


class _PostingsByTerm:
    """Whoosh's posting pool (add, iter_postings, cleanup, fieldnames) without its work per
    posting: `add` is the list's own append (Whoosh's estimates each posting's size, in
    Python), and the postings are put in order by two stable sorts on one C key each
    (term, then field) instead of one sort comparing tuples. A writer numbers its documents
    in order, so a term's postings stay in document order: the same order as Whoosh's."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.fieldnames = pool.fieldnames
        self.postings: list[tuple[Any, ...]] = []
        self.add = self.postings.append

    def iter_postings(self) -> Iterator[tuple[Any, ...]]:
        from operator import itemgetter

        postings = self.postings
        postings.sort(key=itemgetter(1))
        postings.sort(key=itemgetter(0))
        self.fieldnames.update(map(itemgetter(0), postings))
        return iter(postings)

    def cleanup(self) -> None:
        self.postings.clear()
        self.pool.cleanup()
