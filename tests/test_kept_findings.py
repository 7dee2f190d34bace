"""The gate's findings kept between runs (share/scancache.py) are those a fresh scan gives:
on any day (ages of dates of birth move), whichever command kept them, and without reading
the bodies of entries whose findings are kept."""

from __future__ import annotations

import datetime as dt

import pytest
from kbtools import strategy_text, write_strategy

from cacop_cli import community, digest
from cacop_cli.catalog import load_catalog
from cacop_cli.config import load_kb
from cacop_cli.models import text_digest
from cacop_cli.publish import choose_line, for_others
from cacop_cli.share import gates, scancache

# On 2026-03-10 the suspect is 17 (a juvenile) and turns 18 the next day; the witness is
# born the next day (not yet a date of birth beside a name); the old man is 110, then 111
# (past the age a date beside a name can be a date of birth).
DATED = """## People

Suspect DOB: 03/11/2008, seen twice.
SMITH, JOHN (20080311) arrested on the 2nd.
Jane Doe 20260311 is the witness.
Old Man 19150311 lives next door.

| Name | DOB |
| --- | --- |
| A. Person | 2008-03-11 |
"""
DAYS = [dt.date(2026, 3, 10), dt.date(2026, 3, 11), dt.date(2030, 1, 1), dt.date(2026, 3, 9)]


def test_kept_findings_equal_a_fresh_scan_on_every_day(tmp_path, texts_scanned):
    place = tmp_path / ".cacop" / "scan"
    text = scancache.Text("kb/strategies/x.md", text_digest(DATED), lambda: DATED)
    messages = set()
    for day in DAYS:
        fresh = gates.scan_many([(text.path, DATED)], day)
        kept = scancache.scan_texts(place, [text], today=day, email_allowlist=())
        assert kept == fresh, day
        messages |= {finding.message for finding in fresh[text.path]}
    assert "a date of birth (age 17: a juvenile)" in messages  # the day moved the ages
    assert "a date of birth (age 18)" in messages
    assert all("\x00" not in message for message in messages)


def test_a_kept_scan_holds_only_on_the_days_its_date_decisions_hold(tmp_path, texts_scanned):
    place = tmp_path / ".cacop" / "scan"
    text = scancache.Text("a.md", text_digest(DATED), lambda: DATED)
    scancache.scan_texts(place, [text], today=dt.date(2026, 3, 10), email_allowlist=())
    assert texts_scanned == [1]
    scancache.scan_texts(place, [text], today=dt.date(2026, 3, 10), email_allowlist=())
    assert texts_scanned == [1]  # kept
    scancache.scan_texts(place, [text], today=dt.date(2026, 3, 11), email_allowlist=())
    assert texts_scanned == [1, 1]  # the witness's date is now past: scanned again
    plain = "Suspect DOB: 03/11/2008.\n"
    only_ages = scancache.Text("b.md", text_digest(plain), lambda: plain)
    fresh = [gates.scan_many([("b.md", plain)], day) for day in DAYS]
    del texts_scanned[2:]
    for day, expected in zip(DAYS, fresh, strict=True):  # ages alone never need a new scan
        found = scancache.scan_texts(place, [only_ages], today=day, email_allowlist=())
        assert found == expected and found["b.md"][0].kind == "date-of-birth"
    assert texts_scanned == [1, 1, 1]


def test_the_per_file_cache_gives_a_fresh_scans_findings_on_every_day(tmp_path, texts_scanned):
    cache = tmp_path / ".cacop" / "extract"
    data = DATED.encode()
    for path in ("notes/people.md", "notes/people.csv"):
        for day in DAYS:
            options = {"max_tlp": "green", "today": day, "email_allowlist": ()}
            fresh = gates.scan_file(data, path, cache_dir=None, **options)
            assert gates.scan_file(data, path, cache_dir=cache, **options) == fresh, (path, day)
            assert gates.scan_file(data, path, cache_dir=cache, **options) == fresh, (path, day)
    records = list(scancache.folder(cache).glob("*.json"))
    assert 2 <= len(records) < 2 * len(DAYS)  # kept across days where nothing moved


def test_gaps_then_digest_then_gaps_scans_nothing_the_third_time(kb_path, texts_scanned):
    """Each command judges its own entries; the texts file keeps them all, so no command
    evicts another's findings."""
    for number in range(3):  # stale strategies, which gaps lists
        write_strategy(kb_path, f"alpha-2020-stale-{number}", body=f"Old work {number}.\n")
    for number in range(3):  # strategies of this week, which digest lists
        path = kb_path / "kb" / "strategies" / f"alpha-2026-new-{number}.md"
        text = strategy_text(f"alpha-2026-new-{number}", body=f"New work {number}.\n")
        path.write_text(text.replace("2024-03-05", "2026-03-06"), encoding="utf-8")
    today = dt.date(2026, 3, 10)
    kb = load_kb(kb_path)
    stale = {entry.id for entry, _ in community.gaps(kb, today=today).stale}
    assert {f"alpha-2020-stale-{number}" for number in range(3)} <= stale
    assert texts_scanned and texts_scanned[-1] >= 3
    added = {entry.id for entry in digest.digest(kb, today=today).added}
    assert {f"alpha-2026-new-{number}" for number in range(3)} <= added
    assert len(texts_scanned) == 2 and texts_scanned[-1] >= 3  # digest's own texts
    assert {entry.id for entry, _ in community.gaps(kb, today=today).stale} == stale
    assert {entry.id for entry in digest.digest(kb, today=today).added} == added
    assert len(texts_scanned) == 2  # nothing scanned again
    # a day later: ages move, nothing is scanned again
    assert {entry.id for entry, _ in community.gaps(kb, today=today.replace(day=11)).stale}
    assert len(texts_scanned) == 2


def test_kept_findings_need_no_entry_bodies(kb_path, texts_scanned):
    write_strategy(kb_path, "alpha-2024-leaky", body="Born 03/04/1990, SSN 078-05-1120.\n")
    today = dt.date(2026, 3, 10)
    kb = load_kb(kb_path)

    def judged() -> tuple[set[str], list]:
        entries = load_catalog(kb).entries
        return for_others(entries, choose_line(kb, "red"), today), entries

    first, _ = judged()
    assert not any(rel.endswith("alpha-2024-leaky.md") for rel in first)
    again, entries = judged()
    assert again == first and len(texts_scanned) == 1
    assert all(entry.__dict__.get("_body") is None for entry in entries)  # no body read
    assert all(entry.body_sha256 for entry in entries)  # from the index's cards


def test_the_age_mark_is_one_text():
    from cacop_cli.share import personal

    assert scancache.AGE_MARK == personal.AGE_MARK  # scancache tests for it without the patterns


def test_a_kept_record_not_of_its_shape_is_scanned_again(tmp_path, texts_scanned):
    place = tmp_path / ".cacop" / "scan"
    leak = "DOB: 03/04/1990\n"
    text = scancache.Text("a.md", text_digest(leak), lambda: leak)
    today = dt.date(2026, 3, 10)
    stamp = scancache.json.dumps([scancache._versions(), ()])
    for record in (["x", 1, 9, []], [1, 2], [today.toordinal(), 1, 3652059, [["a"]]]):
        scancache._store_texts(place / scancache.TEXTS_FILE, stamp, {text.digest: record})
        found = scancache.scan_texts(place, [text], today=today, email_allowlist=())
        assert found["a.md"][0].kind == "date-of-birth", record
    assert texts_scanned == [1, 1, 1]


def test_a_mark_that_is_no_date_ages_to_a_plain_date_of_birth():
    from cacop_cli.share import personal

    day = dt.date(2026, 3, 10)
    assert personal.aged("\x00born 2024-13-45\x00 in column 'DOB'", day) == (
        "a date of birth in column 'DOB'"
    )
    assert personal.aged("\x00born 2010-03-10\x00", day) == "a date of birth (age 16: a juvenile)"


def test_the_stamp_names_the_installed_releases_as_importlib_metadata_does(tmp_path, monkeypatch):
    """texts.json's stamp reads each release from its dist-info folder's name, without
    importlib.metadata: the same release it gives, and a new one changes the stamp."""
    from importlib import metadata

    for name in ("detect-secrets", "phonenumbers", "PyYAML", "whoosh3"):
        assert scancache._installed(name) == metadata.version(name), name
    assert scancache._installed("no-such-distribution-here") == "-"
    first, second = tmp_path / "first", tmp_path / "second"
    (first / "Detect.Secrets-9.1.dist-info").mkdir(parents=True)
    (second / "detect_secrets-9.2.dist-info").mkdir(parents=True)
    monkeypatch.setattr(scancache.sys, "path", [str(first), str(second), *scancache.sys.path])
    assert scancache._installed("detect-secrets") == "9.1"  # the first along sys.path
    (first / "Detect.Secrets-9.1.dist-info").rename(first / "detect_secrets-9.3.dist-info")
    assert scancache._installed("detect-secrets") == "9.3"
    (first / "detect_secrets-9.3.dist-info").rmdir()
    (first / "detect_secrets.egg-info").mkdir()  # no release in the name: asked of metadata
    asked = []
    monkeypatch.setattr(scancache, "_metadata_version", lambda name: asked.append(name) or "x")
    assert scancache._installed("detect-secrets") == "x" and asked == ["detect-secrets"]


def test_entry_texts_stamp_loads_neither_importlib_metadata_nor_text_extraction():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from cacop_cli.share import scancache\n"
        "scancache._versions()\n"
        "print(sorted({'importlib.metadata', 'cacop_cli.textextract'} & set(sys.modules)))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def _many_texts(count: int) -> list[scancache.Text]:
    """`count` entry texts, one in three holding personal data of a different kind."""
    kinds = [
        "Call the victim's mother at (414) 555-0{n:03d} after 5pm.",
        "Suspect DOB: 03/11/2008, case {n}.",
        "Write to tipster{n}@gmail.com for the list.",
    ]
    texts = []
    for number in range(count):
        body = f"# Note {number}\n\nPatrols near block {number} cut shots fired.\n"
        if number % 3 == 0:
            body += kinds[number // 3 % len(kinds)].format(n=number % 1000) + "\n"
        texts.append(
            scancache.Text(
                f"kb/strategies/n{number}.md", text_digest(body), lambda body=body: body
            )  # fmt: skip
        )
    return texts


def test_many_texts_are_scanned_in_batches_by_two_processes_as_one_scan_finds(
    tmp_path, monkeypatch, texts_scanned
):
    """A large scan (the first `gaps` of a large KB) is split in batches and between two
    processes; what each text is found to hold is what a scan of it alone finds, and the
    parent scans only its half when the child answers."""
    from cacop_cli import scan

    monkeypatch.setattr(scancache, "BATCH_CHARS", 4_000)
    texts = _many_texts(scancache.SPLIT_FROM + 40)
    day = dt.date(2026, 3, 10)
    found = scancache.scan_texts(tmp_path / "scan", texts, today=day, email_allowlist=())
    alone = {}
    for text in texts:
        alone.update(gates.scan_many([(text.path, text.text())], day))
    assert found == alone
    assert len(found) >= len(texts) // 3  # one text in three holds something
    if scan.in_second_process(lambda: 1)() == 1:  # fork works here: the child took half
        assert sum(texts_scanned[: -len(texts)]) == len(texts) - len(texts) // 2
        assert max(texts_scanned[: -len(texts)]) < len(texts) // 4  # in batches


def test_a_child_that_fails_leaves_its_half_to_the_parent(tmp_path, monkeypatch):
    from cacop_cli import scan

    monkeypatch.setattr(scan, "in_second_process", lambda work: lambda: None)
    texts = _many_texts(scancache.SPLIT_FROM + 2)
    day = dt.date(2026, 3, 10)
    found = scancache.scan_texts(tmp_path / "scan", texts, today=day, email_allowlist=())
    monkeypatch.setattr(scan, "in_second_process", lambda work: lambda: [["forged", []]])
    again = scancache.scan_texts(tmp_path / "other", texts, today=day, email_allowlist=())
    assert found == again
    assert {text.path for text in texts if text.path in found} == {path for path in found} and len(
        found
    ) >= len(texts) // 3


def test_a_text_the_child_scanned_holds_only_on_its_own_days(tmp_path, monkeypatch):
    """The days a kept finding holds on are narrowed in the process that judged its dates:
    a text of the child's half is scanned again on the day its decision changes."""
    monkeypatch.setattr(scancache, "BATCH_CHARS", 4_000)
    dated = scancache.Text("kb/strategies/dated.md", text_digest(DATED), lambda: DATED)
    texts = [*_many_texts(scancache.SPLIT_FROM + 10), dated]  # the last: in the child's half
    place = tmp_path / "scan"
    for day in DAYS:
        kept = scancache.scan_texts(place, texts, today=day, email_allowlist=())
        assert kept[dated.path] == gates.scan_many([(dated.path, DATED)], day)[dated.path], day


@pytest.mark.parametrize("where", ["title", "summary", "authors", "body"])
def test_personal_data_in_any_scanned_field_keeps_an_entry_out_of_the_outputs(kb_path, where):
    """The outputs for others read entries from the index's listing; a text whose findings
    are not kept yet is scanned whole (title, summary, authors and body), so personal data
    in any of them keeps the entry out, as the sharing gate would."""
    import shutil

    marked = "Call tipster.jones@gmail.com about the list"
    fields = {
        "title": f'title: "{marked}"\n',
        "summary": f'summary: "{marked}"\n',
        "authors": 'authors: ["tipster.jones@gmail.com"]\n',
    }
    text = strategy_text("alpha-2020-stale-marked", body=f"## Problem\n\n{marked}.\n")
    if where != "body":
        text = strategy_text("alpha-2020-stale-marked")
        name = "title" if where == "title" else "authors" if where == "authors" else None
        if name:
            text = "\n".join(
                fields[name].rstrip("\n") if line.startswith(f"{name}:") else line
                for line in text.split("\n")
            )
        else:
            text = text.replace("status: active\n", "status: active\n" + fields["summary"])
    text = text.replace("created: 2024-03-05", "created: 2020-03-05")
    (kb_path / "kb/strategies/alpha-2020-stale-marked.md").write_text(text, encoding="utf-8")
    kb = load_kb(kb_path)
    load_catalog(kb)  # indexed
    shutil.rmtree(kb_path / ".cacop" / "scan", ignore_errors=True)  # nothing kept: scanned
    today = dt.date(2026, 12, 7)
    report = community.gaps(kb, today=today)
    assert "alpha-2020-stale-marked" not in {entry.id for entry, _ in report.stale}, where
    assert report.line.personal >= 1
    again = community.gaps(kb, today=today)  # and from the kept findings
    assert "alpha-2020-stale-marked" not in {entry.id for entry, _ in again.stale}, where


def test_a_long_scan_shows_what_it_checks_and_ends_its_bar(tmp_path, monkeypatch):
    """The first gaps of a large KB scans for a while: the running command's progress
    callback hears how far it is, under its own label, and that it is done."""
    from cacop_cli import progress

    monkeypatch.setattr(scancache, "BATCH_CHARS", 4_000)
    heard: list[tuple[int, int, str]] = []
    token = progress.current.set(lambda done, total, what="": heard.append((done, total, what)))
    try:
        texts = _many_texts(scancache.SPLIT_FROM + 40)
        day = dt.date(2026, 3, 10)
        scancache.scan_texts(tmp_path / "scan", texts, today=day, email_allowlist=())
    finally:
        progress.current.reset(token)
    total = len(texts)
    assert heard and heard[-1] == (total, total, scancache.CHECKING)
    assert all(what == scancache.CHECKING and 0 < done <= total for done, _, what in heard)
    assert [done for done, _, _ in heard] == sorted(done for done, _, _ in heard)
    assert len(heard) > 2  # batch by batch, not only at the end
