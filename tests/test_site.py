"""`cacop site build` and `site serve`: only what may leave is published (the words of red,
amber, personal-data and unreadable-attachment entries appear in no file of the site), the
build fails closed, every page carries its banner and policy, and links stay inside."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cacop_cli.errors import ExitCode

REPO = Path(__file__).parent.parent
TODAY = "2026-12-01"
SECRET_WORDS = ("zanzibarquokka", "amberwombatfjord", "piiplatypusmarker", "pngnarwhalmarker")
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000000000200015e0d2ea20000000049454e44ae426082"
)


def entry(folder: str, entry_id: str, fields: str, body: str) -> tuple[str, str]:
    return (f"kb/{folder}/{entry_id}.md", f"---\nid: {entry_id}\n{fields}---\n{body}")


COMMON = "site: milwaukee\nauthors: [T. Tester]\ncreated: 2026-11-20\ntopics: [gun-violence]\n"
STRATEGY = "type: strategy\nstatus: active\nevidence: promising\n"
ADDED = dict(
    [
        entry(
            "strategies",
            "milwaukee-2026-zanzibarquokka-plan",
            f"{STRATEGY}title: Zanzibarquokka red plan\n{COMMON}tlp: red\n",
            "Zanzibarquokka is for named recipients only.\n",
        ),
        entry(
            "work-products",
            "milwaukee-2026-amberwombatfjord-list",
            "type: work-product\ntitle: Amberwombatfjord target list\n"
            f"{COMMON}tlp: amber\nproduct_type: report\nsummary: Amberwombatfjord summary.\n",
            "Amberwombatfjord inside.\n",
        ),
        entry(
            "strategies",
            "milwaukee-2026-piiplatypusmarker-case",
            f"{STRATEGY}title: Piiplatypusmarker case review\n{COMMON}tlp: green\n",
            "Victim piiplatypusmarker, born 2010-04-02, phone (414) 286-2411.\n",
        ),
        entry(
            "work-products",
            "milwaukee-2026-pngnarwhalmarker-map",
            "type: work-product\ntitle: Pngnarwhalmarker hot spot map\n"
            f"{COMMON}tlp: green\nproduct_type: map\nsummary: Pngnarwhalmarker map.\n"
            "attachments: [pngnarwhalmarker.png]\n",
            "A map of pngnarwhalmarker places.\n",
        ),
        entry(
            "strategies",
            "milwaukee-2026-raw-html-is-text",
            f"{STRATEGY}title: Raw HTML stays text\n{COMMON}tlp: green\n"
            "related: [milwaukee-2026-zanzibarquokka-plan, milwaukee-2024-cgic-nibin-lead-"
            "follow-up-within-48-hours]\n",
            "Before <script>alert('x')</script> and <img src=x onerror=alert(1)> after.\n\n"
            "[click](javascript:alert(1)) and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        ),
    ]
)


def make_kb(target: Path) -> Path:
    """The bundled kb/ plus the entries above (a PNG beside the map)."""
    for name in ("cacop.yaml", "kb", "schemas"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        elif source.is_file():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / name)
    for rel, text in ADDED.items():
        (target / rel).write_text(text, encoding="utf-8")
    folder = target / "kb/work-products/milwaukee-2026-pngnarwhalmarker-map"
    folder.mkdir()
    (folder / "pngnarwhalmarker.png").write_bytes(PNG)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The site of the bundled KB and the hostile entries, built once: (kb, out, result)."""
    from typer.testing import CliRunner

    from cacop_cli.cli import app

    base = tmp_path_factory.mktemp("site")
    kb = make_kb(base / "kb-repo")
    out = base / "out"
    result = CliRunner().invoke(
        app, ["--kb", str(kb), "site", "build", str(out), "--today", TODAY, "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    return kb, out, result


def test_nothing_above_the_line_or_holding_personal_data_appears_anywhere(built):
    _, out, result = built
    files = [path for path in out.rglob("*") if path.is_file()]
    assert len(files) > 60
    for path in files:
        data = path.read_bytes().lower()
        for word in SECRET_WORDS:
            assert word.encode() not in data, f"{word} leaked into {path.relative_to(out)}"
    assert not (out / "milwaukee-2026-zanzibarquokka-plan").exists()


def test_the_gate_names_each_refused_entry_and_the_build_fails_closed(built):
    _, _, result = built
    assert result.exit_code == ExitCode.PROBLEMS
    document = json.loads(result.stdout)
    refused = {item["path"]: " ".join(item["reasons"]) for item in document["refused"]}
    assert set(refused) == {
        "kb/strategies/milwaukee-2026-piiplatypusmarker-case.md",
        "kb/work-products/milwaukee-2026-pngnarwhalmarker-map.md",
    }
    assert "date-of-birth" in refused["kb/strategies/milwaukee-2026-piiplatypusmarker-case.md"]
    assert "phone" in refused["kb/strategies/milwaukee-2026-piiplatypusmarker-case.md"]
    assert "cannot be read in full" in refused[
        "kb/work-products/milwaukee-2026-pngnarwhalmarker-map.md"
    ]  # fmt: skip
    assert document["left_out_above_tlp"] == 2
    assert "left out: kb/strategies/milwaukee-2026-piiplatypusmarker-case.md" in result.stderr
    assert "--skip-refused" in result.stderr
    assert "Traceback" not in result.stderr


def test_skip_refused_publishes_the_rest_and_exits_0(cli, tmp_path):
    kb = make_kb(tmp_path / "kb-repo")
    for rel in list(ADDED)[:3]:
        (kb / rel).unlink()  # leave only the PNG entry to refuse, to keep this quick
    out = tmp_path / "out"
    result = cli("site", "build", str(out), "--skip-refused", "--today", TODAY, kb=kb)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "pngnarwhalmarker" in result.stderr  # named for the analyst, never published
    assert not (out / "milwaukee-2026-pngnarwhalmarker-map").exists()
    assert (out / "milwaukee-2026-raw-html-is-text" / "index.html").is_file()


def test_an_entry_page_escapes_raw_html_and_links_only_to_what_is_published(built):
    _, out, _ = built
    page = (out / "milwaukee-2026-raw-html-is-text" / "index.html").read_text("utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<img src=x" not in page and "onerror=alert(1)&gt;" in page
    assert 'href="javascript:' not in page
    assert "<table>" in page
    assert 'href="../milwaukee-2024-cgic-nibin-lead-follow-up-within-48-hours/index.html"' in page
    assert "zanzibarquokka" not in page.lower()


def test_every_page_has_the_policy_the_banner_and_relative_links_that_resolve(built):
    _, out, _ = built
    pages = sorted(out.rglob("*.html"))
    assert (out / "index.html") in pages and len(pages) > 60
    for path in pages:
        page = path.read_text("utf-8")
        assert "default-src 'none'; script-src 'self'; style-src 'self'" in page, path
        assert page.count('class="tlp tlp-') == 2, path  # top and bottom
        assert "Last updated <time>" in page
        assert " style=" not in page, path  # the policy would block inline styles
        chrome = re.sub(r'<article class="body">.*?</article>', "", page, flags=re.S)
        for target in re.findall(r'(?:href|src)="([^"]+)"', chrome):
            assert not re.match(r"(?i)^(?:[a-z][a-z0-9+.-]*:|//)", target), (path, target)
            if target.startswith("#"):
                continue
            resolved = (path.parent / target.split("#")[0]).resolve()
            assert resolved.exists(), f"{path.relative_to(out)} links to missing {target}"
    for name in ("site.css", "search.js"):  # nothing is fetched from elsewhere
        assert "http" not in (out / "assets" / name).read_text("utf-8")


def test_pages_for_topics_sites_types_the_board_the_map_and_who_to_ask(built):
    _, out, _ = built
    for rel in ("topics/gun-violence", "sites/milwaukee", "types/strategy", "types/rfi",
                "rfis", "map", "experts"):  # fmt: skip
        assert (out / rel / "index.html").is_file(), rel
    board = (out / "rfis" / "index.html").read_text("utf-8")
    for heading in ("Overdue", "Due within", "Open", "Answered"):
        assert f">{heading}" in board
    heat = (out / "map" / "index.html").read_text("utf-8")
    assert 'href="../sites/milwaukee/index.html#topic-gun-violence"' in heat
    assert "entries (" in heat  # the count in words, not the colour alone
    attachment = out / "milwaukee-2025-nibin-leads-tracking-csv-layout" / "nibin-leads-tracker.csv"
    assert attachment.is_file()
    index = (out / "assets" / "search-index.js").read_text("utf-8")
    assert index.startswith("window.CACOP_SEARCH_INDEX=")
    data = json.loads(index[len("window.CACOP_SEARCH_INDEX=") :].rstrip().rstrip(";"))
    assert any(["atf"] in group for group in data["groups"])  # the vocabulary travels along


def test_max_tlp_above_green_is_refused_and_nothing_is_written(cli, kb_path, tmp_path):
    result = cli("site", "build", str(tmp_path / "out"), "--max-tlp", "amber", kb=kb_path)
    assert result.exit_code == ExitCode.USAGE
    assert "at most TLP:GREEN" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_folder_it_did_not_write_is_never_replaced(cli, kb_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.docx").write_text("mine")
    result = cli("site", "build", str(out), kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    assert (out / "thesis.docx").read_text() == "mine"


def test_a_rebuild_drops_the_page_of_an_entry_now_above_the_line(cli, kb_path, tmp_path):
    out = tmp_path / "out"
    assert cli("site", "build", str(out), kb=kb_path).exit_code == ExitCode.OK
    pages = sorted(p.parent.name for p in out.glob("*/index.html"))
    victim = next(p for p in (kb_path / "kb" / "strategies").glob("*.md"))
    entry_id = victim.stem
    assert entry_id in pages
    victim.write_text(victim.read_text("utf-8").replace("tlp: green", "tlp: amber")
                      .replace("tlp: clear", "tlp: amber"), encoding="utf-8")  # fmt: skip
    assert cli("site", "build", str(out), kb=kb_path).exit_code == ExitCode.OK
    assert not (out / entry_id).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_serve_answers_on_127_0_0_1_only(cacop_exe, kb_path, tmp_path):
    out = tmp_path / "out"
    subprocess.run([*cacop_exe, "--kb", str(kb_path), "site", "build", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    server = subprocess.Popen(
        [*cacop_exe, "site", "serve", str(out), "--port", "0"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = server.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url.group() + "index.html", timeout=5) as response:
                    assert b"Content-Security-Policy" in response.read()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_without_a_site_says_to_build_one(cli, tmp_path):
    result = cli("site", "serve", str(tmp_path), "--port", "0")
    assert result.exit_code == ExitCode.USAGE
    assert "cacop site build" in result.stderr


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX paths in the fixtures")


def test_the_gate_remembers_by_content_and_never_trusts_a_planted_record(
    cli, kb_path, tmp_path, monkeypatch
):
    """A rebuild rescans only changed files; a record of "nothing found" that this user did
    not seal (committed with git add -f and pulled, or copied) is a miss, so the entry is
    still refused; the same record under this user's seal would be believed."""
    from cacop_cli import sealed
    from cacop_cli.site import kept

    rel = "kb/strategies/milwaukee-2026-piiplatypusmarker-case.md"
    text = ADDED[rel]
    (kb_path / rel).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    first = cli("site", "build", str(out), "--today", TODAY, kb=kb_path)
    assert first.exit_code == ExitCode.PROBLEMS and "piiplatypusmarker" in first.stderr
    cache = kb_path / ".cacop" / "site-gate.json"
    payload = sealed.opened(cache, cache.read_bytes())
    assert payload is not None
    head, _, kept_text = payload.partition(b"\n")
    stamp, record = json.loads(head)["stamp"], json.loads(kept_text)
    assert any(rows for _, _, rows in record["findings"].values())
    nothing = {  # "nothing found", on the same days
        **record,
        "findings": {key: [*kept[:2], []] for key, kept in record["findings"].items()},
    }
    with monkeypatch.context() as another_user:
        another_user.setenv("XDG_STATE_HOME", str(tmp_path / "another-user"))
        kept.write(cache, stamp, nothing)
    again = cli("site", "build", str(out), "--today", TODAY, kb=kb_path)
    assert again.exit_code == ExitCode.PROBLEMS and "date-of-birth" in again.stderr
    assert not (out / "milwaukee-2026-piiplatypusmarker-case").exists()

    kept.write(cache, stamp, nothing)  # this user's own seal is trusted: it decides
    believed = cli("site", "build", str(tmp_path / "believed"), "--today", TODAY, kb=kb_path)
    assert believed.exit_code == ExitCode.OK, believed.stderr

    (kb_path / rel).write_text(text.replace(", born 2010-04-02, phone (414) 286-2411", ""))
    fixed = cli("site", "build", str(out), "--today", TODAY, kb=kb_path)
    assert fixed.exit_code == ExitCode.OK, fixed.stderr
    assert (out / "milwaukee-2026-piiplatypusmarker-case" / "index.html").is_file()


def test_an_id_that_names_a_folder_of_the_site_or_another_entry_is_refused(cli, kb_path, tmp_path):
    source = next((kb_path / "kb" / "strategies").glob("*.md"))
    text = source.read_text("utf-8")
    old_id = source.stem
    (kb_path / "kb" / "strategies" / "assets.md").write_text(
        text.replace(f"id: {old_id}", "id: assets"), encoding="utf-8"
    )
    (kb_path / "kb" / "strategies" / "zz-copy.md").write_text(text, encoding="utf-8")
    result = cli("site", "build", str(tmp_path / "out"), "--json", kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    refused = {item["path"]: item["reasons"][0] for item in json.loads(result.stdout)["refused"]}
    assert "one of the site's own folders" in refused["kb/strategies/assets.md"]
    assert f"is also kb/strategies/{old_id}.md" in refused["kb/strategies/zz-copy.md"]
    assert (tmp_path / "out" / "assets" / "search.js").is_file()


# On 2026-03-10 the suspect is 17 (a juvenile) and 18 the next day: only the age moves. The
# witness is born the next day (not yet a date of birth beside a name), the old man turns
# 111 (past the age a date beside a name can be one): those decisions change on 03-11.
ONLY_AGES = "Suspect DOB: 03/11/2008, seen twice.\n"
DECISIONS = "Jane Doe 20260311 is the witness.\nOld Man 19150311 lives next door.\n"


def gate_refusals(kb_path: Path, day: str) -> dict[str, tuple[str, ...]]:
    from cacop_cli.catalog import load_catalog
    from cacop_cli.config import load_kb
    from cacop_cli.site import gate, site_line

    kb = load_kb(kb_path)
    selection = gate.select(load_catalog(kb), site_line(kb, None), dt.date.fromisoformat(day))
    return {refusal.path: refusal.reasons for refusal in selection.refused}


def test_the_gates_findings_hold_on_another_day_while_no_date_decision_changes(
    kb_path, texts_scanned, monkeypatch
):
    from kbtools import write_strategy

    from cacop_cli.site import gate

    monkeypatch.setattr(gate, "workers", lambda: 1)  # scanned here, where texts_scanned counts
    write_strategy(kb_path, "alpha-2024-suspect", body=ONLY_AGES)
    rel = "kb/strategies/alpha-2024-suspect.md"
    before = gate_refusals(kb_path, "2026-03-10")
    assert len(texts_scanned) == 1 and "(age 17: a juvenile)" in str(before[rel])
    after = gate_refusals(kb_path, "2026-03-11")
    assert len(texts_scanned) == 1  # the record of the day before is used: nothing scanned
    assert "(age 18)" in str(after[rel]) and "juvenile" not in str(after[rel])
    (kb_path / ".cacop" / gate.GATE_CACHE).unlink()
    assert gate_refusals(kb_path, "2026-03-11") == after  # as a fresh scan gives it
    assert len(texts_scanned) == 2


def test_the_gates_findings_are_not_used_on_a_day_a_date_decision_changes(
    kb_path, texts_scanned, monkeypatch
):
    from kbtools import write_strategy

    from cacop_cli.site import gate

    monkeypatch.setattr(gate, "workers", lambda: 1)
    write_strategy(kb_path, "alpha-2024-witness", body=DECISIONS)
    rel = "kb/strategies/alpha-2024-witness.md"
    before = gate_refusals(kb_path, "2026-03-10")
    assert ":13: date-of-birth" not in str(before[rel])  # the witness: born tomorrow
    assert ":14: date-of-birth" in str(before[rel])  # the old man, 110
    assert len(texts_scanned) == 1
    assert gate_refusals(kb_path, "2026-03-10") == before and len(texts_scanned) == 1
    after = gate_refusals(kb_path, "2026-03-11")
    assert len(texts_scanned) == 2  # scanned again: the record's days are over
    assert ":13: date-of-birth" in str(after[rel])  # the witness's date is now past
    assert ":14: date-of-birth" not in str(after[rel])  # the old man is 111
    (kb_path / ".cacop" / gate.GATE_CACHE).unlink()
    assert gate_refusals(kb_path, "2026-03-11") == after
