import json

import pytest

from cacop_cli.errors import ExitCode


def test_validate_fixture_kb_is_clean(cli, kb_path):
    result = cli("validate", "--json", kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert '"ok": true' in result.stdout


def test_broken_related_link_is_reported_with_line(cli, kb_path):
    path = kb_path / "kb/strategies/alpha-2024-focused-deterrence-call-ins.md"
    path.write_text(path.read_text().replace("beta-2023-hot-spots-dosage]", "nowhere-entry]"))
    result = cli("validate", kb=kb_path)
    assert result.exit_code == ExitCode.PROBLEMS
    assert "alpha-2024-focused-deterrence-call-ins.md:15: error: related:" in result.stdout


def listed_ids(cli, kb_path, *filters: str) -> list[str]:
    result = cli("list", "--json", *filters, kb=kb_path)
    assert result.exit_code == ExitCode.OK, result.stderr
    return [entry["id"] for entry in json.loads(result.stdout)["entries"]]


def test_list_filters_combine_as_search_does(cli, kb_path):
    every = listed_ids(cli, kb_path)
    assert len(every) == 6
    strategies = listed_ids(cli, kb_path, "--type", "Strategy")  # any case, as in search
    assert sorted(strategies) == [
        "alpha-2024-focused-deterrence-call-ins",
        "beta-2023-hot-spots-dosage",
    ]
    alpha_guns = listed_ids(cli, kb_path, "--site", "alpha", "--topic", "gun-violence")
    assert alpha_guns and set(alpha_guns) < set(every)
    for entry_id in alpha_guns:
        shown = json.loads(cli("show", "--json", entry_id, kb=kb_path).stdout)
        assert shown["site"] == "alpha" and "gun-violence" in shown["topics"]


@pytest.mark.parametrize(("option", "value"), [("--type", "strategies"), ("--topic", "burglary")])
def test_list_refuses_a_type_or_topic_that_cannot_exist(cli, kb_path, option, value):
    result = cli("list", option, value, kb=kb_path)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith(f"error: {option} {value!r} is not one of: ")
    assert result.stdout == ""
