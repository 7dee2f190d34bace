"""The catalog's two parts (index/cards.py): `list`, `rfi list`, `status` and `show` decode
only the lean one; the full one (line tables, YAML source) is decoded on first use of one
of its fields, equal to the files, never when changed on disk; an index whose parts keep
other fields than this cacop's is rebuilt. Plain output (a pipe) is the same with the
index as without it."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

import pytest
from fixturefiles import aged_ctimes
from test_catalog import assert_catalog_is_the_files, rewrite_unseen

from cacop_cli.catalog import load_catalog
from cacop_cli.config import load_kb
from cacop_cli.entries import iter_entry_files, read_entry
from cacop_cli.index import cards, columns, record

_DECODED: list[int] | None = None  # sizes of the bytes marshal decodes, while watched


def _audit(event: str, args: tuple) -> None:
    if _DECODED is not None and event == "marshal.loads" and args:
        _DECODED.append(len(args[0]))


sys.addaudithook(_audit)


def decoded(run) -> list[int]:
    """The sizes of what marshal decodes while `run()` runs (a real audit hook)."""
    global _DECODED
    _DECODED = []
    try:
        run()
        return _DECODED
    finally:
        _DECODED = None


def part_sizes(root: Path) -> tuple[int, int]:
    folder = root / ".cacop" / record.read_record(root).generation
    return (folder / cards.CARDS).stat().st_size, (folder / cards.FULL_CARDS).stat().st_size


def columns_of(root: Path, part: str) -> tuple[int, dict[str, int]]:
    """What marshal decodes of a part of columns: (the size of its header, read whenever
    the part is; the size of each column's data, by name)."""
    folder = root / ".cacop" / record.read_record(root).generation
    data = (folder / part).read_bytes()
    names = columns.LISTING_COLUMNS if part == cards.LISTING else columns.OTHERS_COLUMNS
    blobs, _ = columns.read_columns(io.BytesIO(data), part, names, hashlib.sha256(data).hexdigest())
    return int.from_bytes(data[4:12], "little"), {name: len(blob) for name, blob in blobs.items()}


def listing_size(root: Path) -> int:
    """The size of the listing part's header: decoded whenever the part is read."""
    return columns_of(root, cards.LISTING)[0]


@pytest.fixture(autouse=True)
def _no_merge_in_background(monkeypatch):
    from cacop_cli.index import build

    monkeypatch.setattr(build, "MERGE_AT", 10_000)


def test_the_listing_commands_decode_the_listing_part_alone(cli, kb_path):
    """`list`, `rfi list` and `status` read the listing part: neither card part is decoded
    (50,000 meta dicts), whatever they print; `show` never decodes the full part."""
    load_catalog(load_kb(kb_path))  # built
    lean, full = part_sizes(kb_path)
    listed = listing_size(kb_path)
    assert len({lean, full, listed}) == 3
    for args in (["list"], ["list", "--type", "rfi"], ["rfi", "list"], ["status"]):
        for shown in ([], ["--json"]):
            sizes = decoded(lambda args=args, shown=shown: cli(*args, *shown, kb=kb_path))
            assert listed in sizes and lean not in sizes and full not in sizes, (args, shown)
    entry_id = sorted(path.stem for path in iter_entry_files(kb_path))[0]
    for shown in ([], ["--json"]):
        sizes = decoded(lambda shown=shown: cli("show", entry_id, *shown, kb=kb_path))
        assert full not in sizes


def test_a_name_that_is_not_an_id_is_resolved_from_the_listing_part(cli, kb_path):
    """`show` of a mistyped name finds its closest ids by the titles the listing part keeps:
    neither card part is decoded, and the titles are the files' own."""
    load_catalog(load_kb(kb_path))  # built
    lean, full = part_sizes(kb_path)
    entry = read_entry(next(iter(iter_entry_files(kb_path))), kb_path)
    typed = entry.title[:-1] + "#"  # no id, no title: the closest are offered
    holder: list = []
    sizes = decoded(lambda: holder.append(cli("show", typed, kb=kb_path)))
    assert listing_size(kb_path) in sizes and lean not in sizes and full not in sizes
    result = holder[0]
    assert result.exit_code == 2 and entry.id in result.output and "did you mean" in result.output


def test_the_full_part_is_decoded_once_on_first_use_and_is_the_files(kb_path):
    kb = load_kb(kb_path)
    load_catalog(kb)
    lean, full = part_sizes(kb_path)
    catalog = load_catalog(kb)
    entries = catalog.entries
    assert all("lines" not in entry.__dict__ for entry in entries)

    def read_all() -> None:
        for entry in entries:
            read = read_entry(entry.path, kb.root, kb.limits)
            assert (entry.lines, entry.raw_values) == (read.lines, read.raw_values)

    assert decoded(read_all) == [full]
    assert_catalog_is_the_files(kb_path)


def test_a_full_part_changed_on_disk_is_never_decoded(kb_path):
    kb = load_kb(kb_path)
    load_catalog(kb)
    folder = kb_path / ".cacop" / record.read_record(kb_path).generation
    held = (folder / cards.FULL_CARDS).read_bytes()
    forged = held.replace(b"title", b"TITLE", 1)
    assert forged != held
    rewrite_unseen(folder / cards.FULL_CARDS, forged)
    catalog = load_catalog(kb)
    sizes = decoded(lambda: [entry.lines for entry in catalog.entries])
    assert len(forged) not in sizes  # never decoded: the lines come from the files
    for entry in catalog.entries:
        assert entry.lines == read_entry(entry.path, kb.root, kb.limits).lines


def test_an_index_with_other_fields_in_a_part_is_rebuilt(kb_path, monkeypatch):
    """Moving a field from one part to the other is one line in cards.py: an index kept
    before it is never decoded as if it held the new layout, and a field with a default
    on Entry (body_line) is still read from its part."""
    kb = load_kb(kb_path)
    load_catalog(kb)
    monkeypatch.setattr(cards, "LEAN", ("meta",))
    monkeypatch.setattr(cards, "FULL", ("lines", "raw_values", "body_line"))
    catalog = load_catalog(kb)
    assert any("keeps other fields" in notice for notice in catalog.notices)
    assert load_catalog(kb).notices == []
    assert_catalog_is_the_files(kb_path)


def test_an_index_with_other_fields_in_the_full_part_is_rebuilt(kb_path, monkeypatch):
    kb = load_kb(kb_path)
    load_catalog(kb)
    monkeypatch.setattr(cards, "FULL", ("raw_values", "lines"))
    catalog = load_catalog(kb)
    assert any("keeps other fields" in notice for notice in catalog.notices)
    for entry in catalog.entries:
        read = read_entry(entry.path, kb.root, kb.limits)
        assert (entry.lines, entry.raw_values) == (read.lines, read.raw_values)
    assert load_catalog(kb).notices == []


def plain_outputs(cli, root: Path) -> dict[str, tuple[int, str, str]]:
    entry_id = sorted(path.stem for path in iter_entry_files(root))[0]
    found = {}
    for args in (["list"], ["rfi", "list"], ["status"], ["show", entry_id]):
        result = cli(*args, kb=root)
        found[" ".join(args)] = (result.exit_code, result.stdout, result.stderr)
    return found


def test_plain_outputs_are_the_same_with_and_without_the_index(cli, git_kb):
    kept = plain_outputs(cli, git_kb)  # builds it
    assert kept["list"][0] == 0 and kept["list"][1].count("\n") >= 3
    assert plain_outputs(cli, git_kb) == kept  # from the catalog
    shutil.rmtree(git_kb / ".cacop")
    assert plain_outputs(cli, git_kb) == kept  # a new index
    shutil.rmtree(git_kb / ".cacop")
    (git_kb / ".cacop").write_text("not a folder")  # no index can be used: the files are read
    assert plain_outputs(cli, git_kb) == kept


@pytest.mark.parametrize(
    "args",
    [["list"], ["rfi", "list"], ["status"], ["gaps"], ["experts", "x"], ["digest"], ["validate"]],
)
def test_the_commands_that_read_the_catalog_start_the_scan_early(kb_path, monkeypatch, args):
    """They refresh the index as search does: the freshness scan runs in a second process
    while the CLI loads, and their refresh takes it instead of scanning again."""
    from kbtools import write_strategy

    from cacop_cli import scan
    from cacop_cli.index import build

    load_catalog(load_kb(kb_path))
    calls: list[int] = []
    real = build.scan_tree
    monkeypatch.setattr(build, "scan_tree", lambda *a: calls.append(1) or real(*a))
    write_strategy(kb_path, "alpha-2024-early-scan", body="started before the CLI loaded\n")
    scan.start_early([*args, "--kb", str(kb_path)])
    catalog = load_catalog(load_kb(kb_path))
    assert calls == [] and scan._early is None  # the early scan was taken, and saw the file
    assert "alpha-2024-early-scan" in {entry.id for entry in catalog.entries}


def test_every_field_of_a_card_is_in_one_part(kb_path):
    """A field added to entry_card but to neither part would be dropped without a word."""
    kb = load_kb(kb_path)
    for path in iter_entry_files(kb_path):
        kind, fields = cards.entry_card(read_entry(path, kb.root, kb.limits))
        assert kind == cards.ENTRY
        assert sorted(fields) == sorted({*cards.LEAN, *cards.FULL})
        assert not set(cards.LEAN) & set(cards.FULL)


def others_size(root: Path) -> int:
    """The size of the header of the part for outputs for others."""
    return columns_of(root, cards.OTHERS)[0]


@pytest.mark.parametrize(
    "args", [["gaps"], ["experts", "patrol"], ["digest", "--since", "2000-01-01"]]
)
def test_the_outputs_for_others_decode_the_listing_and_their_own_part_alone(cli, kb_path, args):
    """`gaps`, `experts` and `digest` read the listing and the part for outputs for others
    (authors, summary, pii_override, each text's scan key): neither card part is decoded."""
    load_catalog(load_kb(kb_path))  # built
    lean, full = part_sizes(kb_path)
    cli(*args, "--json", kb=kb_path)  # the personal-data findings are kept: not timed here
    for shown in ([], ["--json"]):
        holder: list = []
        sizes = decoded(lambda s=shown, h=holder: h.append(cli(*args, *s, kb=kb_path)))
        assert holder[0].exit_code == 0, holder[0].output
        assert listing_size(kb_path) in sizes and others_size(kb_path) in sizes, args
        assert lean not in sizes and full not in sizes, args


def test_an_entry_for_others_holds_the_files_fields_and_the_gates_scan_key(kb_path):
    """What the part for outputs for others gives of each entry is what its file holds, and
    its scan key is the one the gate keeps the file's findings by (publish._to_scan of the
    entry read from its file)."""
    from cacop_cli.index.columns import LISTED
    from cacop_cli.listing import load_listing
    from cacop_cli.publish import _to_scan

    kb = load_kb(kb_path)
    listing = load_listing(kb, others=True)
    assert listing.others is not None and len(listing) == len(list(iter_entry_files(kb_path)))
    for at in range(len(listing)):
        made = listing.entry_for_others(at, ("authors", "summary"))
        read = read_entry(made.path, kb.root, kb.limits)
        wanted = ("authors", "summary", "pii_override", *LISTED)
        assert made.meta == {name: read.meta[name] for name in wanted if name in read.meta}
        assert (made.id, made.type, made.title, made.rel) == (
            read.id,
            read.type,
            read.title,
            read.rel,
        )
        assert _to_scan(made).digest == _to_scan(read).digest
        assert made.body == read.body  # read from the file when a scan needs it


def test_a_prefix_names_an_unreadable_entry_and_a_response(cli, kb_path):
    """An unreadable file's id is named by a unique start of it (and `show` says why it
    cannot be read), and so is a response's."""
    broken = kb_path / "kb/strategies/zz-broken-entry.md"
    broken.write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    response = next(iter(sorted((kb_path / "kb/rfis").glob("*/responses/*.md"))))
    load_catalog(load_kb(kb_path))  # built: the broken file is catalogued as unreadable
    shown = cli("show", "zz-broken", kb=kb_path)
    assert shown.exit_code != 0 and "no entry has the id" not in shown.stderr
    assert "zz-broken-entry.md" in shown.stderr
    found = cli("show", response.stem[:-1], "--json", kb=kb_path)
    assert found.exit_code == 0, found.stderr
    assert json.loads(found.stdout)["id"] == response.stem


def test_a_plain_list_decodes_only_the_columns_it_prints(cli, kb_path):
    """Each column of the listing part is its own marshal data: a plain `list` decodes its
    lines and the ids (to tell pending entries), not the titles, paths or topics."""
    load_catalog(load_kb(kb_path))  # built
    _, size = columns_of(kb_path, cards.LISTING)
    read = {size["line"], size["id"]}
    sizes = decoded(lambda: cli("list", kb=kb_path))
    assert size["line"] in sizes and size["id"] in sizes
    for name in ("title", "rel", "topics"):
        assert size[name] in read or size[name] not in sizes, name
    every = decoded(lambda: cli("list", "--json", kb=kb_path))  # a JSON document reads more
    assert size["title"] in every and size["rel"] in every


def test_gaps_decodes_neither_the_authors_nor_the_summaries(cli, kb_path):
    """Each column of the part for outputs for others is decoded when read: `gaps` prints
    neither authors nor summaries and decodes neither (a text whose findings are not kept
    is read whole from its file); `digest` prints both."""
    load_catalog(load_kb(kb_path))  # built
    _, size = columns_of(kb_path, cards.OTHERS)
    sizes = decoded(lambda: cli("gaps", "--json", kb=kb_path))
    assert size["scan_key"] in sizes
    read = {size["scan_key"], size["pii_override"]}
    assert all(size[name] in read or size[name] not in sizes for name in ("authors", "summary"))
    sizes = decoded(lambda: cli("digest", "--since", "2000-01-01", kb=kb_path))
    assert size["authors"] in sizes and size["summary"] in sizes


def test_a_part_of_columns_is_read_back_as_written_or_refused_as_changed(tmp_path):
    """A part of columns is a table of lengths, a header, then each column's data, each read
    into bytes of its own; nothing is decoded unless all the bytes have the record's
    SHA-256, and anything not shaped so (other columns, cut short, a byte more, lengths
    that do not add up) is Changed: the index is rebuilt."""
    names = ("id", "title")
    values = [["a-1", "b-2"], ["Nibin leads", "Café — ünïcode"]]
    data = columns.columns_part(names, values, extra=([1, 0], []))

    def read(data: bytes, expected: str | None = None) -> tuple[dict, object]:
        expected = expected or hashlib.sha256(data).hexdigest()
        part = tmp_path / "part"  # a file: reading past its end asks for that much memory
        part.write_bytes(data)
        with part.open("rb") as handle:
            return columns.read_columns(handle, "part", names, expected)

    blobs, extra = read(data)
    assert extra == ([1, 0], [])
    columns_read = columns.Columns(blobs, 2)
    assert {name: columns_read[name] for name in names} == dict(zip(names, values, strict=True))
    longer = data[:4] + (10**6).to_bytes(8, "little") + data[12:]
    huge = data[:4] + (2**62).to_bytes(8, "little") + data[12:]  # never read: no MemoryError
    forged = [
        data[:-1],
        data + b"\0",
        data[:3],
        longer,
        huge,
        (2).to_bytes(4, "little") + data[4:],
        columns.columns_part(("id", "summary"), values),
    ]
    for bad in forged:
        with pytest.raises(record.Changed):
            read(bad)
    with pytest.raises(record.Changed):  # the very bytes written, but not those the record names
        read(data, hashlib.sha256(b"another").hexdigest())


def test_an_entrys_own_texts_are_kept_not_interned_and_shared_ones_interned(kb_path):
    """Marshal writes an interned text as such and interns it again on loading: an id or a
    title, unique to its entry, is kept as a plain text (a third of the time to decode the
    listing's ids and titles), a site or a topic interned (written once, referred to)."""
    import marshal

    interned = {ord("Z"), ord("A"), ord("t")}  # marshal's type codes for interned texts
    entry = read_entry(next(iter(iter_entry_files(kb_path))), kb_path)
    _, fields = cards.entry_card(entry)
    meta = fields["meta"]

    def kind(text: str) -> int:
        return marshal.dumps(text)[0] & 0x7F

    assert kind(meta["id"]) not in interned and kind(meta["title"]) not in interned
    assert kind(meta["site"]) in interned and kind(meta["topics"][0]) in interned
    assert meta == entry.meta


def test_names_are_resolved_from_the_listing_as_from_the_folders(kb_path, monkeypatch):
    """With an index, a name that is not a top folder's file (a prefix, a response's id, a
    title, a typo) is resolved from the listing after its freshness check, never by walking
    the folders; it names what the folders name: an unreadable file, a response, the
    first in the walk's order of one name in two folders, a file added since the index."""
    from cacop_cli import entries
    from cacop_cli.errors import NotFound, UsageError

    broken = kb_path / "kb/strategies/zz-broken-entry.md"
    broken.write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    response = sorted((kb_path / "kb/rfis").glob("*/responses/*.md"))[-1]
    twice = kb_path / "kb/rfis" / response.parent.parent.name / "responses" / "aa-twice.md"
    shutil.copy(response, twice)
    shutil.copy(broken, kb_path / "kb/rfis/aa-twice.md")  # first in the walk, unreadable
    kb = load_kb(kb_path)
    walked = entries._entry_rels_by_id(kb)
    names = ["zz-broken", response.stem, response.stem[:-1], "aa-twi", "nosuch-at-all"]
    readable = [
        path for path in sorted(kb.kb_dir.glob("*/*.md")) if path.name[:3] not in ("aa-", "zz-")
    ]
    names += [read_entry(path, kb.root).title for path in readable[:2]]

    def answers() -> list[str]:
        found = []
        for name in names:
            try:
                found.append(entries.resolve_id(kb, name))
            except (NotFound, UsageError) as refused:
                found.append(f"{type(refused).__name__}: {refused}")
        return found

    shutil.rmtree(kb_path / ".cacop", ignore_errors=True)
    assert entries.resolve_id(kb, response.stem[:-1]) == response.stem
    assert not (kb_path / ".cacop/record.json").exists()  # no index: a prefix builds none
    with monkeypatch.context() as walking:
        walking.setattr(entries, "_from_listing", lambda kb, answer: None)
        without_index = answers()  # the folders walked (a miss reads the titles: built)
    load_catalog(kb)
    assert entries._from_listing(kb, lambda listed, _: listed) == walked
    monkeypatch.setattr(entries, "_entry_rels_by_id", lambda kb: pytest.fail("walked"))
    assert answers() == without_index
    assert without_index[:4] == [broken.stem, response.stem, response.stem, "aa-twice"]
    assert entries.locate(kb, response.stem) == response
    shutil.copy(broken, kb_path / "kb/strategies/zz-added-since.md")
    assert entries.resolve_id(kb, "zz-added") == "zz-added-since"


@pytest.mark.parametrize("named", ["a prefix", "a response", "a typo"])
def test_show_starts_the_scan_early_unless_it_names_a_top_folders_file(kb_path, named):
    from cacop_cli import scan

    entry = sorted((kb_path / "kb/strategies").glob("*.md"))[0]
    response = sorted((kb_path / "kb/rfis").glob("*/responses/*.md"))[0]
    given = {"a prefix": entry.stem[:-2], "a response": response.stem, "a typo": "nosuch"}
    try:
        scan.start_early(["--kb", str(kb_path), "show", given[named], "--json"])
        assert scan._early is not None and scan._early[0] == str(kb_path.resolve())
    finally:
        scan.take(kb_path.resolve())
    for args in (["show", entry.stem], ["show", "--json", entry.stem], ["show"]):
        scan.start_early(["--kb", str(kb_path), *args])
        assert scan._early is None, args


def _parts_decoded(root: Path) -> dict[str, object]:
    """The listing and the part for outputs for others as a reader decodes them."""
    listed, newest, unreadable = columns.load_listing(root)
    others = columns.load_others(root, len(newest))
    return {"listing": dict(listed), "newest": newest, "unreadable": unreadable,
            "others": dict(others)}  # fmt: skip


def _part_bytes(root: Path, part: str) -> bytes:
    return (root / ".cacop" / record.read_record(root).generation / part).read_bytes()


def test_an_update_makes_the_columns_a_rebuild_makes_and_keeps_those_unchanged(kb_path):
    """An update makes the listing's and the other part's rows of the files it indexed
    again, and takes the others from the previous parts: each kind of change (a body, a
    title and a date, an entry added, removed, made unreadable, read again) leaves the parts
    a rebuild writes; an edit of a body alone keeps every listing column as it was."""
    from cacop_cli import search

    kb = load_kb(kb_path)
    load_catalog(kb)
    strategies = sorted((kb_path / "kb/strategies").glob("*.md"))
    first, second = strategies[0], strategies[1]
    response = sorted((kb_path / "kb/rfis").glob("*/responses/*.md"))[0]
    text = first.read_text(encoding="utf-8")
    broken = "---\ntitle: [unclosed\n---\nbody\n"

    dated = text.replace("created: ", "created: 2001-01-01 #", 1).replace("title: ", "title: Z ", 1)
    answer = response.read_text(encoding="utf-8")
    status_one = dated.replace("status: ", "status: 1 #", 1)  # then `true`: equal in Python
    status_true = dated.replace("status: ", "status: true #", 1)
    changes = [  # each: edit the files; are the listing's and the other part's bytes kept?
        (lambda: first.write_text(text + "\nA new paragraph.\n", encoding="utf-8"), True, False),
        (lambda: first.write_text(dated, encoding="utf-8"), False, False),
        (lambda: shutil.copy(second, second.with_name("aa-copy-" + second.name)), False, False),
        (lambda: second.unlink(), False, False),
        (lambda: response.write_text(broken, encoding="utf-8"), False, False),
        (lambda: response.write_text(answer + "\nMore.\n", encoding="utf-8"), False, False),
        (lambda: first.write_text(status_one, encoding="utf-8"), False, True),  # was `dated`
        (lambda: first.write_text(status_true, encoding="utf-8"), False, True),
        (lambda: [first.write_text(text, encoding="utf-8"),
                  shutil.copy(first, kb_path / "kb/strategies/ab-new.md")], False, False),
    ]  # the last: a file changed while another comes  # fmt: skip

    for change, listing_kept, others_kept in changes:
        before = _part_bytes(kb_path, cards.LISTING), _part_bytes(kb_path, cards.OTHERS)
        change()
        aged_ctimes(kb_path)
        assert search.refresh(kb).unchanged is None  # updated, not rebuilt
        updated = _parts_decoded(kb_path)
        assert (_part_bytes(kb_path, cards.LISTING) == before[0]) is listing_kept
        assert (_part_bytes(kb_path, cards.OTHERS) == before[1]) is others_kept
        search.rebuild(kb)
        assert updated == _parts_decoded(kb_path)
