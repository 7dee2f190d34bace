"""Facets: per document, its type, site and topics, as a table counted in one pass."""

from __future__ import annotations

import marshal
from pathlib import Path
from typing import Any

from .whoosh_internals import pinned_index

FACETS = "facets.marshal"  # per document, its type, site and topics (see write_facets)
FACET_FIELDS = ("type", "site", "topic")
FACET_PARTS = "facets-by-segment.marshal"  # the same, per Whoosh segment: for the next commit


def write_facets(folder: Path, toc: int) -> None:
    """Write, for index generation `toc`, each document's type, site and topics.

    Facets count the values of every matching entry: read from the postings, one Python
    call per posting, that was a third of a one-word search at 10,000 entries (40,000
    postings). Each document gets a code per field, the code naming a combination of
    values (an entry has one type and site but several topics), so counting is one
    C-level Counter over the matching documents. Written after every commit, under the
    write lock, inside the generation folder: the signed record pins it like Whoosh's files.

    A segment's documents never change (a deletion only marks them), so each segment's
    part is kept in FACET_PARTS and only segments new since the last commit read their
    postings: after a refresh of 10 entries, one small segment rather than all of them.
    """
    from array import array

    earlier = _read_facet_parts(folder)
    parts: dict[str, dict[str, tuple[list[tuple[str, ...]], bytes]]] = {}
    table = {}
    with pinned_index(folder, toc, readonly=True).reader() as reader:
        leaves = reader.leaf_readers()
        segments = []
        for leaf, _offset in leaves:
            if leaf.segment() is None:  # an index of no documents: Whoosh's EmptyReader
                continue
            segment = leaf.segment().segment_id()
            parts[segment] = earlier.get(segment) or _segment_facets(leaf)
            segments.append(segment)
        for facet in FACET_FIELDS:
            combinations: dict[tuple[str, ...], int] = {}
            codes = array("I")
            for segment in segments:  # leaves come in document order: parts concatenate
                local, local_codes = parts[segment][facet]
                to_global = [combinations.setdefault(tuple(c), len(combinations)) for c in local]
                codes.extend([to_global[code] for code in array("I", local_codes)])
            if len(codes) != reader.doc_count_all():
                raise ValueError("the facet parts do not cover the index")  # damaged: rebuild
            table[facet] = (list(combinations), codes.tobytes())
    (folder / FACETS).write_bytes(marshal.dumps({"toc": toc, "fields": table}))
    (folder / FACET_PARTS).write_bytes(marshal.dumps(parts))


def _segment_facets(leaf: Any) -> dict[str, tuple[list[tuple[str, ...]], bytes]]:
    """One segment's facet table, read from its postings (deleted documents included:
    they keep their numbers until a merge, and are never among the matches counted)."""
    from array import array

    size = leaf.doc_count_all()
    part = {}
    for facet in FACET_FIELDS:
        held: list[list[str]] = [[] for _ in range(size)]
        for raw in leaf.lexicon(facet):
            value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            for doc in leaf.postings(facet, raw).all_ids():
                held[doc].append(value)
        combinations: dict[tuple[str, ...], int] = {}
        codes = array("I", [combinations.setdefault(tuple(v), len(combinations)) for v in held])
        part[facet] = (list(combinations), codes.tobytes())
    return part


def _read_facet_parts(folder: Path) -> dict[str, Any]:
    """The per-segment parts from the last commit in this generation folder, or {}.
    Only the writer reads them, under the write lock, from a folder read_record verified."""
    try:
        parts = marshal.loads((folder / FACET_PARTS).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return parts if isinstance(parts, dict) else {}


def read_facets(folder: Path, toc: int | None) -> dict[str, tuple[list[tuple[str, ...]], Any]]:
    """The facet table of generation `toc`, or {} (counting then reads the postings).
    Read only from a folder read_record verified (marshal is for trusted data only)."""
    try:
        document = marshal.loads((folder / FACETS).read_bytes())
        if document["toc"] != toc:
            return {}
        return {
            name: (combinations, memoryview(codes).cast("I"))
            for name, (combinations, codes) in document["fields"].items()
        }
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return {}
