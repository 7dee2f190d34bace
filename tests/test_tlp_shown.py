"""TLP travels with what cacop shows and writes: outputs for others keep to the effective
max_tlp and leave out personal data; every listing shows each entry's marking; `show`
frames restricted entries. A KB with clear, green, amber, amber+strict and red entries and
one green entry that holds personal data; each restricted one says words no other does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixturefiles import FILES
from ptytools import drain

from cacop_cli.errors import ExitCode

TODAY = "2026-06-15"
QUERY = "pinnacle"  # every added entry says it, so `experts` and `search` find them all

# marking -> the words that only that marking's entries hold ("personal": green, with a phone)
SECRET_WORDS = {
    "amber": "quokka",
    "amber+strict": "marmot",
    "red": "zanzibar",
    "personal": "wombat",
}
SHOWN = {"clear": "heron", "green": "otter"}
LABELS = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")


def _slug(marking: str) -> str:
    return marking.replace("+", "-")


def _entries(root: Path) -> None:
    """For each marking: a new work product (digest), a stale strategy (gaps) and an
    overdue RFI nobody answered (gaps); each holds the marking's own word."""
    for marking, word in {**SHOWN, **SECRET_WORDS}.items():
        tlp = "green" if marking == "personal" else marking
        extra = "Call the witness at 414-555-0199 or (414) 286-2000.\n" * (marking == "personal")
        slug = _slug(marking)
        common = (
            f"site: alpha\nauthors: [{word.title()} Analyst]\ntopics: [gun-violence]\ntlp: {tlp}\n"
        )
        (root / f"kb/work-products/alpha-2026-{word}-product.md").write_text(
            f"---\nid: alpha-2026-{word}-product\ntype: work-product\n"
            f"title: {word.title()} {QUERY} chart {slug}\n{common}created: 2026-06-10\n"
            f"summary: The {word} summary.\nproduct_type: bulletin\nattachments: []\n---\n\n"
            f"## Purpose\n\nA {QUERY} chart of the {word} network.\n{extra}"
        )
        (root / f"kb/strategies/alpha-2020-{word}-strategy.md").write_text(
            f"---\nid: alpha-2020-{word}-strategy\ntype: strategy\n"
            f"title: {word.title()} {QUERY} review {slug}\n{common}created: 2020-01-01\n"
            f"status: active\nevidence: promising\n---\n\n## Response\n\n{word} {QUERY}.\n{extra}"
        )
        (root / f"kb/rfis/alpha-2026-{word}-question.md").write_text(
            f"---\nid: alpha-2026-{word}-question\ntype: rfi\n"
            f"title: Who has {word} {QUERY} data?\n{common}created: 2026-05-01\n"
            f"status: open\npriority: routine\nneeded_by: 2026-06-01\nto: [all]\n---\n\n"
            f"## Question\n\nWho has {word} {QUERY} data?\n{extra}"
        )


@pytest.fixture
def marked(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CACOP_TODAY", TODAY)  # what --today would say, for every command
    root = tmp_path / "community"
    shutil.copytree(FILES / "community", root)
    _entries(root)
    return root


def _run(cli, kb: Path, *args: str, env: dict | None = None):
    result = cli(*args, kb=kb, env=env)
    assert result.exit_code == 0, result.stderr
    return result


def _assert_nothing_restricted(output: str) -> None:
    lowered = output.lower()
    for marking, word in SECRET_WORDS.items():
        assert word not in lowered, f"{marking} entry's word {word!r} got out"
    assert "414-555-0199" not in output and "286-2000" not in output
    assert "amber" not in lowered and "tlp:red" not in lowered


def test_valid_kb(cli, marked):
    result = cli("validate", kb=marked)
    assert result.exit_code == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- outputs for others


@pytest.mark.parametrize("columns", ["80", "120"])
def test_digest_at_the_default_line_holds_nothing_restricted_or_personal(
    cli, marked, monkeypatch, columns
):
    monkeypatch.setenv("COLUMNS", columns)
    result = _run(cli, marked, "digest")
    _assert_nothing_restricted(result.stdout)
    for word in SHOWN.values():
        assert word.title() in result.stdout
    assert "3 entries above TLP:GREEN left out" in result.stderr
    assert "1 entry holding personal data or secrets left out" in result.stderr
    assert "TLP:" not in result.stdout  # not raised: no banner
    document = json.loads(_run(cli, marked, "digest", "--json").stdout)
    _assert_nothing_restricted(json.dumps(document))
    assert (document["max_tlp"], document["left_out_above_tlp"]) == ("green", 3)
    assert document["left_out_personal_data"] == 1
    assert {entry["tlp"] for entry in document["added"]} == {"clear", "green"}


@pytest.mark.parametrize("columns", ["80", "120"])
def test_gaps_page_and_json_name_nothing_restricted_but_the_map_counts_it(
    cli, marked, monkeypatch, tmp_path, columns
):
    monkeypatch.setenv("COLUMNS", columns)
    page = tmp_path / "gaps.html"
    result = _run(cli, marked, "gaps", "--html", str(page), "--json")
    html = page.read_text("utf-8")
    _assert_nothing_restricted(html)
    _assert_nothing_restricted(result.stdout)
    assert "Heron" in html and "Otter" in html  # stale strategies at or below the line
    document = json.loads(result.stdout)
    assert "Counts include 9 entries above TLP:GREEN: counted, never named." in html
    assert document["matrix_counts_above_tlp"] == 9
    assert document["left_out_above_tlp"] == 6  # stale strategies and overdue RFIs
    assert document["left_out_personal_data"] == 2
    assert document["matrix"]["gun-violence"]["alpha"] >= 18  # 6 × 3 added, all counted
    text = _run(cli, marked, "gaps").stdout
    _assert_nothing_restricted(text)
    assert "# Counts include 9 entries above TLP:GREEN: counted, never named." in text
    assert "TLP:GREEN" in text and "TLP:CLEAR" in text  # the listed entries' labels


@pytest.mark.parametrize("columns", ["80", "120"])
def test_experts_lists_only_entries_within_the_line(cli, marked, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    result = _run(cli, marked, "experts", QUERY)
    _assert_nothing_restricted(result.stdout)
    assert "Heron Analyst" in result.stdout and "TLP:CLEAR" in result.stdout
    assert "9 entries above TLP:GREEN left out" in result.stderr
    document = json.loads(_run(cli, marked, "experts", QUERY, "--json").stdout)
    _assert_nothing_restricted(json.dumps(document))
    entries = [item for person in document["people"] for item in person["entries"]]
    assert entries and all(item["tlp"] in ("clear", "green") for item in entries)
    terminal = _run(cli, marked, "experts", QUERY, env={"TTY_COMPATIBLE": "1"}).stdout
    _assert_nothing_restricted(terminal)
    assert "TLP:GREEN" in terminal


def test_a_lower_line_leaves_out_green_too(cli, marked):
    document = json.loads(_run(cli, marked, "digest", "--json", "--max-tlp", "clear").stdout)
    assert {entry["tlp"] for entry in document["added"]} == {"clear"}
    left_out = document["left_out_above_tlp"]
    assert left_out >= 5  # ours: green, personal (green), amber, amber+strict, red
    assert document["left_out_personal_data"] == 0  # the personal entry is above the line
    result = _run(cli, marked, "digest", "--max-tlp", "clear")
    assert f"{left_out} entries above TLP:CLEAR left out" in result.stderr


def test_raising_the_line_off_a_terminal_is_refused_without_yes(cli, marked):
    result = cli("digest", "--today", TODAY, "--max-tlp", "amber", kb=marked)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "--yes" in result.stderr and not result.stdout
    page = marked / "gaps.html"
    result = cli("gaps", "--today", TODAY, "--max-tlp", "red", "--html", str(page), kb=marked)
    assert result.exit_code == ExitCode.PROBLEMS and not page.exists()


def test_an_unknown_line_is_a_usage_error(cli, marked):
    result = cli("digest", "--today", TODAY, "--max-tlp", "purple", kb=marked)
    assert result.exit_code == ExitCode.USAGE and "clear, green, amber" in result.stderr


def test_a_raised_line_marks_markdown_and_html_top_and_bottom(cli, marked, tmp_path):
    result = _run(cli, marked, "digest", "--max-tlp", "amber", "--yes")
    lines = result.stdout.strip("\n").splitlines()
    for line in (lines[0], lines[-1]):
        assert "TLP:AMBER</span>" in line and "color:#FFC000" in line
        assert "background:#000000" in line and "need-to-know" in line
    assert "Quokka" in result.stdout and "zanzibar" not in result.stdout.lower()
    assert "wombat" not in result.stdout.lower()  # personal data stays out at any line
    assert "2 entries above TLP:AMBER left out" in result.stderr
    page = tmp_path / "gaps.html"
    _run(cli, marked, "gaps", "--max-tlp", "red", "--yes", "--html", str(page))
    html = page.read_text("utf-8")
    body = html[html.index("<body>") + len("<body>") : html.index("</body>")]
    assert body.startswith('<p class="tlp"') and body.endswith("</p>")
    assert body.count("TLP:RED — For the eyes and ears") == 2 and "#FF2B2B" in body
    assert "Zanzibar" in html  # a red stale strategy, listed because the line was raised


def test_raising_the_line_asks_on_a_terminal(marked, cacop_exe):
    """In a real pseudo-terminal: the question appears; 'n' writes nothing."""
    output, code = _in_pty(
        [*cacop_exe, "--kb", str(marked), "digest", "--today", TODAY, "--max-tlp", "red"],
        columns=80,
        answer=b"n\n",
    )
    assert "cleared for TLP:RED" in output and code == ExitCode.PROBLEMS
    assert "nothing written" in output and "zanzibar" not in output.lower()


# ---------------------------------------------------------------- the label is always visible


@pytest.mark.parametrize("columns", ["80", "120"])
def test_pipes_show_plain_labels_on_every_result_line(cli, marked, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    search = _run(cli, marked, "search", QUERY, "-n", "50").stdout
    titles = [line for line in search.splitlines() if re.match(r"\s*\d+\. ", line)]
    assert len(titles) == 18 and all(". TLP:" in line for line in titles)
    for label in LABELS:
        assert label in search
    listing = _run(cli, marked, "list").stdout.splitlines()
    assert {row.split("\t")[-1] for row in listing} == set(LABELS)
    rfis = _run(cli, marked, "rfi", "list").stdout.splitlines()
    assert {row.split("\t")[-1] for row in rfis} == set(LABELS)
    similar = _run(cli, marked, "similar", "alpha-2026-heron-product", "-n", "20").stdout
    assert "TLP:RED" in similar and "TLP:AMBER+STRICT" in similar


def test_every_json_listing_carries_tlp(cli, marked):
    for args, key in (
        (("search", QUERY, "--json", "-n", "50"), "results"),
        (("similar", "alpha-2026-heron-product", "--json"), "results"),
        (("list", "--json"), "entries"),
        (("rfi", "list", "--json"), "rfis"),
    ):
        rows = json.loads(_run(cli, marked, *args).stdout)[key]
        assert rows and all("tlp" in row and "id" in row and "title" in row for row in rows)
    found = json.loads(_run(cli, marked, "search", QUERY, "--json", "-n", "50").stdout)
    assert {row["tlp"] for row in found["results"]} == {
        "clear", "green", "amber", "amber+strict", "red"
    }  # fmt: skip


@pytest.mark.parametrize("marking", ["amber", "amber+strict", "red"])
def test_show_frames_a_restricted_entry_with_its_banner(cli, marked, marking):
    word = SECRET_WORDS[marking]
    lines = _run(cli, marked, "show", f"alpha-2026-{word}-product").stdout.strip().splitlines()
    label = f"TLP:{marking.upper()} — "
    assert lines[0].startswith(label) and lines[-1].startswith(label)


def test_show_of_a_green_entry_has_no_banner(cli, marked):
    lines = _run(cli, marked, "show", "alpha-2026-otter-product").stdout.strip().splitlines()
    assert not lines[0].startswith("TLP:") and not lines[-1].startswith("TLP:")


COLOURS = {
    "TLP:CLEAR": "38;2;255;255;255",
    "TLP:GREEN": "38;2;51;255;0",
    "TLP:AMBER": "38;2;255;192;0",
    "TLP:RED": "38;2;255;43;43",
}
COLOUR_ENV = {"TTY_COMPATIBLE": "1", "NO_COLOR": None, "COLORTERM": "truecolor", "TERM": "xterm"}


@pytest.mark.parametrize("columns", ["80", "120"])
def test_on_a_terminal_labels_are_in_first_colours_on_black(cli, marked, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    for args in (("search", QUERY, "-n", "50"), ("list",), ("rfi", "list")):
        output = _run(cli, marked, *args, env=COLOUR_ENV).stdout
        for label, colour in COLOURS.items():
            assert f"{colour};48;2;0;0;0m{label}" in output, (args, label)
    shown = _run(cli, marked, "show", "alpha-2026-zanzibar-product", env=COLOUR_ENV).stdout
    assert shown.count(f"{COLOURS['TLP:RED']};48;2;0;0;0mTLP:RED") == 2


def _in_pty(argv: list[str], columns: int, answer: bytes | None = None) -> tuple[str, int]:
    """Run `argv` with stdin, stdout and stderr on a real pseudo-terminal of `columns`."""
    import fcntl
    import pty
    import struct
    import termios

    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "FORCE_COLOR")}
    env.update(TERM="xterm-256color", COLORTERM="truecolor")
    process = subprocess.Popen(argv, stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    if answer is not None:
        os.write(parent, answer)
    written = drain(parent, process, 30)
    return written.decode("utf-8", "replace"), process.wait(timeout=30)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize("columns", [80, 120])
def test_listings_in_a_real_pseudo_terminal_show_every_label(marked, cacop_exe, columns):
    base = [*cacop_exe, "--no-pager", "--kb", str(marked)]
    for args in (["search", QUERY, "-n", "50"], ["list"], ["rfi", "list", "--today", TODAY]):
        output, code = _in_pty([*base, *args], columns)
        assert code == 0, output
        for label, colour in COLOURS.items():
            assert f"{colour};48;2;0;0;0m{label}" in output, (args, label)
        assert "TLP:AMBER+STRICT" in output
