"""The listing part kept with the catalog (index/cards.py): what `list`, `rfi list` and
`status` read of every entry, in columns. The columns kept in the index are those made from
the entry files, value by value and type by type; entries pending on a submit branch go
where sorting every entry would put them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_catalog import copy_bundled, typed
from test_genkb import load_script

from cacop_cli.catalog import load_catalog
from cacop_cli.config import load_kb
from cacop_cli.entries import iter_entry_files
from cacop_cli.index.columns import LISTING_COLUMNS, listing_columns
from cacop_cli.listing import Listing, _listing_from_index, load_listing
from cacop_cli.models import Entry


def assert_listing_is_the_files(root: Path) -> None:
    kb = load_kb(root)
    kept = _listing_from_index(kb)
    assert kept is not None, "a listing from the index"
    read = load_catalog(kb, list(iter_entry_files(kb.root)))
    columns, newest = listing_columns((entry.rel, entry.meta) for entry in read.entries)
    assert len(kept) == len(read.entries) > 0
    for name, column in zip(LISTING_COLUMNS, columns, strict=True):
        assert typed(kept.columns[name]) == typed(column), name
    assert kept.newest == newest
    assert kept.unreadable == read.unreadable


def test_the_listing_of_the_bundled_kb_is_its_files(tmp_path):
    assert_listing_is_the_files(copy_bundled(tmp_path / "bundled"))


def test_the_listing_of_a_generated_kb_is_its_files(tmp_path):
    out = tmp_path / "generated"
    load_script("genkb").write_kb(out, 80, seed=7)
    assert_listing_is_the_files(out)


def test_the_listing_keeps_unreadable_files_and_odd_values(tmp_path):
    from conftest import FILES

    shutil.copytree(FILES / "invalid", tmp_path / "invalid")
    assert_listing_is_the_files(tmp_path / "invalid")
    listing = load_listing(load_kb(tmp_path / "invalid"))
    assert len(listing.unreadable) >= 5


def test_without_a_usable_index_the_listing_is_made_from_the_files(kb_path):
    kept = load_listing(load_kb(kb_path))
    shutil.rmtree(kb_path / ".cacop")
    (kb_path / ".cacop").write_text("not a folder")
    read = load_listing(load_kb(kb_path))
    assert typed(read.columns) == typed(kept.columns) and read.newest == kept.newest
    assert (kb_path / ".cacop").read_text() == "not a folder"


created = st.one_of(
    st.sampled_from(["2024-01-02", "2024-01-03", "2023-12-31", ""]), st.none(), st.integers(0, 3)
)
ids = st.text(alphabet="ab-1", min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    catalogued=st.lists(st.tuples(st.one_of(created, st.just(...)), ids), max_size=12),
    waiting=st.lists(st.tuples(st.one_of(created, st.just(...)), ids), max_size=4),
)
def test_pending_entries_go_where_sorting_every_entry_puts_them(catalogued, waiting):
    """As `list` sorted Entry objects: (str(created), id), newest first, stable."""

    def entry(number: int, when, entry_id: str, pending: str | None = None) -> Entry:
        meta = {"id": entry_id, "type": "strategy", "title": f"t{number}"}
        if when is not ...:
            meta["created"] = when
        rel = f"kb/strategies/e{number}.md"
        return Entry(Path("/kb") / rel, rel, meta, "", pending=pending)

    mine = [entry(number, *pair) for number, pair in enumerate(catalogued)]
    known = {item.id for item in mine}
    theirs, seen = [], set(known)
    for number, (when, entry_id) in enumerate(waiting, len(mine)):
        if entry_id not in seen:  # a branch whose entry the catalog has is not listed
            seen.add(entry_id)
            theirs.append(entry(number, when, entry_id, f"submit/{entry_id}"))
    columns, newest = listing_columns((item.rel, item.meta) for item in mine)
    listing = Listing(None, dict(zip(LISTING_COLUMNS, columns, strict=True)), newest)
    listing.pending = [None] * len(mine)
    listing.add_pending(theirs)
    everything = mine + theirs
    expected = sorted(
        everything, key=lambda item: (str(item.meta.get("created", "")), item.id), reverse=True
    )
    assert [listing.columns["rel"][at] for at in listing.newest] == [e.rel for e in expected]
    for at, item in enumerate(everything):
        assert listing.pending[at] == item.pending
        assert ("(pending: " in listing.columns["line"][at]) == (item.pending is not None)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=6),
        st.just(...),
    ),  # fmt: skip
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    metas=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                name: json_values
                for name in ("id", "type", "title", "site", "created", "topics", "tlp")
            },
        ),  # fmt: skip
        max_size=4,
    ),
    pending=st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=4, max_size=4),
    shared=st.booleans(),
)
def test_list_json_is_what_print_json_writes(metas, pending, shared):
    """`list --json` is made without Python's indenting encoder: byte for byte the same."""
    import json

    from cacop_cli.render.core import _list_json

    metas = [{key: value for key, value in meta.items() if value is not ...} for meta in metas]
    if shared and metas:  # a list object shared between entries, as the index keeps topics
        for meta in metas:
            meta["topics"] = metas[0].get("topics", ["x"])
    rels = [f"kb/strategies/e{number}.md" for number in range(len(metas))]
    entries = [
        Entry(Path("/kb") / rel, rel, meta, "", pending=pending[number])
        for number, (rel, meta) in enumerate(zip(rels, metas, strict=True))
    ]
    columns, newest = listing_columns((item.rel, item.meta) for item in entries)
    listing = Listing(None, dict(zip(LISTING_COLUMNS, columns, strict=True)), newest)
    listing.pending = [item.pending for item in entries]
    document = {
        "total": len(entries),
        "entries": [
            {
                "id": item.id,
                "type": item.type,
                "title": item.title,
                "site": item.meta.get("site"),
                "created": item.meta.get("created"),
                "topics": item.meta.get("topics"),
                "tlp": item.meta.get("tlp"),
                "path": item.rel,
                "pending": item.pending,
            }
            for item in (entries[at] for at in newest)
        ],
    }
    expected = json.dumps(document, ensure_ascii=True, indent=2, default=str)
    assert "".join(_list_json(listing, newest)) == expected


def test_the_listing_names_the_same_absent_marker_as_the_cards():
    from cacop_cli import listing
    from cacop_cli.index import columns

    assert listing.ABSENT is columns.ABSENT is Ellipsis


def test_list_json_of_thousands_of_entries_is_what_print_json_writes():
    """Written 1,000 entries at a time: the joins between pieces are the document's."""
    import json

    from cacop_cli.render.core import _list_json

    metas = [
        {"id": f"a-{number}", "type": "rfi", "title": "t", "created": f"2024-01-{number % 28:02}"}
        for number in range(2345)
    ]
    rels = [f"kb/rfis/a-{number}.md" for number in range(len(metas))]
    columns, newest = listing_columns(zip(rels, metas, strict=True))
    listing = Listing(None, dict(zip(LISTING_COLUMNS, columns, strict=True)), newest)
    listing.pending = [None] * len(metas)
    by_rel = dict(zip(rels, metas, strict=True))
    document = {
        "total": len(metas),
        "entries": [
            {
                "id": by_rel[rel]["id"],
                "type": "rfi",
                "title": "t",
                "site": None,
                "created": by_rel[rel]["created"],
                "topics": None,
                "tlp": None,
                "path": rel,
                "pending": None,
            }  # fmt: skip
            for rel in (rels[at] for at in newest)
        ],
    }
    expected = json.dumps(document, ensure_ascii=True, indent=2, default=str)
    assert "".join(_list_json(listing, newest)) == expected


def test_columns_decode_on_first_use_and_act_as_the_dict_of_all():
    import marshal

    from cacop_cli.index.columns import Columns

    plain = {"id": ["a", "b"], "type": ["rfi", "strategy"], "title": ["A", "B"]}
    columns = Columns({name: marshal.dumps(values) for name, values in plain.items()}, 2)
    assert len(columns) == 3 and "title" in columns and "nope" not in columns
    assert columns["id"] == ["a", "b"] and columns.get("nope") is None
    assert dict.__len__(columns) == 1  # only the column read is decoded
    with pytest.raises(KeyError):
        columns["nope"]  # noqa: B018
    assert columns == plain and sorted(columns) == sorted(plain)
    assert dict(columns.items()) == plain
    short = Columns({"id": marshal.dumps(["a"])}, 2)  # not of the listing's entries
    with pytest.raises(ValueError, match="not of its 2 entries"):
        short["id"]  # noqa: B018
