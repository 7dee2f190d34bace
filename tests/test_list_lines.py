"""`list` into a pipe: each entry's line is made in one scan when nothing in it needs care,
and must be exactly what the per-field clean-up gives (whitespace runs to one space, control
characters out, direction marks shown escaped) for any text at all."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cacop_cli.index.columns import LISTING_COLUMNS, listing_columns
from cacop_cli.listing import Listing
from cacop_cli.models import Entry, tlp_label
from cacop_cli.ops import EntryList
from cacop_cli.render import clean
from cacop_cli.render.core import _title, _value

# Every kind of character the clean-up treats apart, and ordinary ones.
SPECIAL = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
    "\x00\x07\x1b\x7f\x9b\u202a\u202e\u2066\u2069\u200e\u200f\u061c\u200b\ufeffab-é"
)
texts = st.text(alphabet=st.sampled_from(SPECIAL), max_size=12)
values = st.one_of(texts, st.lists(texts, max_size=3), st.integers(), st.none())


def _as_before(item: Entry) -> str:
    """The line as `list` made it before the one-scan path: every field split and joined,
    then the whole line cleaned."""
    parts = (item.meta.get("created", ""), item.type, item.meta.get("site", ""), _title(item),
             item.id, tlp_label(item.meta.get("tlp")))  # fmt: skip
    return clean("\t".join(" ".join(_value(part).split()) for part in parts))


def _entry(meta: dict, pending: str | None = None) -> Entry:
    return Entry(Path("/kb/strategies/x.md"), "strategies/x.md", meta, "", pending=pending)


def _list_line(item: Entry) -> str:
    """The line the listing part keeps for the entry (index/cards.py)."""
    columns, _ = listing_columns([(item.rel, item.meta)], item.pending)
    return columns[LISTING_COLUMNS.index("line")][0]


@settings(max_examples=400, deadline=None)
@given(
    created=values, kind=texts, site=values, title=texts, entry_id=texts, tlp=values,
    pending=st.one_of(st.none(), texts),
)  # fmt: skip
def test_a_line_is_what_the_field_by_field_clean_up_gives(
    created, kind, site, title, entry_id, tlp, pending
):
    meta = {"created": created, "type": kind, "site": site, "title": title, "tlp": tlp}
    if entry_id:
        meta["id"] = entry_id
    item = _entry(meta, pending or None)
    assert _list_line(item) == _as_before(item)


def test_every_character_alone_and_between_words():
    """Each of the first 0x3100 code points, and every one clean() or str.split treat apart."""
    for code in [*range(0x3100), 0xFEFF, 0x202F, 0x205F]:
        char = chr(code)
        for title in (char, f"a{char}b", f"a {char} b", f" {char}", f"{char} "):
            item = _entry({"created": "2024-01-02", "type": "rfi", "site": "x", "title": title})
            assert _list_line(item) == _as_before(item), repr(title)


def test_the_fields_are_tab_separated_and_whitespace_never_splits_a_field(capsys):
    from cacop_cli.render.core import entry_list

    item = _entry(
        {"id": "x-1", "title": "Two\twords\n and\u2028more", "site": "a\x1bb", "tlp": "red"}
    )
    columns, newest = listing_columns([(item.rel, item.meta)])
    listing = Listing(
        None, dict(zip(LISTING_COLUMNS, columns, strict=True)), newest, pending=[None]
    )
    entry_list(EntryList(listing, newest, []), as_json=False)
    line = capsys.readouterr().out
    assert line == "\t\tab\tTwo words and more\tx-1\tTLP:RED\n"
