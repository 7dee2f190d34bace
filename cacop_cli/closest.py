"""Which ids someone most likely meant, for "did you mean": the closest by difflib's ratio
to the id or the title, or by the share of the typed words a title holds, found at any size
without working out 100,000 ratios (entries.resolve_id, on a miss)."""

from __future__ import annotations

import heapq
import itertools
import re
from operator import itemgetter


def folded(text: str) -> str:
    """A text as typed, compared: case folded, its white space single spaces."""
    return " ".join(text.casefold().split())


_WORD = re.compile(r"\w+")
CLOSE_ENOUGH = 0.5  # the least score of an id that "did you mean" offers
FEW_WORDS = 16  # up to this many typed words, a title is first searched for each
FIRST_LOOKED_AT = 20


def _word_share(words: set[str], title: str) -> float:
    """The share of the typed words that a (folded) title holds. A title word is in the
    title's text, so a title that holds none of the words as text holds none as a word."""
    if not words or (len(words) <= FEW_WORDS and not any(word in title for word in words)):
        return 0.0
    return len(words & set(_WORD.findall(title))) / len(words)


class _Likeness:
    """difflib.SequenceMatcher(None, wanted, text).ratio() against one typed text, worked
    out only where it matters. The ratio is 2·M/T, M the characters in its matching blocks,
    T both lengths; the blocks are a common subsequence of the two, so M is at most the
    shorter length, the text's characters that `wanted` holds at all, and the length of
    their longest common subsequence: upper bounds that cost <1 µs, ~1 µs and ~6 µs for a
    title, where the ratio costs ~80 µs."""

    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.absent = {ord(char): None for char in set(wanted)}  # str.translate drops them
        self.masks: dict[str, int] = {}  # char -> bits of its places in `wanted`
        for place, char in enumerate(wanted):
            self.masks[char] = self.masks.get(char, 0) | 1 << place

    def raised(self, score: float, bar: float, text: str) -> float:
        """max(score, the ratio to `text`), or `score` when the bounds show the ratio cannot
        exceed it or reach `bar` (then it would place no id)."""
        size = len(self.wanted)
        total = size + len(text)

        def placeable(matches: int) -> bool:  # as difflib makes a ratio: compared exactly
            highest = 2.0 * matches / total if total else 1.0
            return highest >= bar and highest > score

        if not placeable(min(size, len(text))):
            return score
        if not placeable(min(size, len(text) - len(text.translate(self.absent)))):
            return score
        if not placeable(self._common(text)):
            return score
        import difflib

        return max(score, difflib.SequenceMatcher(None, self.wanted, text).ratio())

    def _common(self, text: str) -> int:
        """The length of the longest common subsequence of `wanted` and `text`, by the
        bit-parallel algorithm (Allison and Dix; Hyyrö): a few integer operations a
        character of `text`."""
        full = (1 << len(self.wanted)) - 1
        masks, unmatched = self.masks, full
        for char in text:
            matched = unmatched & masks.get(char, 0)
            unmatched = ((unmatched + matched) | (unmatched - matched)) & full
        return len(self.wanted) - unmatched.bit_count()


def closest_ids(given: str, titles: dict[str, str], count: int = 3) -> list[str]:
    """The ids most like what someone typed: by edit distance to the id or the title, and by
    the share of the typed words that the title holds.

    An id's score is the largest of that share and difflib's ratio to the id and to the
    folded title; the `count` best scores of at least CLOSE_ENOUGH are given, best first,
    ties by id. A ratio is worked out only when its upper bounds (_Likeness) say it could
    raise the score and place the id among the best found so far: a few dozen ratios
    instead of 100,000 at 50,000 entries, for the same answer."""
    wanted = folded(given)
    words = set(_WORD.findall(wanted))
    likeness = _Likeness(wanted)
    shares = []
    for entry_id, title in titles.items():
        title_folded = folded(title)
        shares.append((entry_id, title_folded, _word_share(words, title_folded)))
    # The titles that share the most words first: the bar rises early, so few ratios follow.
    first = heapq.nlargest(FIRST_LOOKED_AT, shares, key=itemgetter(2))
    looked_at = {entry_id for entry_id, _, _ in first}
    rest = (row for row in shares if row[0] not in looked_at)
    best: list[tuple[float, str]] = []  # (-score, id), best first, at most `count`
    bar = CLOSE_ENOUGH  # a score below it is never given: the floor, then the last kept
    for entry_id, title, share in itertools.chain(first, rest):
        score = likeness.raised(share, bar, entry_id)
        score = likeness.raised(score, bar, title)
        placed = (-score, entry_id)
        if score >= bar and (len(best) < count or placed < best[-1]):
            best = sorted([*best, placed])[:count]
            if len(best) == count:
                bar = -best[-1][0]
    return [entry_id for _, entry_id in best]
