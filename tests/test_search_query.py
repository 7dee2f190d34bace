"""The query language: checked by us before Whoosh sees it (docs/architecture.md, "Hostile
input", cases 20 and 22)."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cacop_cli.errors import ExitCode, QueryError
from cacop_cli.query import (
    AllOf,
    AnyOf,
    Every,
    Implicit,
    Not,
    Phrase,
    Range,
    Ranked,
    Term,
    apply_mode,
    parse,
    plain_words,
)
from cacop_cli.search import make_snippet

MALFORMED = {
    '"unclosed': "never closed",
    "(robbery": "never closed",
    "title:": "needs a value",
    "nosuchfield:x": "not a field",
    "robbery AND": "needs a word after",
    "title:[a TO": "never closed",
    "*bery": "cannot start with *",
    "rob*ery": "can only end a word",
    "r*": "at least two letters",
    "robbery)": "has no ( before it",
    "AND robbery": "needs a word before",
    "robbery OR OR burglary": "needs a word after",
    "NOT": "needs a word after",
    "()": "holds nothing",
    '""': "hold nothing",
    "type:policy": "use one of: strategy",
    "created:last-week": "is not a date",
    "title:[a TO b]": "cannot take a range",
    "created:[2024-01-01 2024-02-01]": "must read [FROM TO UNTIL]",
    "created:[2026-01-01 TO 2020-01-01]": "runs backwards: 2026-01-01 comes after 2020-01-01",
    "updated:[2025 TO 2024-12]": "write the earlier end first: updated:[2024-12 TO 2025]",
    "-": "has no word right after it",
    "robbery -": "has no word right after it",
    "robbery - commercial": "has no word right after it",
    "(robbery -)": "has no word right after it",
    "--x": "'--' at character 1",
    "robbery --commercial": "'--' at character 9",
    "robbery -AND": "- at character 9 needs a word after it",
}


@pytest.mark.parametrize("query", list(MALFORMED))
def test_malformed_query_is_refused_with_what_to_fix(query):
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert MALFORMED[query] in caught.value.message + (caught.value.hint or "")
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("query", list(MALFORMED)[:8])
def test_malformed_query_exits_2_on_the_command_line(cli, kb_path, query):
    result = cli("search", query, kb=kb_path)
    assert result.exit_code == ExitCode.USAGE, result.stdout + result.stderr
    assert "error:" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (kb_path / ".cacop").exists()  # refused before the index was touched


def test_a_dash_before_a_word_excludes_it_as_not_does():
    assert parse("robbery -commercial") == parse("robbery NOT commercial")
    assert parse("robbery -commercial") == Implicit((Term("robbery"), Not(Term("commercial"))))
    assert parse('robbery -"convenience store"') == Implicit(
        (Term("robbery"), Not(Phrase("convenience store")))
    )
    assert parse("robbery -tag:x") == Implicit((Term("robbery"), Not(Term("x", "tag"))))
    assert parse("robbery -(a OR b)") == parse("robbery NOT (a OR b)")
    assert parse("-robbery") == Not(Term("robbery"))
    # a dash inside a word or a value is part of it, as before
    assert parse("co-offending") == Term("co-offending")
    assert parse("24-013377") == Term("24-013377")
    assert parse("tag:-x") == Term("-x", "tag")
    assert plain_words(parse("robbery -commercial")) == ["robbery"]


def test_a_dash_excludes_on_the_command_line(cli, kb_path):
    def found(query: str) -> set[str]:
        result = cli("search", "--json", "--", query, kb=kb_path)
        assert result.exit_code == ExitCode.OK, result.stderr
        return {hit["id"] for hit in json.loads(result.stdout)["results"]}

    everything = found("type:strategy")
    assert len(everything) >= 2
    assert found("type:strategy -deterrence") == found("type:strategy NOT deterrence")
    assert found("type:strategy -deterrence") < everything
    assert found('type:strategy -"moral voices"') < everything
    for query in ("-", "--x", "robbery -"):
        refused = cli("search", "--", query, kb=kb_path)
        assert refused.exit_code == ExitCode.USAGE
        assert "error:" in refused.stderr and "Traceback" not in refused.stderr


def test_huge_query_and_deep_parentheses_are_refused_quickly():
    for query in ("robbery " * 12_500, "(" * 3_000 + "robbery" + ")" * 3_000):
        started = time.perf_counter()
        with pytest.raises(QueryError):
            parse(query[:100_000])
        assert time.perf_counter() - started < 0.5
    with pytest.raises(QueryError, match="deep"):
        parse("(" * 40 + "robbery" + ")" * 40)
    with pytest.raises(QueryError, match="more than 64 words"):
        parse("word " * 100)


@pytest.mark.parametrize(
    "inner", ["2024-06 TO 2024", "2024 TO 2024-06", "2024-06-01 TO 2024-06-01"]
)
def test_a_range_within_one_period_is_not_backwards(inner):
    parse(f"created:[{inner}]")  # 2024 as an upper end runs to the end of 2024


def test_the_language_parses_into_the_tree_we_expect():
    tree = parse('carjack* "hot spots" title:nibin NOT type:response')
    assert tree == Implicit(
        (
            Term("carjack", None, True),
            Phrase("hot spots"),
            Term("nibin", "title"),
            Not(Term("response", "type")),
        )
    )
    assert parse("a AND (b OR c)") == AllOf((Term("a"), AnyOf((Term("b"), Term("c")))))
    assert parse("title:(lpr OR alpr)") == AnyOf((Term("lpr", "title"), Term("alpr", "title")))
    assert parse("created:[2024 TO 2024-06-30]") == Range("created", "2024", "2024-06-30")
    assert parse("created:[2024-01-01 TO 2024]") == Range("created", "2024-01-01", "2024~")
    assert parse("24-013377") == Term("24-013377")
    assert parse("10:30") == Term("10:30")  # not a field: starts with a digit
    assert parse("tags:k") == Term("k", "tags")
    assert parse("") == Every()


def test_modes_combine_words_side_by_side():
    tree = parse("robbery burglary NOT commercial")
    assert apply_mode(tree, "all") == AllOf(
        (Term("robbery"), Term("burglary"), Not(Term("commercial")))
    )
    ranked = apply_mode(tree, "any")
    assert ranked == AllOf((Ranked((Term("robbery"), Term("burglary"))), Not(Term("commercial"))))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_string_parses_or_is_refused_never_crashes(query):
    try:
        tree = parse(query)
    except QueryError as error:
        assert error.message
        return
    apply_mode(tree, "all")
    plain_words(tree)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["(", ")", '"', "AND", "OR", "NOT", "title:", "tag:x", "*", "a*", "ab", ":", "[", "]"]
        ),
        max_size=30,
    )
)
def test_any_mix_of_syntax_parses_or_is_refused(parts):
    with contextlib.suppress(QueryError):
        parse(" ".join(parts))


# ---------------------------------------------------------------- snippets


def reference_plain(text: str) -> str:
    """What a snippet's text is, written the plain way: Markdown's marks out (a link keeps
    its text), control characters and runs of white space each one space."""
    import re

    marks = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|[`*_#>|]+|<[^>]{0,200}>")
    text = marks.sub(lambda match: match.group(1) or " ", text)
    text = re.sub("[\x00-\x08\x0b-\x1f\x7f-\x9f]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


MARKDOWNISH = st.text(
    alphabet=st.sampled_from(list("ab c\n\t\r!()[]<>`*_#|/:\x1b\x07\x85\u2028\u00a0é")),
    max_size=400,
)


@settings(max_examples=400, deadline=None)
@given(MARKDOWNISH)
def test_a_snippet_is_the_plain_text_as_the_reference_reads_it(text):
    assert make_snippet(text, None, width=10_000) == reference_plain(text)


def test_a_snippet_keeps_link_text_and_drops_marks():
    text = "## Result\n\nSee **the [NIBIN map](http://x/y)** and ![chart](c.png)\x1b[2J <b>now</b>."
    assert make_snippet(text, None) == "Result See the NIBIN map and chart [2J now ."
