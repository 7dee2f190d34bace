"""cacop.yaml: found, checked against its schema, and the check remembered safely."""

import os

import pytest
from fixturefiles import aged_ctimes

from cacop_cli.config import load_kb, user_state_dir
from cacop_cli.errors import ConfigError, ExitCode


def test_a_valid_settings_file_is_parsed_and_checked_once_per_version(kb_path, monkeypatch):
    first = load_kb(kb_path)
    stamps = list((user_state_dir() / "remembered").iterdir())
    assert len(stamps) == 1
    from cacop_cli import yamlsafe

    def no_parsing(text):
        raise AssertionError("parsed again")

    monkeypatch.setattr(yamlsafe, "load", no_parsing)
    again = load_kb(kb_path)
    assert (again.name, again.site, again.settings) == (first.name, first.site, first.settings)
    assert list((user_state_dir() / "remembered").iterdir()) == stamps


def test_a_remembered_verdict_never_covers_a_changed_file(kb_path, cli):
    load_kb(kb_path)
    config = kb_path / "cacop.yaml"
    config.write_text(config.read_text().replace("name:", "name: Renamed #"))
    assert load_kb(kb_path).name == "Renamed"
    config.write_text(config.read_text() + "surprise: 1\n")
    with pytest.raises(ConfigError, match="surprise"):
        load_kb(kb_path)
    result = cli("validate", kb=kb_path)
    assert result.exit_code == ExitCode.NO_KB
    assert "cacop.yaml:" in result.stderr


def test_the_verdict_is_kept_outside_the_kb(kb_path):
    load_kb(kb_path)
    assert not (kb_path / ".cacop").exists()
    assert user_state_dir().is_relative_to(os.environ["HOME"])


def test_an_unwritable_state_folder_only_costs_the_check(kb_path, tmp_path, monkeypatch):
    blocked = tmp_path / "state-is-a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocked))
    assert load_kb(kb_path).site == "alpha"
    config = kb_path / "cacop.yaml"
    config.write_text(config.read_text().replace("max_tlp: green", "max_tlp: purple"))
    with pytest.raises(ConfigError, match="purple"):
        load_kb(kb_path)


def test_a_bad_settings_file_is_reported_every_time(kb_path):
    config = kb_path / "cacop.yaml"
    config.write_text(config.read_text() + "limits: [1, 2]\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="limits"):
            load_kb(kb_path)
    assert not (user_state_dir() / "remembered").exists()


@pytest.mark.parametrize(
    "command",
    [["index"], ["list"], ["rfi", "list"], ["status"], ["gaps"], ["experts", "violence"],
     ["digest"], ["show", "nosuch"]],
)  # fmt: skip
def test_the_read_commands_of_a_fresh_index_load_no_yaml_parser_nor_multiprocessing(
    kb_path, command
):
    """Each is a module a read command ran with the index up to date never needs, that
    cost ~18 ms (PyYAML) and ~17 ms (multiprocessing) of the CPU the freshness scan's two
    processes share with the command's own loading."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        f"sys.argv = ['cacop', '--kb', {str(kb_path)!r}, *{command!r}]\n"
        "from cacop_cli.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('yaml', 'multiprocessing')))\n"
    )
    aged_ctimes(kb_path)  # else the copy's files are racy: read again, YAML and all
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert first.stdout.strip().splitlines()[-1] != "[]", first.stderr  # it built the index
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert again.stdout.strip().splitlines()[-1] == "[]", again.stdout[-500:]


def test_a_search_of_a_fresh_index_loads_no_yaml_parser(kb_path, cacop_exe):
    import subprocess
    import sys

    code = (
        "import sys\n"
        f"sys.argv = ['cacop', '--kb', {str(kb_path)!r}, 'search', 'moral voices']\n"
        "from cacop_cli.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('yaml', 'frontmatter')))\n"
    )
    aged_ctimes(kb_path)  # else the copy's files are racy: read again, YAML and all
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)]
    vocabulary = kb_path / "kb/vocabulary.yaml"
    vocabulary.write_text("groups:\n  - [moral voices, zeppelin crew]\n")
    runs += [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)]
    runs += [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)]
    assert all("moral" in run.stdout.lower() for run in runs), [run.stderr for run in runs]
    loaded = [run.stdout.strip().splitlines()[-1] for run in runs]
    assert loaded[0] != "[]" and loaded[1] != "[]"  # building the index; a new vocabulary
    assert loaded[2] == "[]"  # then nothing changed: no entry, setting or vocabulary parsed
    result = subprocess.run(
        [*cacop_exe, "--kb", str(kb_path), "search", "zeppelin crew"],
        capture_output=True,
        text=True,
    )
    assert "moral" in result.stdout.lower(), "the changed vocabulary was used"
