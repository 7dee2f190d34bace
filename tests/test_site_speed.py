"""What keeps `site build` fast must not change what it publishes: the packed search index
reads back as built, and the gate refuses the same entries whether its scans come from the
cache, from one process or from several."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from cacop_cli.site import searchindex

from test_site import SECRET_WORDS, TODAY, make_kb


@given(st.dictionaries(st.integers(0, 20_000), st.integers(1, 500), max_size=60))
def test_packed_postings_read_back_as_built(counts: dict[int, int]) -> None:
    postings = [value for document in sorted(counts) for value in (document, counts[document])]
    assert searchindex.unpacked(searchindex.packed(postings)) == postings
