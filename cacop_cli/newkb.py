"""A new knowledge base: `cacop init` writes its settings, registry, schemas, CI jobs,
pre-commit and pre-push hooks, and makes its first commit. Never prints."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import gitrepo
from .config import CONFIG_NAME
from .entries import ID_RE, write_atomic
from .errors import Refused, UsageError
from .schemas import packaged_schema_dir

# The CI jobs and the pre-commit hook install exactly the cacop that cacop.yaml names in
# `cacop.requires` ({install}: the pip arguments, shell-quoted; {dependencies}: the same as
# a YAML list); never a bare name that a public index could hand to someone else's code.
WORKFLOW = """\
name: cacop validate
on:
  pull_request:
  push:
    branches: [{branch}]
permissions:
  contents: read
jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the cacop that cacop.yaml names (cacop.requires)
        run: {install}
      - name: Validate the entries this change touches, and every cross-entry rule
        if: github.event_name == 'pull_request'
        run: cacop validate --changed-since "origin/${{{{ github.base_ref }}}}"
      - name: Refuse what may not leave (TLP above share.max_tlp, personal data, secrets)
        if: github.event_name == 'pull_request'
        run: cacop check-share "origin/${{{{ github.base_ref }}}}..HEAD"
      - name: Validate the whole knowledge base
        if: github.event_name != 'pull_request'
        run: cacop validate
      # The website (cacop site build): what may leave, and only that. When the gate refuses
      # an entry (personal data, a secret, an attachment it cannot read) this step fails
      # and nothing is published. Settings > Pages > Source: GitHub Actions switches it on.
      - name: Build the site of what may leave
        if: github.event_name != 'pull_request'
        run: cacop site build _site
      - uses: actions/upload-pages-artifact@v3
        if: github.event_name != 'pull_request'
        with:
          path: _site
  pages:
    if: github.event_name != 'pull_request'
    needs: validate
    runs-on: ubuntu-latest
    permissions:
      pages: write
      id-token: write
    environment:
      name: github-pages
      url: ${{{{ steps.deployment.outputs.page_url }}}}
    steps:
      - id: deployment
        uses: actions/deploy-pages@v4
"""

GITLAB_CI = """\
cacop-validate:
  image: python:3.11
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script:
    - {install}
    - git fetch origin "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    - cacop validate --changed-since "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    - cacop check-share "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME..HEAD"
  variables:
    GIT_DEPTH: "0"

# The website (cacop site build) on GitLab Pages, from the default branch. When the gate
# refuses an entry the job fails and no public/ is kept, so nothing is published.
pages:
  image: python:3.11
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  script:
    - {install}
    - cacop site build public
  artifacts:
    paths:
      - public
"""

PRE_COMMIT = """\
# Runs `cacop validate` before each commit and `cacop check-share` before each push, with
# the cacop that cacop.yaml names (cacop.requires). Needs pre-commit (https://pre-commit.com);
# then `pre-commit install --hook-type pre-commit --hook-type pre-push`.
repos:
  - repo: local
    hooks:
      - id: cacop-validate
        name: cacop validate
        entry: cacop validate
        language: python
        additional_dependencies: {dependencies}
        pass_filenames: false
        files: ^(kb/|schemas/|cacop\\.yaml)
      - id: cacop-check-share
        name: cacop check-share (what the push sends)
        entry: cacop check-share
        language: python
        additional_dependencies: {dependencies}
        pass_filenames: false
        always_run: true
        stages: [pre-push]
"""

GITATTRIBUTES = """\
# Written by cacop init. Entries and settings keep LF line endings in the repository and in
# every clone, whatever the system or git's core.autocrlf (a CRLF file from a Windows editor
# is still read as it is); attachments travel byte for byte, never converted.
*.md text eol=lf
*.yaml text eol=lf
*.json text eol=lf
kb/work-products/*/** -text
"""


def ci_files(branch: str, spec: str) -> dict[str, str]:
    """The CI jobs and pre-commit hook of a KB, each installing exactly `spec`."""
    import shlex

    from . import yamlsafe
    from .release import pip_arguments

    arguments = pip_arguments(spec)
    install = yamlsafe.scalar("pip install " + " ".join(map(shlex.quote, arguments)))
    return {
        ".github/workflows/cacop.yml": WORKFLOW.format(branch=branch, install=install),
        ".gitlab-ci.yml": GITLAB_CI.format(install=install),
        ".pre-commit-config.yaml": PRE_COMMIT.format(dependencies=yamlsafe.scalar(arguments)),
    }


PR_TEMPLATE = """\
## What this shares

<!-- One line: the entry (or entries) and why other sites will want it. -->

## Checklist

- [ ] `cacop validate` passes
- [ ] TLP is CLEAR or GREEN (nothing AMBER or RED leaves the agency)
- [ ] No names, dates of birth, phone numbers, plates or case numbers of real people
- [ ] Attachments are the final versions and open without special software
"""


@dataclass
class NewKB:
    """What `init` made: the KB, and the kb/sites.yaml fields it filled with placeholders."""

    root: Path
    placeholders: list[str] = field(default_factory=list)


def init_kb(
    path: Path,
    site: str,
    *,
    name: str | None = None,
    agency: str | None = None,
    state: str = "XX",
    branch: str = "main",
    cacop_spec: str | None = None,
) -> NewKB:
    """A new KB repository with its first commit. Refuses an existing KB, touching nothing.

    Its CI jobs install `cacop_spec` (checked to name one exact cacop), by default the
    cacop running this, where it can tell its own source; it is recorded in cacop.yaml.

    The name, agency and state are written as YAML scalars (quoted where YAML would read
    them otherwise): a value is never able to add a field of its own."""
    from . import yamlsafe
    from .vocabulary import INIT_TEXT as VOCABULARY_INIT
    from .vocabulary import VOCABULARY_PATH

    root = path.expanduser().resolve()
    if (root / CONFIG_NAME).exists():
        raise Refused(
            f"{root} is already a cacop knowledge base (it has {CONFIG_NAME}); nothing was changed"
        )
    if not ID_RE.fullmatch(f"{site}-x") or len(site) > 40:
        raise UsageError(f"--site {site!r} must be a short slug like 'memphis' or 'baton-rouge'")
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a folder")
    if root.is_dir() and any(child.name != ".git" for child in root.iterdir()):
        raise Refused(
            f"{root} already holds files; a new knowledge base starts in an empty folder "
            "(its first commit would take in everything there); nothing was changed",
            hint="give a new folder, e.g. `cacop init ~/kb --site SLUG`",
        )
    for option, value in (("--name", name), ("--agency", agency), ("--state", state)):
        if value is not None and (not value.strip() or not value.isprintable()):  # no breaks
            raise UsageError(f"{option} {value!r} must be one line of text; nothing was changed")
    from . import release

    spec = release.check_spec(cacop_spec) if cacop_spec else release.running_spec()
    if spec is None:
        raise release.unknown_source()
    root.mkdir(parents=True, exist_ok=True)
    display = site.replace("-", " ").title()
    guessed = [  # kb/sites.yaml fields made up from the slug: the site should correct them
        f"{site}.{field}: {value}"
        for field, value, given in (
            ("name", display, True),
            ("agency", f"{display} Police Department", agency is None),
            ("state", state, state == "XX"),
        )
        if given
    ]
    name = yamlsafe.scalar(name or display + " crime analysis knowledge base")
    agency = yamlsafe.scalar(agency or display + " Police Department")
    files = {
        CONFIG_NAME: (
            f"# Settings of this knowledge base (see cacop's README).\n"
            f"format: {release.FORMAT}\n"
            f"name: {name}\nsite: {site}\nremote: origin\nbranch: {branch}\n"
            "share:\n  max_tlp: green\n"
            f"cacop:\n  requires: {yamlsafe.scalar(spec)}\n"
        ),
        "kb/sites.yaml": (
            f"{site}:\n  name: {display}\n  agency: {agency}\n  state: {yamlsafe.scalar(state)}\n"
        ),
        VOCABULARY_PATH: VOCABULARY_INIT,
        "kb/strategies/.gitkeep": "",
        "kb/work-products/.gitkeep": "",
        "kb/rfis/.gitkeep": "",
        ".gitignore": ".cacop/\n",
        ".gitattributes": GITATTRIBUTES,
        ".github/pull_request_template.md": PR_TEMPLATE,
        **ci_files(branch, spec),
    }
    for relative, contents in files.items():
        target = root / relative
        if not target.exists():
            write_atomic(target, contents)
    schema_target = root / "schemas"
    schema_target.mkdir(exist_ok=True)
    for schema in sorted(packaged_schema_dir().glob("*.schema.json")):
        if not (schema_target / schema.name).exists():
            shutil.copyfile(schema, schema_target / schema.name)
    if not gitrepo.is_repository(root):
        gitrepo.init_repository(root, branch)
    gitrepo.commit_all(root, f"Start the {site} knowledge base with cacop init")
    gitrepo.set_cacop_setting(root, "site", site)  # who ran init said which site they are
    from .share.check import install_hook

    install_hook(root, keep_foreign=True)  # plain `git push` runs the sharing gate too
    return NewKB(root, guessed)
