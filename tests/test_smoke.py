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
