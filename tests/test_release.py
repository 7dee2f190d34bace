"""A release of cacop: its version and commit, the pinned cacop a KB's CI installs, the KB's
format, and `cacop upgrade`; the built wheel itself is tried in test_wheel.py."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cacop_cli import __version__, ops, release
from cacop_cli.errors import ExitCode, UsageError
from cacop_cli.version import checkout_commit

from conftest import FILES, TEST_SPEC, git

BIN = Path(sys.executable).parent
PINNED = {
    "vcs tag": TEST_SPEC,
    "vcs commit": "cacop @ git+ssh://git@forge.invalid/psp/cacop.git@" + "a" * 40,
    "release file": "cacop @ https://forge.invalid/releases/cacop-0.1.0-py3-none-any.whl#sha256="
    + "0" * 64,
    "index": "--index-url https://packages.forge.invalid/simple cacop==0.1.0",
}
UNPINNED = [
    "cacop",  # whatever the public index holds under that name today
    "cacop==0.1.0",  # an exact version, but from whichever index pip is set up with
    "cacop>=0.1",
    "cacop @ git+https://forge.invalid/psp/cacop.git",  # the branch tip of the day
    "cacop @ file:///tmp/cacop-0.1.0-py3-none-any.whl",  # nothing a CI machine can reach
    "cacop @ git+https://forge.invalid/x.git@v1 ; curl evil",
    "cacop @ git+https://forge.invalid/${{ secrets.TOKEN }}.git@v1",
    "cacop @ git+https://forge.invalid/x.git@v1'",
]


# ---------------------------------------------------------------- version


def test_version_names_the_commit_of_a_checkout_read_without_git(tmp_path):
    package = tmp_path / "cacop_cli"
    package.mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    assert checkout_commit(package) is None  # not a repository yet
    git(tmp_path, "init", "-q", "-b", "main")
    assert checkout_commit(package) is None  # an unborn branch
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "one")
    head = git(tmp_path, "rev-parse", "HEAD").strip()
    assert checkout_commit(package) == head
    git(tmp_path, "pack-refs", "--all")  # the ref now lives in packed-refs only
    assert not (tmp_path / ".git/refs/heads/main").exists()
    assert checkout_commit(package) == head
    worktree = tmp_path.parent / f"{tmp_path.name}-wt"
    git(tmp_path, "worktree", "add", "-q", "--detach", str(worktree))
    assert (worktree / ".git").is_file()
    assert checkout_commit(worktree / "cacop_cli") == head
    git(tmp_path, "checkout", "-q", "--detach")
    assert checkout_commit(package) == head


def test_an_installed_package_has_no_commit(tmp_path):
    package = tmp_path / "site-packages" / "cacop_cli"
    package.mkdir(parents=True)
    git(tmp_path, "init", "-q")  # even inside some other repository
    assert checkout_commit(package) is None


def test_the_version_has_one_source():
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text("utf-8")
    assert re.search(r'^dynamic = \["version"\]$', pyproject, re.MULTILINE)
    assert not re.search(r"^version\s*=", pyproject, re.MULTILINE)
    changelog = (Path(__file__).parent.parent / "CHANGELOG.md").read_text("utf-8")
    headings = re.findall(r"^## (.*)$", changelog, re.MULTILINE)
    assert headings[0] == "Unreleased"  # where each change's line goes until the release
    released = [re.fullmatch(r"(\d+\.\d+\.\d+) — \d{4}-\d{2}-\d{2}", h) for h in headings[1:]]
    assert all(released), headings  # `## 1.2.0 — 2027-01-31`, newest first
    versions = [tuple(map(int, match.group(1).split("."))) for match in released]
    assert versions == sorted(set(versions), reverse=True)
    ours = tuple(map(int, __version__.split(".")))
    assert ours in versions or all(ours > version for version in versions)  # or it comes next


# ---------------------------------------------------------------- pinned installs


@pytest.mark.parametrize("spec", PINNED.values(), ids=PINNED)
def test_a_pinned_spec_is_accepted(spec):
    assert release.check_spec(spec) == spec


@pytest.mark.parametrize("spec", UNPINNED)
def test_an_unpinned_or_unsafe_spec_is_refused(spec):
    with pytest.raises(UsageError, match="does not name one exact cacop"):
        release.check_spec(spec)


def installed_specs(text: str) -> list[str]:
    """What every `pip install` line of a file installs, as a spec."""
    found = []
    for line in text.splitlines():
        match = re.search(r"pip install (.*)$", line)
        if match:
            found.append(" ".join(shlex.split(yaml.safe_load(f"x: {match.group(1)}")["x"])))
    return found


def test_no_template_installs_anything_but_the_pinned_spec():
    for template in (ops.WORKFLOW, ops.GITLAB_CI, ops.PRE_COMMIT):
        for line in template.splitlines():
            if "pip install" in line:
                assert line.strip().endswith("{install}"), line


def assert_the_forges_accept(root: Path) -> None:
    """The KB's CI files pass GitHub's and GitLab's own schemas (vendored, offline)."""
    for schema, path in (
        ("vendor.github-workflows", ".github/workflows/cacop.yml"),
        ("vendor.gitlab-ci", ".gitlab-ci.yml"),
    ):
        checked = subprocess.run(
            [BIN / "check-jsonschema", "--builtin-schema", schema, root / path],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("spec", PINNED.values(), ids=PINNED)
def test_init_writes_ci_jobs_that_install_exactly_the_spec_and_pass_the_forges_schemas(
    cli, tmp_path, spec
):
    root = tmp_path / "kb"
    result = cli("init", str(root), "--site", "alpha", "--cacop-spec", spec)
    assert result.exit_code == ExitCode.OK, result.output
    settings = yaml.safe_load((root / "cacop.yaml").read_text("utf-8"))
    assert settings["format"] == release.FORMAT
    assert settings["cacop"] == {"requires": spec}
    workflow = (root / ".github/workflows/cacop.yml").read_text("utf-8")
    gitlab = (root / ".gitlab-ci.yml").read_text("utf-8")
    assert installed_specs(workflow) == [spec]
    assert installed_specs(gitlab) == [spec, spec]  # merge requests, and the Pages job
    jobs = yaml.safe_load(workflow)["jobs"]  # the site: built after validating, gate first
    steps = [step.get("run") or step.get("uses") for step in jobs["validate"]["steps"]]
    built = steps.index("cacop site build _site")
    assert steps[built + 1] == "actions/upload-pages-artifact@v3"
    assert jobs["pages"]["needs"] == "validate"
    assert jobs["pages"]["steps"][0]["uses"] == "actions/deploy-pages@v4"
    pages = yaml.safe_load(gitlab)["pages"]
    assert pages["script"][-1] == "cacop site build public"
    assert pages["artifacts"]["paths"] == ["public"]
    hook = yaml.safe_load((root / ".pre-commit-config.yaml").read_text("utf-8"))
    hooks = hook["repos"][0]["hooks"]
    assert [each["id"] for each in hooks] == ["cacop-validate", "cacop-check-share"]
    for each in hooks:
        assert each["language"] == "python"
        assert each["additional_dependencies"] == release.pip_arguments(spec)
        assert " ".join(each["additional_dependencies"]) == spec
    assert_the_forges_accept(root)
    assert cli("--kb", str(root), "validate").exit_code == ExitCode.OK


def test_init_without_a_known_source_asks_for_one_and_makes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("CACOP_SPEC")
    root = tmp_path / "kb"
    result = cli("init", str(root), "--site", "alpha")
    assert result.exit_code == ExitCode.USAGE
    assert "cannot tell where it was installed from" in result.stderr
    assert "--cacop-spec" in result.stderr
    assert not root.exists()
    refused = cli("init", str(root), "--site", "alpha", "--cacop-spec", "cacop")
    assert refused.exit_code == ExitCode.USAGE and not root.exists()


def _installed_as(tmp_path, monkeypatch, record: dict) -> None:
    """A cacop distribution first on the path, whose installer recorded `record` (PEP 610)."""
    info = tmp_path / "site" / "cacop-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cacop\nVersion: 0.1.0\n")
    (info / "direct_url.json").write_text(json.dumps(record))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def test_the_running_cacop_installed_from_a_vcs_url_pins_that_commit(tmp_path, monkeypatch):
    commit = "b" * 40
    _installed_as(tmp_path, monkeypatch, {
        "url": "https://forge.invalid/psp/cacop.git",
        "vcs_info": {"vcs": "git", "requested_revision": "v0.1.0", "commit_id": commit},
    })  # fmt: skip
    assert release.running_spec() == f"cacop @ git+https://forge.invalid/psp/cacop.git@{commit}"


def test_the_running_cacop_installed_from_a_local_file_is_unknown(tmp_path, monkeypatch):
    _installed_as(tmp_path, monkeypatch, {
        "url": "file:///tmp/cacop-0.1.0-py3-none-any.whl", "archive_info": {},
    })  # fmt: skip
    assert release.running_spec() is None


# ---------------------------------------------------------------- format and requires


@pytest.fixture
def format_1(tmp_path) -> Path:
    target = tmp_path / "format-1"
    shutil.copytree(FILES / "formats" / "1", target)
    return target


def _set(root: Path, old: str, new: str) -> None:
    path = root / "cacop.yaml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_kb_in_a_newer_format_says_what_to_install(cli, format_1):
    _set(format_1, "format: 1", f"format: {release.FORMAT + 1}\nnew-setting: x")
    result = cli("--kb", str(format_1), "list")
    assert result.exit_code == ExitCode.NO_KB
    assert f"cacop.yaml:2: this knowledge base is in format {release.FORMAT + 1}" in result.stderr
    assert "install a newer cacop" in result.stderr


def test_a_kb_that_requires_a_newer_cacop_says_which_to_install(cli, format_1):
    newer = "cacop @ git+https://forge.invalid/psp/cacop.git@v99.0.0"
    _set(format_1, TEST_SPEC, newer)
    result = cli("--kb", str(format_1), "search", "dosage")
    assert result.exit_code == ExitCode.NO_KB
    assert f"requires cacop 99.0.0 (cacop.requires); this is cacop {__version__}" in result.stderr
    assert f"pipx install --force '{newer}'" in result.stderr


def test_a_kb_that_requires_this_or_an_older_cacop_or_names_none_is_read(cli, format_1):
    _set(format_1, TEST_SPEC, "--index-url https://packages.forge.invalid/simple cacop==0.0.9")
    assert cli("--kb", str(format_1), "list").exit_code == ExitCode.OK
    _set(format_1, "format: 1\n", "")  # a KB from before formats were recorded
    text = (format_1 / "cacop.yaml").read_text("utf-8")
    (format_1 / "cacop.yaml").write_text(text[: text.index("cacop:\n")])
    assert cli("--kb", str(format_1), "validate").exit_code == ExitCode.OK


# ---------------------------------------------------------------- upgrade


@pytest.mark.parametrize("fixture", sorted(p.name for p in (FILES / "formats").iterdir()))
def test_every_kept_format_upgrades_to_this_one_and_validates(cli, tmp_path, fixture):
    root = tmp_path / fixture
    shutil.copytree(FILES / "formats" / fixture, root)
    result = cli("--kb", str(root), "upgrade")
    assert result.exit_code == ExitCode.OK, result.output
    assert yaml.safe_load((root / "cacop.yaml").read_text("utf-8")).get("format", 1) == (
        release.FORMAT
    )
    assert cli("--kb", str(root), "validate").exit_code == ExitCode.OK
    assert cli("--kb", str(root), "search", "dosage").exit_code == ExitCode.OK


def test_upgrading_a_kb_in_this_format_changes_nothing(cli, format_1):
    before = {p: p.read_bytes() for p in sorted(format_1.rglob("*")) if p.is_file()}
    result = cli("--kb", str(format_1), "upgrade")
    assert result.exit_code == ExitCode.OK
    assert f"in format {release.FORMAT}, the newest; nothing to change" in result.stderr
    after = {p: p.read_bytes() for p in sorted(format_1.rglob("*")) if p.is_file()}
    assert {p: b for p, b in after.items() if ".cacop" not in p.parts} == before


def test_upgrade_runs_the_steps_in_order_and_records_the_format(cli, format_1, monkeypatch):
    ran: list[int] = []

    def step(source: int, name: str):
        def apply(root: Path) -> list[str]:
            ran.append(source)
            with (root / "kb" / "sites.yaml").open("a") as sites:
                sites.write(f"# upgraded from format {source}\n")
            return [name]

        return release.UpgradeStep(source, f"format {source} -> {source + 1}", apply)

    monkeypatch.setattr(release, "FORMAT", 3)
    monkeypatch.setattr(release, "UPGRADES", [step(2, "kb/sites.yaml"), step(1, "kb/sites.yaml")])
    config = format_1 / "cacop.yaml"
    before = config.read_text("utf-8")
    result = cli("--kb", str(format_1), "upgrade")
    assert result.exit_code == ExitCode.OK, result.output
    assert ran == [1, 2]
    assert result.stdout.splitlines() == ["kb/sites.yaml", "cacop.yaml"]
    assert config.read_text("utf-8") == before.replace("format: 1\n", "format: 3\n")
    sites = (format_1 / "kb" / "sites.yaml").read_text("utf-8")
    assert sites.endswith("# upgraded from format 1\n# upgraded from format 2\n")
    again = cli("--kb", str(format_1), "upgrade")
    assert ran == [1, 2] and "nothing to change" in again.stderr


def test_upgrade_pins_the_ci_jobs_and_hook_to_what_cacop_yaml_requires(cli, tmp_path):
    """cacop.requires is the one place a coordinator changes; upgrade carries it to the
    install lines of both CI jobs and the pre-commit hook."""
    old, new = list(PINNED.values())[:2]
    root = tmp_path / "kb"
    assert cli("init", str(root), "--site", "alpha", "--cacop-spec", old).exit_code == 0
    config = root / "cacop.yaml"
    config.write_text(config.read_text("utf-8").replace(old, new), encoding="utf-8")
    result = cli("--kb", str(root), "upgrade")
    assert result.exit_code == ExitCode.OK, result.output
    assert sorted(result.stdout.split()) == [
        ".github/workflows/cacop.yml", ".gitlab-ci.yml", ".pre-commit-config.yaml",
    ]  # fmt: skip
    workflow = (root / ".github/workflows/cacop.yml").read_text("utf-8")
    gitlab = (root / ".gitlab-ci.yml").read_text("utf-8")
    for text in (workflow, gitlab):  # every job that installs cacop (validate, the site)
        assert installed_specs(text) and set(installed_specs(text)) == {new}
    hook = yaml.safe_load((root / ".pre-commit-config.yaml").read_text("utf-8"))
    for each in hook["repos"][0]["hooks"]:
        assert each["additional_dependencies"] == release.pip_arguments(new)
    assert_the_forges_accept(root)
    assert "nothing to change" in cli("--kb", str(root), "upgrade").stderr
