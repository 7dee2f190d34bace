"""`cacop search` and `cacop similar` on real indexes: results, filters, vocabulary, typos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from kbtools import write_strategy

from cacop_cli import search
from cacop_cli.config import load_kb
from cacop_cli.errors import ExitCode

DETERRENCE = "alpha-2024-focused-deterrence-call-ins"
HOT_SPOTS = "beta-2023-hot-spots-dosage"


def ids(result) -> list[str]:
    return [hit["id"] for hit in json.loads(result.stdout)["results"]]


def test_json_is_exactly_the_spec_shape(cli, kb_path):
    result = cli("search", "call-ins", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"query", "total", "results"}
    assert document["query"] == "call-ins"
    assert document["total"] >= 1
    first = document["results"][0]
    assert set(first) == {
        "id", "type", "title", "site", "tlp", "path", "score", "snippet", "matched_in"
    }  # fmt: skip
    assert first["matched_in"] is None  # found in the entry itself
    assert first["id"] == DETERRENCE
    assert first["path"] == f"kb/strategies/{DETERRENCE}.md"
    assert first["type"] == "strategy" and first["site"] == "alpha"
    assert isinstance(first["score"], float) and "call-ins" in first["snippet"].lower()


def test_people_see_rank_title_type_site_date_snippet_and_counts(cli, kb_path):
    result = cli("search", "moral voices", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "1. TLP:GREEN  Focused deterrence call-ins for group-involved shooters" in result.stdout
    assert "strategy · alpha · updated 2025-01-10" in result.stdout  # which date it is
    assert "found" in result.stdout and "by type:" in result.stdout and "by topic:" in result.stdout


def test_limit_keeps_the_best(cli, kb_path):
    everything = ids(cli("search", "", "--site", "alpha", "--json", "--limit", "50", kb=kb_path))
    assert len(everything) >= 2
    limited = cli("search", "", "--site", "alpha", "--json", "--limit", "1", kb=kb_path)
    assert ids(limited) == everything[:1]
    assert json.loads(limited.stdout)["total"] == len(everything)


def test_no_hits_is_success_with_a_suggestion(cli, kb_path):
    result = cli("search", "zeppelin", kb=kb_path)
    assert result.exit_code == ExitCode.OK
    assert "no entries found" in result.stderr
    assert "try" in result.stderr
    assert result.stdout == ""


def test_filters_combine_with_each_other_and_the_query(cli, kb_path):
    # an empty query lists the matches, newest (created or updated) first
    assert ids(cli("search", "", "--type", "strategy", "--json", kb=kb_path)) == [
        DETERRENCE,
        HOT_SPOTS,
    ]
    assert ids(cli("search", "", "--type", "strategy", "--site", "beta", "--json", kb=kb_path)) == [
        HOT_SPOTS
    ]
    assert ids(
        cli("search", "", "--topic", "gun-violence", "--type", "strategy", "--json", kb=kb_path)
    ) == [DETERRENCE]
    assert set(ids(cli("search", "", "--tag", "gvi", "--json", kb=kb_path))) == {
        DETERRENCE,
        "beta-2025-nibin-and-group-data",
    }
    assert ids(
        cli("search", "", "--status", "active", "--type", "strategy", "--json", kb=kb_path)
    ) == [DETERRENCE]
    assert DETERRENCE in ids(cli("search", "", "--author", "analyst", "--json", kb=kb_path))
    # updated 2025-01-10 counts for --since; created 2024-03-05 for --until
    assert DETERRENCE in ids(cli("search", "", "--since", "2025-01-01", "--json", kb=kb_path))
    assert HOT_SPOTS not in ids(cli("search", "", "--since", "2025-01-01", "--json", kb=kb_path))
    assert ids(
        cli("search", "", "--until", "2023-12-31", "--type", "strategy", "--json", kb=kb_path)
    ) == [HOT_SPOTS]
    assert ids(cli("search", "moral", "--site", "beta", "--json", kb=kb_path)) == []
    assert ids(cli("search", "moral", "--site", "alpha", "--json", kb=kb_path)) == [DETERRENCE]


def test_bad_filter_values_are_usage_errors(cli, kb_path):
    for args in (["--type", "policy"], ["--since", "last week"], ["--tlp", "purple"]):
        result = cli("search", "x", *args, kb=kb_path)
        assert result.exit_code == ExitCode.USAGE, args
    crossed = cli("search", "x", "--since", "2026-01-01", "--until", "2020-01-01", kb=kb_path)
    assert crossed.exit_code == ExitCode.USAGE
    assert crossed.stderr.splitlines() == [
        "error: --since 2026-01-01 is after --until 2020-01-01, so no entry can match both",
        "hint: swap them, or leave one out",
    ]
    assert cli("search", "", kb=kb_path).exit_code == ExitCode.USAGE


def test_field_queries_phrases_booleans_and_prefixes(cli, kb_path):
    assert ids(cli("search", "title:deterrence", "--json", kb=kb_path)) == [DETERRENCE]
    assert ids(cli("search", "type:strategy AND site:beta", "--json", kb=kb_path)) == [HOT_SPOTS]
    assert HOT_SPOTS not in ids(cli("search", "type:strategy NOT site:beta", "--json", kb=kb_path))
    assert ids(cli("search", '"moral voices"', "--json", kb=kb_path)) == [DETERRENCE]
    assert ids(cli("search", '"voices moral"', "--json", kb=kb_path)) == []
    assert DETERRENCE in ids(cli("search", "deterr*", "--json", kb=kb_path))
    both = set(ids(cli("search", "title:(deterrence OR dosage)", "--json", kb=kb_path)))
    assert both == {DETERRENCE, HOT_SPOTS}
    assert ids(
        cli("search", "created:[2024-01-01 TO 2024-12-31] type:strategy", "--json", kb=kb_path)
    ) == [DETERRENCE]


def test_one_character_tag_and_case_number_are_found(cli, kb_path):
    write_strategy(kb_path, "alpha-2024-case-review", "tags: [k, cold-case]\n",
                   body="Linked to case 24-013377 and case 24-013378.\n")  # fmt: skip
    assert ids(cli("search", "tag:k", "--json", kb=kb_path)) == ["alpha-2024-case-review"]
    assert ids(cli("search", "k", "--json", kb=kb_path)) == ["alpha-2024-case-review"]
    assert ids(cli("search", "24-013377", "--json", kb=kb_path)) == ["alpha-2024-case-review"]
    assert ids(cli("search", '"24-013377"', "--json", kb=kb_path)) == ["alpha-2024-case-review"]
    assert ids(cli("search", "24-999999", "--json", kb=kb_path)) == []


def test_vocabulary_expands_acronyms_and_phrases_both_ways(cli, kb_path):
    (kb_path / "kb" / "vocabulary.yaml").write_text(
        "groups:\n  - [GVI, group violence intervention]\n  - [LPR, license plate reader]\n"
    )
    write_strategy(
        kb_path, "alpha-2024-plate-readers", body="We put a license plate reader on it.\n"
    )
    assert ids(cli("search", "LPR", "--json", kb=kb_path)) == ["alpha-2024-plate-readers"]
    assert ids(cli("search", '"license plate reader"', "--json", kb=kb_path)) == [
        "alpha-2024-plate-readers"
    ]
    assert DETERRENCE in ids(cli("search", "GVI", "--json", kb=kb_path))
    assert DETERRENCE in ids(cli("search", "group violence intervention", "--json", kb=kb_path))
    # without the KB's file, cacop's default vocabulary still knows LPR
    (kb_path / "kb" / "vocabulary.yaml").unlink()
    assert ids(cli("search", "LPR", "--json", kb=kb_path)) == ["alpha-2024-plate-readers"]
    # switched off by name, the acronym alone finds nothing
    (kb_path / "kb" / "vocabulary.yaml").write_text("disable: [lpr]\n")
    assert ids(cli("search", "LPR", "--json", kb=kb_path)) == []


def test_a_kb_group_extends_replaces_or_adds_to_the_default(cli, kb_path):
    write_strategy(kb_path, "alpha-2024-flock", body="The Flock cameras on Main Street.\n")
    write_strategy(kb_path, "alpha-2024-summer", body="Our summer violence plan, week one.\n")
    (kb_path / "kb" / "vocabulary.yaml").write_text(
        "groups:\n  - [Flock, LPR]\n  - [Operation Safe Summer, summer violence plan]\n"
    )
    assert ids(cli("search", "ALPR", "--json", kb=kb_path)) == ["alpha-2024-flock"]  # extended
    assert ids(cli("search", "Operation Safe Summer", "--json", kb=kb_path)) == [
        "alpha-2024-summer"
    ]
    (kb_path / "kb" / "vocabulary.yaml").write_text("groups:\n  lpr: [LPR, Flock]\n")
    assert ids(cli("search", "Flock", "--json", kb=kb_path)) == ["alpha-2024-flock"]
    assert ids(cli("search", "ALPR", "--json", kb=kb_path)) == []  # replaced: no ALPR now


def test_typo_is_corrected_and_said(cli, kb_path):
    result = cli("search", "deterence", kb=kb_path)
    assert result.exit_code == ExitCode.OK
    assert "showing results for 'deterrence'" in result.stderr
    assert "Focused deterrence" in result.stdout
    as_json = cli("search", "deterence", "--json", kb=kb_path)
    assert json.loads(as_json.stdout)["query"] == "deterence"
    assert ids(as_json)[0] == DETERRENCE


def test_typos_of_words_only_bodies_hold_are_corrected_word_by_word(cli, kb_path):
    write_strategy(
        kb_path,
        "alpha-2024-corridor-review",
        body="Surveillance of the corridor after the homicide: each camera was checked.\n",
    )
    for typed, meant in (("survelance", "surveillance"), ("homocide", "homicide")):
        result = cli("search", typed, "--json", kb=kb_path)
        assert f"showing results for '{meant}'" in result.stderr, result.stderr
        assert ids(result) == ["alpha-2024-corridor-review"]
    result = cli("search", "homocide camra", "--json", kb=kb_path)  # two words, both wrong
    assert "showing results for 'homicide camera'" in result.stderr, result.stderr
    assert ids(result) == ["alpha-2024-corridor-review"]
    result = cli("search", "camra corridor", "--json", kb=kb_path)  # one wrong of two
    assert "showing results for 'camera corridor'" in result.stderr, result.stderr
    assert ids(result) == ["alpha-2024-corridor-review"]
    result = cli("search", "vamera", "--json", kb=kb_path)  # the first letter stays fixed
    assert ids(result) == [] and "showing results" not in result.stderr


def test_search_sees_edits_new_and_deleted_entries_at_once(cli, kb_path):
    assert ids(cli("search", "zeppelin", "--json", kb=kb_path)) == []
    path = write_strategy(kb_path, "alpha-2024-airships", body="A zeppelin over the district.\n")
    assert ids(cli("search", "zeppelin", "--json", kb=kb_path)) == ["alpha-2024-airships"]
    path.write_text(path.read_text().replace("zeppelin", "blimp"))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert ids(cli("search", "zeppelin", "--json", kb=kb_path)) == []
    assert ids(cli("search", "blimp", "--json", kb=kb_path)) == ["alpha-2024-airships"]
    path.unlink()
    assert ids(cli("search", "blimp", "--json", kb=kb_path)) == []


def test_broken_entry_is_skipped_with_a_warning_naming_it(cli, kb_path):
    broken = kb_path / "kb" / "strategies" / "alpha-2024-broken.md"
    broken.write_text("---\nid: alpha-2024-broken\ntitle: [unclosed\n---\nzeppelin\n")
    result = cli("search", "deterrence", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK
    assert "kb/strategies/alpha-2024-broken.md:4: YAML" in result.stderr
    assert ids(result)[0] == DETERRENCE
    index_run = cli("index", kb=kb_path)
    assert "alpha-2024-broken.md" in index_run.stderr
    write_strategy(kb_path, "alpha-2024-broken", body="zeppelin now readable\n")
    fixed = cli("search", "zeppelin", "--json", kb=kb_path)
    assert ids(fixed) == ["alpha-2024-broken"] and "alpha-2024-broken.md:" not in fixed.stderr


def test_entry_text_cannot_style_or_control_the_terminal(cli, kb_path):
    write_strategy(
        kb_path,
        "alpha-2024-hostile",
        body="zeppelin [bold]loud[/bold] [link=http://evil]x[/link] "
        "\x1b[2J\x1b]52;c;AAAA\x07 \x9b\n",
    )
    result = cli("search", "zeppelin", kb=kb_path)
    assert "[bold]loud[/bold]" in result.stdout and "[link=http://evil]" in result.stdout
    for bad in ("\x1b", "\x07", "\x9b"):
        assert bad not in result.stdout
    as_json = cli("search", "zeppelin", "--json", kb=kb_path)
    assert "\\u001b" not in as_json.stdout and json.loads(as_json.stdout)["total"] == 1


def test_similar_lists_the_closest_entries(cli, kb_path):
    result = cli("similar", DETERRENCE, "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    found = [hit["id"] for hit in json.loads(result.stdout)["results"]]
    assert DETERRENCE not in found and found
    assert cli("similar", "no-such-entry", kb=kb_path).exit_code == ExitCode.PROBLEMS
    assert cli("similar", "../etc", kb=kb_path).exit_code == ExitCode.USAGE


def test_similar_to_text_finds_the_entry_a_draft_repeats(kb_path):
    kb = load_kb(kb_path)
    hits = search.similar_to_text(
        kb, "Call-ins for groups", "Focused deterrence call-ins with moral voices for groups."
    )
    assert hits and hits[0].id == DETERRENCE
    assert len(hits) <= 3


def test_commands_that_do_not_search_never_import_whoosh(kb_path):
    probe = (
        "import sys\nfrom cacop_cli.cli import app\n"
        "for argv in (['--help'], ['--kb', sys.argv[1], 'validate'], "
        "['--kb', sys.argv[1], 'show', 'alpha-2024-focused-deterrence-call-ins'], "
        "['--kb', sys.argv[1], 'list']):\n"
        "    try:\n        app(argv, prog_name='cacop')\n    except SystemExit:\n        pass\n"
        "loaded = [name for name in sys.modules if name.startswith('whoosh.')]\n"
        "print('WHOOSH' if loaded else 'CLEAN', file=sys.stderr)\n"
        "app(['--kb', sys.argv[1], 'search', 'call-ins'], prog_name='cacop',\n"
        "    standalone_mode=False)\n"
        "print('WHOOSH' if 'whoosh' in sys.modules else 'CLEAN', file=sys.stderr)\n"
    )
    # Read commands answer from the catalog kept with the index, after the freshness check:
    # with the index fresh (the first command of a KB builds it), that loads no Whoosh.
    from cacop_cli import search
    from cacop_cli.config import load_kb

    search.refresh(load_kb(kb_path))
    result = subprocess.run(
        [sys.executable, "-c", probe, str(kb_path)], capture_output=True, text=True, timeout=60
    )
    assert result.stderr.split()[-2:] == ["CLEAN", "WHOOSH"], result.stderr


def test_entries_with_most_words_follow_those_with_all_and_total_ignores_limit(cli, kb_path):
    one = json.loads(cli("search", "moral dosage", "--json", "--limit", "1", kb=kb_path).stdout)
    many = json.loads(cli("search", "moral dosage", "--json", kb=kb_path).stdout)
    assert one["total"] == many["total"] >= 2
    assert {DETERRENCE, HOT_SPOTS} <= {hit["id"] for hit in many["results"]}
    assert one["results"][0]["id"] == many["results"][0]["id"]
