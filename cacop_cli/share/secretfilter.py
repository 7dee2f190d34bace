"""detect-secrets' `is_indirect_reference` filter, answering the same in linear time.

detect-secrets drops a candidate secret on a line that looks like `key = get_key()` or
`token = headers['auth']`, by searching the line for
`([^\\v=!:]*)\\s*(:=?|[!=]{1,3})\\s*([\\w.-]+[\\[\\(][^\\v]*[\\]\\)])`. Its first group may be
empty, so the search succeeds exactly where the rest of the pattern matches; but left in,
it is tried from every character and rescans the line each time: 15 ms for a line of prose
of 800 characters, most of the gate's time over a knowledge base. Searching for the rest
alone gives the same answer for every line (tests/test_secretfilter.py compares the two),
so the gate drops exactly the candidates it dropped before.
"""

from __future__ import annotations

import re
from typing import Any

REPLACES = "detect_secrets.filters.heuristic.is_indirect_reference"
FILTER = f"{__name__}.is_indirect_reference"
_ASSIGNED_FROM_CALL = re.compile(r"(:=?|[!=]{1,3})\s*[\w.-]+[\[\(][^\v]*[\]\)]")
LONGEST_LINE = 1000  # detect-secrets' own bound: a longer line is never an indirect reference


def is_indirect_reference(line: str) -> bool:
    if len(line) > LONGEST_LINE:
        return False
    return _ASSIGNED_FROM_CALL.search(line) is not None


def use_in(settings: Any) -> None:
    """Put this filter in place of detect-secrets' own in `settings` (a transient copy)."""
    from detect_secrets.settings import get_filters

    if settings.filters.pop(REPLACES, None) is not None:
        settings.filters[FILTER] = {}
        get_filters.cache_clear()
