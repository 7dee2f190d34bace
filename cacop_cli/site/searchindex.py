"""The search index the pages load: an inverted index over the published entries, small
enough to ship and simple enough for forty lines of JavaScript (assets/search.js) to rank.

Each term maps to its postings, documents in rising order with the weighted count of the
term in each: a word in the title counts 3, in the tags or summary 2, in the body or an
attachment 1. They are written small (`encoded`): each document as the step from the one
before, doubled, plus one when a count other than 1 follows (`packed`), each number as
base-32 digits in a 64-letter alphabet, the upper half marking a digit that more follow,
so most postings take one character and need no separator. A term held by more than half
the documents is written as the documents that lack it ("!" first), without its counts:
its idf is under log 2, so a count moves its score by less than the title bonus, while
the postings of such terms were a tenth of the gzipped index at 10,000 entries; every
document holding it still matches it. The terms go out as one string of names and one of
their postings, in the same order (`as_script`): at 10,000 entries 4.35 MB gzipped,
against 5.2 MB as JSON lists of numbers. The field vocabulary
Tokens are runs of letters and digits, lower-cased: the same rule in Python here and in
JavaScript (`/[\\p{L}\\p{N}]+/gu`) there.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable

from ..models import Entry
from .gate import Attachment

TOKEN = re.compile(r"[^\W_]+")
FIELD_WEIGHTS = {"title": 3, "tags": 2, "summary": 2, "body": 1, "attachments": 1}
SNIPPET_CHARS = 140
INDEX_GLOBAL = "CACOP_SEARCH_INDEX"


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.casefold())


def _phrases(groups: Iterable[list[str]]) -> list[list[tuple[str, ...]]]:
    return [[tuple(tokens(term)) for term in group if tokens(term)] for group in groups]


def _group_hits(words: list[str], starts: dict[str, list[tuple[tuple[str, ...], int]]]) -> Counter:
    found: Counter = Counter()
    for position, word in enumerate(words):
        for phrase, group in starts.get(word, ()):
            if tuple(words[position : position + len(phrase)]) == phrase:
                found[group] += 1
    return found


def analyser(groups: list[list[str]]) -> Analyser:
    return Analyser(_phrases(groups))


class Analyser:
    """What one entry gives the index (`contribution`), apart from the others: a rebuild
    keeps it by the entry's text (`key`) and only assembles the index (`assemble`)."""

    def __init__(self, phrases: list[list[tuple[str, ...]]]) -> None:
        self.phrases = phrases
        self.starts: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for number, group in enumerate(phrases):
            for phrase in group:
                self.starts.setdefault(phrase[0], []).append((phrase, number))

    @staticmethod
    def fields(entry: Entry, attachments: dict[str, list[Attachment]]) -> dict[str, str]:
        meta = entry.meta
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        summary = meta.get("summary") if isinstance(meta.get("summary"), str) else ""
        return {
            "id": entry.id,
            "type": entry.type,
            "title": entry.title,
            "tags": " ".join(map(str, tags)),
            "summary": summary,
            "body": entry.body,
            "attachments": "\n".join(a.text for a in attachments.get(entry.id, [])),
        }

    @staticmethod
    def key(fields: dict[str, str]) -> str:
        """A digest of the fields: each name and text with its length (no JSON to make)."""
        digest = hashlib.sha256()
        for name in sorted(fields):
            data = fields[name].encode("utf-8", "surrogatepass")
            digest.update(f"{name}:{len(data)}:".encode())
            digest.update(data)
        return digest.hexdigest()

    def contribution(self, fields: dict[str, str]) -> list:
        """[document, length, terms (space-separated), their weighted counts]."""
        counts: Counter = Counter()
        length = 0
        for name, weight in FIELD_WEIGHTS.items():
            words = tokens(fields[name])
            length += len(words)
            for word, count in Counter(words).items():
                counts[word] += count * weight
            for group, count in _group_hits(words, self.starts).items():
                counts[f"~g{group}"] += count * weight
        shown = fields["summary"] or " ".join(fields["body"].split())
        title = fields["title"].strip()
        if title and shown.startswith(title):  # the result shows the title just above it
            shown = shown[len(title) :].lstrip(" .:;,-–—")
        document = [
            fields["id"],
            fields["title"],
            fields["type"],
            shown[:SNIPPET_CHARS] + ("…" if len(shown) > SNIPPET_CHARS else ""),
        ]
        return [document, length, " ".join(counts), list(counts.values())]

    def assemble(self, contributions: list[list]) -> dict:
        """The index as plain data: documents, postings, lengths and the vocabulary's groups."""
        postings: dict[str, list[int]] = {}
        for number, (_, _, terms, counts) in enumerate(contributions):
            for term, count in zip(terms.split(" ") if terms else (), counts, strict=True):
                listed = postings.get(term)
                if listed is None:
                    postings[term] = [number, count]
                else:
                    listed += (number, count)
        return {
            "documents": [contribution[0] for contribution in contributions],
            "lengths": [contribution[1] for contribution in contributions],
            "terms": {
                term: encoded(listed, len(contributions)) for term, listed in postings.items()
            },
            "groups": [[list(phrase) for phrase in group] for group in self.phrases],
        }

    def patch(self, index: dict, before: list[list], after: list[list]) -> dict | None:
        """`index`, assembled from the parts `before`, made into what `assemble(after)`
        gives by redoing only the postings of the terms that the differing parts hold;
        None when the two are not the same documents in the same places."""
        if len(before) != len(after) or len(index.get("lengths", ())) != len(before):
            return None
        changed = [n for n, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
        if any(before[n][0][0] != after[n][0][0] for n in changed):
            return None
        terms: dict[str, str] = index["terms"]
        documents = len(after)
        counts = {n: dict(zip(_split(after[n][2]), after[n][3], strict=True)) for n in changed}
        affected: set[str] = set()  # the terms whose postings change
        for n in changed:
            old = dict(zip(_split(before[n][2]), before[n][3], strict=True))
            affected.update(
                t for t in old.keys() | counts[n].keys() if old.get(t) != counts[n].get(t)
            )
        redone: dict[str, str] = {}
        blocks = set(changed)  # the documents whose newly seen terms are placed again
        for term in affected:
            kept = terms.get(term, "")
            old = decoded(kept, documents)
            if old:
                blocks.add(old[0])
            found = [
                (old[at], old[at + 1]) for at in range(0, len(old), 2) if old[at] not in counts
            ]
            found += [(n, counts[n][term]) for n in changed if term in counts[n]]
            if kept.startswith(COMMON) and not common(len(found), documents):
                return None  # its counts were not kept: the index is assembled afresh
            if found:
                found.sort()
                redone[term] = encoded([value for pair in found for value in pair], documents)
                blocks.add(found[0][0])

        def first(term: str) -> int:
            return first_document(redone[term] if term in redone else terms[term])

        placed = {
            number: [t for t in _split(after[number][2]) if first(t) == number]
            for number in sorted(blocks)
        }
        order: list[str] = []
        waiting = iter(sorted(placed))
        upcoming = next(waiting, None)
        for term, steps in terms.items():  # first seen first, as `assemble` adds them
            if term in affected:
                continue
            number = first_document(steps)
            if number in placed:
                continue
            while upcoming is not None and upcoming < number:
                order.extend(placed[upcoming])
                upcoming = next(waiting, None)
            order.append(term)
        while upcoming is not None:
            order.extend(placed[upcoming])
            upcoming = next(waiting, None)
        return {
            "documents": [part[0] for part in after],
            "lengths": [part[1] for part in after],
            "terms": {term: redone[term] if term in redone else terms[term] for term in order},
            "groups": [[list(phrase) for phrase in group] for group in self.phrases],
        }


def _split(terms: str) -> list[str]:
    return terms.split(" ") if terms else []


def read_script(text: str) -> dict | None:
    """The index `as_script` wrote, or None."""
    head, tail = f"window.{INDEX_GLOBAL}=", ";\n"
    if not (text.startswith(head) and text.endswith(tail)):
        return None
    try:
        index = json.loads(text[len(head) : -len(tail)])
        names, postings = index.pop("terms"), index.pop("postings")
    except (ValueError, KeyError, AttributeError, TypeError):
        return None
    if not (isinstance(names, str) and isinstance(postings, str)):
        return None
    names_found, postings_found = _split(names), postings.split(",") if postings else []
    if len(names_found) != len(postings_found):
        return None
    index["terms"] = dict(zip(names_found, postings_found, strict=True))
    return index


def build(
    entries: list[Entry], attachments: dict[str, list[Attachment]], groups: list[list[str]]
) -> dict:
    """The index of `entries`, analysed afresh."""
    analysing = analyser(groups)
    return analysing.assemble(
        [analysing.contribution(Analyser.fields(entry, attachments)) for entry in entries]
    )


def packed(postings: list[int]) -> list[int]:
    """[document, count, …] (documents rising) as steps: `2 * step` alone for a count of 1,
    else `2 * step + 1` and the count (search.js `unpacked` reverses it)."""
    found, before = [], 0
    for at in range(0, len(postings), 2):
        document, count = postings[at], postings[at + 1]
        step, before = document - before, document
        found.extend((2 * step,) if count == 1 else (2 * step + 1, count))
    return found


def unpacked(steps: list[int]) -> list[int]:
    found, document, at = [], 0, 0
    while at < len(steps):
        document += steps[at] >> 1
        count = steps[at + 1] if steps[at] & 1 else 1
        at += 2 if steps[at] & 1 else 1
        found.extend((document, count))
    return found


DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
VALUES = {letter: value for value, letter in enumerate(DIGITS)}
COMMON = "!"  # the postings of a term in more than half the documents: those that lack it


def common(held: int, documents: int) -> bool:
    return 2 * held > documents


def encoded(postings: list[int], documents: int) -> str:
    """[document, count, …] (documents rising) as search.js reads it: the packed steps, or
    for a term in more than half of the `documents`, COMMON and the steps between those
    that lack it."""
    if common(len(postings) // 2, documents):
        held = set(postings[::2])
        lacking = [document for document in range(documents) if document not in held]
        return COMMON + _digits(b - a for a, b in zip([0, *lacking], lacking, strict=False))
    return _digits(packed(postings))


def decoded(text: str, documents: int) -> list[int]:
    """What `encoded` was given (a COMMON term's counts as 1)."""
    if text.startswith(COMMON):
        lacking, document = set(), 0
        for step in _numbers(text[1:]):
            document += step
            lacking.add(document)
        return [value for d in range(documents) if d not in lacking for value in (d, 1)]
    return unpacked(list(_numbers(text)))


def first_document(text: str) -> int:
    """The first document that holds the term written as `text`."""
    if text.startswith(COMMON):
        first, lacked = 0, 0
        for step in _numbers(text[1:]):
            lacked += step
            if lacked != first:
                break
            first += 1
        return first
    return next(iter(_numbers(text)), 0) >> 1


def _digits(numbers: Iterable[int]) -> str:
    letters: list[str] = []
    for number in numbers:
        at = len(letters)
        letters.append(DIGITS[number & 31])
        number >>= 5
        while number:
            letters.insert(at, DIGITS[32 + (number & 31)])
            number >>= 5
    return "".join(letters)


def _numbers(text: str) -> Iterable[int]:
    number = 0
    for letter in text:
        value = VALUES[letter]
        if value >= 32:
            number = (number << 5) | (value - 32)
        else:
            yield (number << 5) | value
            number = 0


def as_script(index: dict) -> str:
    """The index as a script that sets a global: a page opened from file:// may load a
    script beside it, where Chromium would refuse to fetch() a JSON file. The terms go as
    a string of names and one of postings (search.js splits them)."""
    terms = index["terms"]
    written = {
        **{key: value for key, value in index.items() if key != "terms"},
        "terms": " ".join(terms),
        "postings": ",".join(terms.values()),
    }
    text = json.dumps(written, ensure_ascii=True, separators=(",", ":"))
    return f"window.{INDEX_GLOBAL}={text};\n"
