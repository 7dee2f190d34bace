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
    assert result.stderr.startswith(f"error: {option}: {value!r} is not ")
    assert result.stdout == ""


def checked_count(result) -> int:
    summary = (result.stdout + result.stderr).strip().splitlines()[-1]  # "ok: N checked, …"
    return int(summary.split(" checked")[0].split()[-1])


def test_validate_counts_the_entries_it_checked_and_maps_attachments_to_theirs(cli, kb_path):
    whole = cli("validate", kb=kb_path)
    assert (whole.exit_code, checked_count(whole)) == (ExitCode.OK, 6)
    products = kb_path / "kb/work-products"
    assert checked_count(cli("validate", str(products), kb=kb_path)) == 1  # not its attachment
    entry = products / "alpha-2024-shooting-review-checklist.md"
    entry.write_text(entry.read_text().replace("tlp: green", "tlp: purple"))
    attachment = products / "alpha-2024-shooting-review-checklist" / "checklist.md"
    result = cli("validate", str(attachment), kb=kb_path)  # a changed attachment: its entry
    assert (result.exit_code, checked_count(result)) == (ExitCode.PROBLEMS, 1)
    assert "kb/work-products/alpha-2024-shooting-review-checklist.md:" in result.stdout


@pytest.mark.parametrize("outside", ["/etc/hostname", "another KB"])
def test_validate_refuses_paths_outside_the_kb(cli, kb_path, tmp_path, outside):
    other = tmp_path / "other-kb/kb/strategies"
    other.mkdir(parents=True)
    (other / "alpha-2024-elsewhere.md").write_text("not this KB's\n")
    given = str(other) if outside == "another KB" else outside
    result = cli("validate", given, kb=kb_path)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.splitlines() == [
        f"error: {given} is not inside this knowledge base ({kb_path})",
        "hint: name entry files or folders under kb/, or no path to check them all",
    ]


def test_validate_of_the_kbs_own_folder_checks_all_of_it(cli, kb_path, monkeypatch):
    monkeypatch.chdir(kb_path)
    assert checked_count(cli("validate", ".", kb=kb_path)) == 6  # `cacop validate .`
    assert checked_count(cli("validate", "cacop.yaml", kb=kb_path)) == 0  # read on every run
