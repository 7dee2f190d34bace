"""What keeps `site build` fast must not change what it publishes: the packed search index
reads back as built, and the gate refuses the same entries, and the same pages are written,
whether its scans come from the cache, from one process or from several."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from test_site import COMMON, SECRET_WORDS, STRATEGY, TODAY, make_kb

from cacop_cli import sealed
from cacop_cli.config import load_kb
from cacop_cli.site import build, gate, html, kept, pages, searchindex

SECRET_ENTRY = (
    "kb/strategies/milwaukee-2026-keyholdermarker-notes.md",
    f"---\nid: milwaukee-2026-keyholdermarker-notes\n{STRATEGY}"
    f"title: Keyholdermarker notes\n{COMMON}tlp: green\n---\n"
    "The keyholdermarker export used aws_secret_access_key = "
    '"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" until March.\n',
)


@given(st.dictionaries(st.integers(0, 20_000), st.integers(1, 500), max_size=60))
def test_packed_postings_read_back_as_built(counts: dict[int, int]) -> None:
    postings = [value for document in sorted(counts) for value in (document, counts[document])]
    assert searchindex.unpacked(searchindex.packed(postings)) == postings


@given(st.dictionaries(st.integers(0, 3_000), st.integers(1, 5_000), min_size=1, max_size=80))
def test_encoded_postings_read_back_as_built(counts: dict[int, int]) -> None:
    """A term in more than half the documents keeps which documents hold it, not how often."""
    postings = [value for document in sorted(counts) for value in (document, counts[document])]
    for documents in (max(counts) + 1, 2 * len(counts) + 1):  # common; not common
        text = searchindex.encoded(postings, documents)
        assert "," not in text and " " not in text  # as_script joins them with these
        found = searchindex.decoded(text, documents)
        if 2 * len(counts) > documents:
            assert text.startswith("!") and found == [v for d in sorted(counts) for v in (d, 1)]
        else:
            assert found == postings
        assert searchindex.first_document(text) == min(counts)


def tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_cache_and_processes_change_nothing_that_is_published(tmp_path, monkeypatch) -> None:
    root = make_kb(tmp_path / "kb-repo")
    (root / SECRET_ENTRY[0]).write_text(SECRET_ENTRY[1], encoding="utf-8")
    today = dt.date.fromisoformat(TODAY)
    findings = root / ".cacop" / gate.GATE_CACHE

    def site(name: str, workers: int) -> tuple[list, dict[str, bytes]]:
        monkeypatch.setattr(gate, "workers", lambda: workers)
        result = build(load_kb(root), tmp_path / name, skip_refused=True, today=today)
        return [refusal.as_dict() for refusal in result.refused], tree(tmp_path / name)

    monkeypatch.setattr(gate, "BATCH_CHARS", 2_000)  # many batches, so the pool has work
    refused, pages = site("one-process", 1)
    assert findings.is_file()
    findings.unlink()
    assert site("two-processes", 2) == (refused, pages)
    assert record(findings)[2]
    assert site("from-the-cache", 2) == (refused, pages)

    said = json.dumps(refused)
    for marker in ("piiplatypusmarker", "pngnarwhalmarker", "keyholdermarker"):  # refused;
        assert marker in said  # the red and amber entries are left out, as above the line
    assert "secret" in said and "date-of-birth" in said
    for path, data in pages.items():
        for word in (*SECRET_WORDS, "keyholdermarker", "wjalrxutnfemi"):
            assert word.encode() not in data.lower(), f"{word} in {path}"


def test_a_rebuild_in_place_equals_a_fresh_build_and_rewrites_only_what_changed(tmp_path):
    root = make_kb(tmp_path / "kb-repo")
    today = dt.date.fromisoformat(TODAY)
    out = tmp_path / "out"
    build(load_kb(root), out, skip_refused=True, today=today)
    first = tree(out)
    kept = out / "milwaukee-2026-raw-html-is-text" / "index.html"
    before = kept.stat().st_mtime_ns
    strategies = sorted((root / "kb" / "strategies").glob("*.md"))
    withdrawn, personal = strategies[0], strategies[1]
    withdrawn.write_text(re.sub(r"(?m)^tlp: .*$", "tlp: amber", withdrawn.read_text("utf-8")))
    personal.write_text(personal.read_text("utf-8") + "\nVictim born 2010-04-02, (414) 286-2411.\n")
    (out / "map" / "index.html").write_text("edited by hand", encoding="utf-8")
    (out / "stray.html").write_text("not the site's", encoding="utf-8")
    assert (out / withdrawn.stem / "index.html").is_file()

    again = build(load_kb(root), out, skip_refused=True, today=today)
    fresh = build(load_kb(root), tmp_path / "fresh", skip_refused=True, today=today)
    assert tree(out) == tree(tmp_path / "fresh")
    assert tree(out) != first
    assert [r.as_dict() for r in again.refused] == [r.as_dict() for r in fresh.refused]
    assert not (out / withdrawn.stem).exists() and not (out / personal.stem).exists()
    assert kept.stat().st_mtime_ns == before  # not written again


def test_an_entry_rewritten_with_its_size_and_time_put_back_is_scanned_again(tmp_path):
    """The gate reads again only files whose size, times or inode changed; a rewrite that
    keeps the size and sets the old mtime back still changes the ctime."""
    import os
    import time

    root = make_kb(tmp_path / "kb-repo")
    today = dt.date.fromisoformat(TODAY)
    path = root / "kb/strategies/milwaukee-2026-raw-html-is-text.md"
    text = path.read_text("utf-8")
    clean = text + "Call the desk on extension 2411 before 2010.\n"
    leaked = text + "Victim born 2010-04-02, (414) 286-2411.\n"
    leaked = leaked + " " * (len(clean) - len(leaked))
    assert len(leaked) == len(clean)
    path.write_text(clean, encoding="utf-8")
    first = build(load_kb(root), tmp_path / "first", skip_refused=True, today=today)
    assert not any(r.path.endswith(path.name) for r in first.refused)
    before = path.stat()
    time.sleep(0.05)
    path.write_text(leaked, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = build(load_kb(root), tmp_path / "again", skip_refused=True, today=today)
    assert any(r.path.endswith(path.name) for r in again.refused)
    assert not (tmp_path / "again" / path.stem).exists()


def record(path: Path) -> tuple[list, dict, object]:
    """A site record as this user sealed it: (its stamp, its extra, its value)."""
    payload = sealed.opened(path, path.read_bytes())
    assert payload is not None, f"{path.name} is sealed with this user's key"
    head, _, text = payload.partition(b"\n")
    document = json.loads(head)
    return document["stamp"], document["extra"], json.loads(text)


def plant(path: Path, value: object, monkeypatch, tmp_path: Path) -> None:
    """Write `value` where the record is, as site/kept.py writes it, with the right stamp,
    but under another user's key: what a commit (git add -f) and a pull would bring."""
    stamp, extra, _ = record(path)
    with monkeypatch.context() as other:
        other.setenv("XDG_STATE_HOME", str(tmp_path / "another-user"))
        kept.write(path, stamp, value, extra)
    assert sealed.opened(path, path.read_bytes()) is None  # not this user's seal


def test_a_planted_record_of_rendered_bodies_is_a_miss(tmp_path, monkeypatch):
    """The bodies' HTML goes into pages as it is: a record this user did not seal (edited,
    copied or committed from elsewhere) must not put its HTML into the site."""
    root = make_kb(tmp_path / "kb-repo")
    today = dt.date.fromisoformat(TODAY)
    build(load_kb(root), tmp_path / "first", skip_refused=True, today=today)
    path = root / ".cacop" / "site-bodies.json"
    stamp, _, bodies = record(path)
    assert isinstance(bodies, dict) and bodies
    planted = {key: "<script>planted()</script>" for key in bodies}
    plant(path, planted, monkeypatch, tmp_path)
    build(load_kb(root), tmp_path / "second", skip_refused=True, today=today)
    assert tree(tmp_path / "second") == tree(tmp_path / "first")

    kept.write(path, stamp, planted)  # the same record under this user's seal is believed:
    build(load_kb(root), tmp_path / "third", skip_refused=True, today=today)  # the seal
    assert any(b"planted()" in data for data in tree(tmp_path / "third").values())  # decides


def test_a_body_edit_rewrites_its_page_and_the_index_but_no_list(tmp_path, monkeypatch):
    """Listing pages are made from frontmatter only: a rebuild after a body edit leaves them
    and the other entries' pages as they are, assembles the index from the kept parts, and
    still equals a fresh build."""
    root = make_kb(tmp_path / "kb-repo")
    today = dt.date.fromisoformat(TODAY)
    out = tmp_path / "out"
    build(load_kb(root), out, skip_refused=True, today=today)
    listing = out / "topics" / "index.html"
    before = listing.stat().st_mtime_ns
    parts = root / ".cacop" / "site-search.json"
    assert parts.is_file()
    edited = sorted((root / "kb" / "strategies").glob("*.md"))[-1]
    edited.write_text(edited.read_text("utf-8") + "\nA zanzibarquokka was seen.\n", "utf-8")
    made: list[str] = []
    patched = (
        (pages, "listing_pages"),
        (pages, "entry_page"),
        (searchindex.Analyser, "contribution"),
        (searchindex.Analyser, "assemble"),  # the index is patched, not assembled anew
    )
    for module, name in patched:
        original = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda *a, _o=original, _n=name: made.append(_n) or _o(*a)
        )

    build(load_kb(root), out, skip_refused=True, today=today)
    assert made == ["entry_page", "contribution"]  # the edited entry's alone; no list
    assert listing.stat().st_mtime_ns == before
    assert b"zanzibarquokka" in (out / "assets" / "search-index.js").read_bytes()
    edited_once = tree(out)

    listing.write_text("edited by hand", encoding="utf-8")  # a kept page edited: made again
    made.clear()
    build(load_kb(root), out, skip_refused=True, today=today)
    assert made == ["listing_pages"]
    assert tree(out) == edited_once

    build(load_kb(root), tmp_path / "fresh", skip_refused=True, today=today)
    assert tree(out) == tree(tmp_path / "fresh")


def test_a_rebuild_after_a_few_edits_renders_them_without_reading_every_body(tmp_path, monkeypatch):
    """The record of rendered bodies is read only when many pages are made: after one edit
    the page is rendered alone, and the site still equals a fresh build."""
    root = make_kb(tmp_path / "kb-repo")
    today = dt.date.fromisoformat(TODAY)
    out = tmp_path / "out"
    build(load_kb(root), out, skip_refused=True, today=today)
    edited = sorted((root / "kb" / "strategies").glob("*.md"))[-1]
    edited.write_text(edited.read_text("utf-8") + "\nOne more *line*.\n", "utf-8")
    read: list[str] = []
    original = kept.read
    monkeypatch.setattr(kept, "read", lambda path, *a: read.append(path.name) or original(path, *a))
    build(load_kb(root), out, skip_refused=True, today=today)
    assert "site-bodies.json" not in read
    assert "<em>line</em>" in (out / edited.stem / "index.html").read_text("utf-8")
    monkeypatch.setattr(kept, "read", original)
    build(load_kb(root), tmp_path / "fresh", skip_refused=True, today=today)
    assert tree(out) == tree(tmp_path / "fresh")


def test_a_planted_record_of_search_parts_is_a_miss(tmp_path, monkeypatch):
    """The page shows the index's titles and snippets: parts planted in the record (or one
    copied from elsewhere) must not reach the site."""
    root = make_kb(tmp_path / "kb-repo")
    today = dt.date.fromisoformat(TODAY)
    build(load_kb(root), tmp_path / "first", skip_refused=True, today=today)
    build(load_kb(root), tmp_path / "from-the-record", skip_refused=True, today=today)
    assert tree(tmp_path / "from-the-record") == tree(tmp_path / "first")
    path = root / ".cacop" / "site-search.json"
    stamp, extra, parts = record(path)
    assert isinstance(parts, dict) and parts
    planted = {key: [["planted", "Planted", "strategy", "x"], 1, "planted", [1]] for key in parts}
    plant(path, planted, monkeypatch, tmp_path)
    build(load_kb(root), tmp_path / "second", skip_refused=True, today=today)
    assert tree(tmp_path / "second") == tree(tmp_path / "first")
    path.write_bytes(b"not json at all")
    build(load_kb(root), tmp_path / "third", skip_refused=True, today=today)
    assert tree(tmp_path / "third") == tree(tmp_path / "first")

    kept.write(path, stamp, planted, extra)  # under this user's seal it would be believed
    build(load_kb(root), tmp_path / "fourth", skip_refused=True, today=today)
    index = (tmp_path / "fourth" / "assets" / "search-index.js").read_text("utf-8")
    assert '"Planted"' in index


def test_a_code_change_without_a_new_version_keeps_no_page_the_old_code_made(tmp_path, monkeypatch):
    """Pages, bodies, index parts and the gate's findings are kept by cacop's code, not only
    its version: the same version with other code renders and analyses everything again,
    and the rebuild in place equals a fresh build by that code."""
    root = make_kb(tmp_path / "kb-repo")
    today = dt.date.fromisoformat(TODAY)
    out = tmp_path / "out"
    build(load_kb(root), out, skip_refused=True, today=today)
    first = tree(out)
    original = html.markdown
    monkeypatch.setattr(html, "markdown", lambda text: original(text) + "<!-- new code -->")
    monkeypatch.setattr(searchindex, "SNIPPET_CHARS", 20)
    build(load_kb(root), out, skip_refused=True, today=today)
    assert tree(out) == first  # the same code, as far as the caches can tell: all kept

    monkeypatch.setattr(kept, "code_digest", lambda: "0" * 64)  # the code has changed
    build(load_kb(root), out, skip_refused=True, today=today)
    rebuilt = tree(out)
    ids = {path.stem for path in (root / "kb").rglob("*.md")}
    entry_pages = [
        data for name, data in rebuilt.items() if name in {f"{i}/index.html" for i in ids}
    ]
    assert entry_pages and all(b"<!-- new code -->" in data for data in entry_pages)
    assert rebuilt["assets/search-index.js"] != first["assets/search-index.js"]
    for name in ("site-bodies.json", "site-search.json", "site-files.json", gate.GATE_CACHE):
        assert record(root / ".cacop" / name)[0][1] == "0" * 64, name
    build(load_kb(root), tmp_path / "fresh", skip_refused=True, today=today)
    assert rebuilt == tree(tmp_path / "fresh")


WORDS = st.lists(st.sampled_from(["atf", "bureau", "gun", "trace", "nibrs", "x", "y", "zeta"]))


@given(
    st.lists(WORDS, min_size=1, max_size=8),
    st.dictionaries(st.integers(0, 7), WORDS, max_size=4),
)
def test_a_patched_index_equals_one_assembled_afresh(bodies: list, edits: dict) -> None:
    """The index patched with the changed entries' parts holds the same terms, in the same
    order (what gzip and the byte-identical rebuild depend on), as one assembled anew."""
    analysing = searchindex.analyser([["ATF", "Bureau of Alcohol"], ["NIBRS"]])

    def parts(texts: list) -> list:
        return [
            analysing.contribution(
                {
                    "id": f"e{n}",
                    "type": "strategy",
                    "title": f"t{n}",
                    "tags": "",
                    "summary": "",
                    "body": " ".join(words),
                    "attachments": "",
                }
            )  # fmt: skip
            for n, words in enumerate(texts)
        ]

    before = parts(bodies)
    after = parts([edits.get(n, words) for n, words in enumerate(bodies)])
    index = json.loads(json.dumps(analysing.assemble(before)))
    patched = analysing.patch(index, before, after)
    fresh = analysing.assemble(after)
    if patched is None:  # a term held by more than half lost its place there: counts needed
        was, now = index["terms"], fresh["terms"]
        assert any(was[t].startswith("!") and not now.get(t, "").startswith("!") for t in was)
    else:
        assert json.dumps(patched) == json.dumps(fresh)
