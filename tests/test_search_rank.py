"""Issue 15: ranking by the share of the query's concepts, question words left out, feedback
behind its switch, and attachments searched (said where they matched, extracted once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kbtools import write_strategy
from test_textextract import text_pdf

from cacop_cli import search, textextract
from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode
from cacop_cli.query import Phrase, Term, parse

PRODUCT = "alpha-2024-shooting-review-checklist"


def ids(result) -> list[str]:
    return [hit.id for hit in result.hits]


@pytest.fixture
def ranked_kb(kb_path: Path) -> Path:
    # One word many times, against every word once.
    write_strategy(kb_path, "alpha-2024-rank-one-word", body="ballistic " * 40 + "\n")
    write_strategy(kb_path, "alpha-2024-rank-every-word", body="ballistic retaliation mural\n")
    write_strategy(kb_path, "alpha-2024-rank-two-words", body="ballistic retaliation\n")
    return kb_path


def test_entries_holding_every_concept_come_first_and_the_rest_follow(ranked_kb):
    found = search.search(load_kb(ranked_kb), "ballistic retaliation mural")
    assert ids(found)[:3] == [
        "alpha-2024-rank-every-word",
        "alpha-2024-rank-two-words",
        "alpha-2024-rank-one-word",
    ]
    assert found.total == 3  # ORed: an entry holding one of the words is still found


def test_explicit_and_stays_and(ranked_kb):
    found = search.search(load_kb(ranked_kb), "ballistic AND mural")
    assert ids(found) == ["alpha-2024-rank-every-word"]
    strict = search.search(load_kb(ranked_kb), "ballistic retaliation mural", mode="strict")
    assert ids(strict) == ["alpha-2024-rank-every-word"]


def test_question_words_are_left_out_of_three_bare_words_but_never_from_quotes():
    tree = search.drop_question_words(parse("how do other sites use nibin"))
    assert [item.text for item in tree.items] == ["sites", "nibin"]
    assert search.drop_question_words(parse("how nibin")).items == (
        Term("how"),
        Term("nibin"),
    )  # two bare words: kept
    quoted = search.drop_question_words(parse('"what works" how do sites'))
    assert Phrase("what works") in quoted.items and Term("how") not in quoted.items
    # a question made only of such words is searched as typed
    assert search.drop_question_words(parse("what should we do")) == parse("what should we do")


def test_a_long_question_still_finds_the_entry_holding_its_words(ranked_kb):
    question = "how do other sites keep ballistic retaliation from spreading to the mural?"
    assert ids(search.search(load_kb(ranked_kb), question))[0] == "alpha-2024-rank-every-word"


def test_feedback_is_off_by_default_and_never_lifts_a_partial_match_over_a_full_one(ranked_kb):
    assert search.Ranking().feedback is False
    kb = load_kb(ranked_kb)
    with_feedback = search.search(kb, "ballistic mural", ranking=search.Ranking(feedback=True))
    assert ids(with_feedback)[0] == "alpha-2024-rank-every-word"
    plain = search.search(kb, "ballistic mural", ranking=search.Ranking(coordination=False))
    assert "alpha-2024-rank-one-word" in ids(plain)


def attach_pdf(kb_path: Path, pages: list[str], name: str = "bulletin.pdf") -> Path:
    folder = kb_path / "kb" / "work-products" / PRODUCT
    (folder / name).write_bytes(text_pdf(pages))
    entry = kb_path / "kb" / "work-products" / f"{PRODUCT}.md"
    text = entry.read_text("utf-8")
    entry.write_text(
        text.replace("attachments: [checklist.md]", f"attachments: [checklist.md, {name}]")
    )
    return folder / name


def test_a_hit_only_in_an_attachment_says_which_file_and_page(cli, kb_path):
    attach_pdf(kb_path, ["Weekly summary of shootings", "Three zanzibar devices were recovered"])
    result = cli("search", "zanzibar devices", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    first = json.loads(result.stdout)["results"][0]
    assert first["id"] == PRODUCT
    assert first["matched_in"] == {"file": "bulletin.pdf", "where": "page 2"}
    assert "zanzibar" in first["snippet"].lower()
    people = cli("search", "zanzibar", kb=kb_path)
    assert "in bulletin.pdf, page 2:" in people.stdout
    # found in the entry itself: no matched_in
    own = json.loads(cli("search", "checklist", "--json", kb=kb_path).stdout)["results"]
    assert own[0]["matched_in"] is None


def test_an_attachment_ranks_below_the_same_word_in_a_body(kb_path):
    attach_pdf(kb_path, ["the zanzibar pattern"])
    write_strategy(kb_path, "alpha-2024-zanzibar-in-body", body="the zanzibar pattern\n")
    assert ids(search.search(load_kb(kb_path), "zanzibar")) == [
        "alpha-2024-zanzibar-in-body",
        PRODUCT,
    ]


def test_reindexing_an_entry_whose_attachments_did_not_change_extracts_nothing(
    kb_path, monkeypatch
):
    pdf = attach_pdf(kb_path, ["first page", "second page about zanzibar"])
    extracted: list[int] = []
    read = textextract._Reader.read

    def counting(self, data, name, depth):
        extracted.append(len(data))
        return read(self, data, name, depth)

    monkeypatch.setattr(textextract._Reader, "read", counting)
    kb = load_kb(kb_path)
    search.refresh(kb)
    first = len(extracted)
    assert first >= 2  # the PDF and checklist.md
    entry = kb_path / "kb" / "work-products" / f"{PRODUCT}.md"
    entry.write_text(entry.read_text("utf-8") + "\nAn edit to the body only.\n")
    assert search.refresh(kb).changed == 1
    assert len(extracted) == first  # the entry was indexed again; its files came from the cache
    pdf.write_bytes(text_pdf(["first page", "second page about quokka"]))
    entry.write_text(entry.read_text("utf-8") + "\nAnd the bulletin changed.\n")
    search.refresh(kb)
    assert len(extracted) == first + 1  # only the changed file
    assert ids(search.search(kb, "quokka")) == [PRODUCT]
    assert PRODUCT not in ids(search.search(kb, "zanzibar", mode="strict"))
