"""The running command's progress callback, for long work started deep below it.

A read command (`list`, `gaps`, `validate`, …) answers from the index's catalog, so in a
KB without an index yet its first run builds one: minutes at 10,000 entries, which must
not pass in silence. The CLI sets `current` to a callback (done, total) that draws a bar
on a terminal (and costs nothing until called); `catalog` hands it to the index. Core
code never draws anything itself.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

# Called as (done, total) by the index build, or (done, total, what) by other long work
# ("checking entries for personal data"): a bar says what it counts.
current: ContextVar[Callable[..., None] | None] = ContextVar("progress", default=None)
