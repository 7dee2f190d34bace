"""The search index: Whoosh behind one package. The only package that imports Whoosh.

Layout of `.cacop/` (git-ignored, derived, always safe to delete):

    .gitignore          "*": git never picks the folder up, whatever the KB's .gitignore says
    record.json         which generation is live, its files' (inode, size, mtime), the digest of
                        the entry files it was built from; signed with HMAC
    write.lock          held by the one process that changes the index
    read.lock           shared by searches; taken exclusively only while a commit swaps files
    gen-<hex>/          the live Whoosh index, plus manifest.marshal (each scanned folder's
                        times, and its entry files' size, mtime_ns and ctime_ns)
                        and the catalog: catalog.marshal (each entry file's card: its fields,
                        or why it cannot be read), catalog-full.marshal (their lines and YAML
                        source) and bodies-<count>-<shard>.marshal (path -> body, by a hash
                        of the path); SHA-256 of each in the record
    build-<hex>/        a rebuild in progress (renamed to gen-<hex> when complete)

Whoosh's table of contents and stored fields are pickles, so opening an index
someone else wrote runs their code. We never open one that this clone did not
write: the record is signed with a key kept outside the KB (in the user's
state folder) and names the absolute KB path, every index file's inode, size
and modification time, and the SHA-256 of each table of contents,
so a `.cacop/` that arrives by copy or pull, or a file
changed inside it, fails the check and is replaced by a fresh build. The index
is opened at the recorded generation only (never "the newest TOC in the folder").

Nothing here imports Whoosh at module level: commands that do not search must
not pay for it.

The package, module by module:

    analysis          the schema, the fused analyser, the stem cache, FORMAT
    record            the signed record, and the check before an index is opened
    locks             write, read and swap locks; a refused write explained
    build             rebuild, update (refresh), merge; entries as documents
    cards             the catalog kept with each generation: what `load_catalog` reads
    parts             a full build in parts, written by one worker process per core
    searcher          Searcher: our query tree compiled, scored, counted
    facets            the per-document facet table
    whoosh_internals  every line that reads Whoosh's private attributes, and why
"""

from __future__ import annotations

from typing import Any

from .analysis import (
    FIELD_KINDS,
    FORMAT,
    INDEX_NAME,
    STEMS,
    STEMS_FILE,
    TEXT_BOOSTS,
    TOKEN_PATTERN,
    analyzers,
    schema,
    schema_digest,
    tokens,
)
from .build import (
    MANIFEST,
    MERGE_AT,
    MERGE_COMMAND,
    OLD_MANIFEST,
    DocumentMaker,
    ProgressCallback,
    UpdateReport,
    attachment_parts,
    document_for,
    merge,
    merge_in_background,
    rebuild,
    refresh,
)
from .facets import FACET_FIELDS, FACETS
from .locks import LOCK_WAIT, read_lock, write_lock
from .record import RECORD, STATE_DIR, Record, Untrusted, read_record, scan_digest
from .searcher import RawHit, Searcher, open_searcher

__all__ = [
    "FACETS", "FACET_FIELDS", "FIELD_KINDS", "FORMAT", "INDEX_NAME", "LOCK_WAIT", "MANIFEST",
    "MERGE_AT", "MERGE_COMMAND", "OLD_MANIFEST", "RECORD", "STATE_DIR", "STEMS", "STEMS_FILE",
    "TEXT_BOOSTS", "TOKEN_PATTERN", "DocumentMaker", "ProgressCallback", "RawHit", "Record",
    "Searcher", "Untrusted", "UpdateReport", "analyzers", "attachment_parts", "document_for",
    "merge", "merge_in_background", "open_searcher", "read_lock", "read_record", "rebuild",
    "refresh",
    "scan_digest", "schema", "schema_digest", "tokens", "write_lock",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    """FastStemming is made on first use (it needs Whoosh), and found here by pickle:
    Whoosh pickles the analyser into each index's TOC as cacop_cli.index.FastStemming."""
    if name == "FastStemming":
        from .analysis import fast_stemming_class

        made = globals()["FastStemming"] = fast_stemming_class()
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
