"""`validate` keeps each file's own findings in .cacop/findings.json: whatever the cache
holds (nothing, everything, stale records, damage), it reports what `--no-cache` does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixturefiles import FILES
from kbtools import no_traceback

from cacop_cli.checks import FILE_CHECKS, template_prompts
from cacop_cli.crosschecks import CROSS_CHECKS
from cacop_cli.findings_cache import CACHE
from cacop_cli.schemas import packaged_schema_dir


def write(kb: Path, rel: str, text: str) -> Path:
    path = kb / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def strategy(entry_id: str, extra: str = "", body: str = "## Summary\n\nText.\n") -> str:
    return (
        f"---\nid: {entry_id}\ntype: strategy\ntitle: A strategy\nsite: alpha\n"
        "authors: [A. Analyst]\ncreated: 2024-03-05\ntopics: [gun-violence]\ntlp: green\n"
        f"status: active\n{extra}---\n{body}"
    )


def work_product(entry_id: str, attachments: str) -> str:
    return (
        f"---\nid: {entry_id}\ntype: work-product\ntitle: A bulletin\nsite: alpha\n"
        "authors: [A. Analyst]\ncreated: 2024-03-05\ntopics: [crime-analysis]\ntlp: green\n"
        f"product_type: template\nattachments: {attachments}\n---\n## Purpose\n\nA bulletin.\n"
    )


@pytest.fixture
def every_problem(tmp_path) -> Path:
    """A KB with one file for each kind of problem the checks find, per file and across
    entries: the invalid and warnings fixtures, and what they lack."""
    kb = tmp_path / "every-problem"
    shutil.copytree(FILES / "invalid", kb)
    for path in (FILES / "warnings" / "kb" / "strategies").glob("*.md"):
        shutil.copy(path, kb / "kb" / "strategies" / path.name)
    (kb / "schemas").mkdir()
    for path in packaged_schema_dir().glob("*.schema.json"):
        shutil.copy(path, kb / "schemas" / path.name)
    with (kb / "cacop.yaml").open("a") as handle:
        handle.write("limits:\n  attachment_bytes: 100\n")
    prompt = next(iter(template_prompts("strategy").items()))
    write(kb, "kb/strategies/warn-template-prompt.md", strategy(
        "warn-template-prompt", body=f"## {prompt[0]}\n\n{prompt[1]}\n"))  # fmt: skip
    write(kb, "kb/work-products/bad-attachment-big.md", work_product(
        "bad-attachment-big", "[big.pdf, fine.pdf, linked.pdf, folder]"))  # fmt: skip
    write(kb, "kb/work-products/bad-attachment-big/big.pdf", "x" * 101)
    write(kb, "kb/work-products/bad-attachment-big/fine.pdf", "x" * 10)
    (kb / "kb/work-products/bad-attachment-big/folder").mkdir()
    os.symlink("fine.pdf", kb / "kb/work-products/bad-attachment-big/linked.pdf")
    write(kb, "kb/work-products/bad-portable-name.md", work_product(
        "bad-portable-name", "['map:1.png', Plan.png, plan.png]"))  # fmt: skip
    for name in ("map:1.png", "Plan.png", "plan.png"):
        write(kb, f"kb/work-products/bad-portable-name/{name}", "x")
    write(kb, "kb/strategies/bad-too-large.md", strategy("bad-too-large", body="x" * 1_100_000))
    os.symlink("good-target.md", kb / "kb/strategies/bad-linked-entry.md")
    write(kb, "kb/vocabulary.yaml", "groups:\n  - [LPR]\n")
    subprocess.run(["git", "init", "-q", str(kb)], check=True)
    write(kb, ".cacop/stray", "committed by mistake")
    subprocess.run(["git", "-C", str(kb), "add", "-f", ".cacop/stray"], check=True)
    return kb


def findings(cli, kb: Path, *options: str) -> list[dict]:
    result = cli("validate", "--json", *options, kb=kb)
    no_traceback(result)
    assert result.exit_code == 1, result.stdout + result.stderr
    return json.loads(result.stdout)["problems"]


def fresh(cli, kb: Path) -> list[dict]:
    """From scratch, and proof that doing so writes nothing."""
    cache = kb / ".cacop" / CACHE
    before = cache.read_bytes() if cache.exists() else None
    found = findings(cli, kb, "--no-cache")
    assert (cache.read_bytes() if cache.exists() else None) == before
    return found


def test_the_kb_holds_every_kind_of_problem(cli, every_problem):
    codes = {problem["code"] for problem in fresh(cli, every_problem)}
    checks = set(FILE_CHECKS) | set(CROSS_CHECKS)
    assert checks <= codes, checks - codes
    unreadable = {"not-utf8", "nul-bytes", "conflict-markers", "too-large", "link", "yaml"}
    kb_level = {"vocabulary", "committed-index"}
    assert unreadable | kb_level <= codes, (unreadable | kb_level) - codes


def test_cold_warm_and_after_edits_the_cache_reports_what_no_cache_does(cli, every_problem):
    kb = every_problem
    expected = fresh(cli, kb)
    assert not (kb / ".cacop" / CACHE).exists()
    assert findings(cli, kb) == expected  # cold: computed and kept
    cache = kb / ".cacop" / CACHE
    kept = cache.read_bytes()
    assert findings(cli, kb) == expected  # warm: nothing to recompute, nothing written
    assert cache.read_bytes() == kept

    # Edits: a fault fixed, a new one made, a cross problem made, an attachment shrunk,
    # a file deleted, a file added.
    fixed = kb / "kb/strategies/bad-date-words.md"
    fixed.write_text(fixed.read_text().replace("next week", "2024-03-05"))
    target = kb / "kb/strategies/good-target.md"
    target.write_text(target.read_text().replace("tlp: green", "tlp: purple"))
    write(kb, "kb/strategies/new-clash.md", strategy("good-target"))
    write(kb, "kb/work-products/bad-attachment-big/big.pdf", "x")
    (kb / "kb/strategies/bad-empty-file.md").unlink()
    after = findings(cli, kb)
    assert after == fresh(cli, kb)
    assert after != expected
    assert cache.read_bytes() != kept
    assert findings(cli, kb) == after  # and warm again


def messages(problems: list[dict], rel: str) -> list[str]:
    return [problem["message"] for problem in problems if problem["path"] == rel]


@pytest.fixture
def warm(cli, every_problem) -> Path:
    findings(cli, every_problem)
    assert (every_problem / ".cacop" / CACHE).exists()
    return every_problem


def same_both_ways(cli, kb: Path) -> list[dict]:
    cached = findings(cli, kb)
    assert cached == fresh(cli, kb)
    return cached


def test_a_changed_schema_changes_the_findings(cacop_exe, warm):
    """Run as separate processes: a process reads each schema once."""

    def run(*options: str) -> list[dict]:
        command = [*cacop_exe, "--kb", str(warm), "validate", "--json", *options]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        assert result.returncode == 1, result.stderr
        return json.loads(result.stdout)["problems"]

    rel = "kb/strategies/good-target.md"
    assert not any("title: too long" in message for message in messages(run(), rel))
    schema = warm / "schemas" / "common.schema.json"
    document = json.loads(schema.read_text())
    document["properties"]["title"]["maxLength"] = 5
    schema.write_text(json.dumps(document))
    found = run()
    assert found == run("--no-cache")
    assert any("title: too long" in message for message in messages(found, rel))


def test_a_changed_site_list_changes_the_findings(cli, warm):
    rel = "kb/strategies/good-target.md"
    assert not any("is not in kb/sites.yaml" in m for m in messages(findings(cli, warm), rel))
    sites = warm / "kb" / "sites.yaml"
    sites.write_text(sites.read_text().replace("alpha:", "gamma:"))
    assert any(
        "'alpha' is not in kb/sites.yaml" in m for m in messages(same_both_ways(cli, warm), rel)
    )


def test_a_changed_vocabulary_changes_the_findings(cli, warm):
    before = messages(findings(cli, warm), "kb/vocabulary.yaml")
    assert before
    (warm / "kb" / "vocabulary.yaml").write_text("groups:\n  - [LPR, license plate reader]\n")
    assert messages(same_both_ways(cli, warm), "kb/vocabulary.yaml") == []


def test_a_changed_attachment_changes_the_findings(cli, warm):
    rel = "kb/work-products/bad-attachment-big.md"
    folder = warm / "kb/work-products/bad-attachment-big"
    assert not any("'fine.pdf'" in m for m in messages(findings(cli, warm), rel))
    (folder / "fine.pdf").write_text("x" * 200)  # grown past the limit
    assert any("'fine.pdf': is 200 bytes" in m for m in messages(same_both_ways(cli, warm), rel))
    (folder / "fine.pdf").unlink()  # and the link to it now points nowhere, still a link
    found = messages(same_both_ways(cli, warm), rel)
    assert any("'fine.pdf': not found" in m for m in found)
    (folder / "big.pdf").unlink()
    os.symlink("/etc/hostname", folder / "big.pdf")
    found = messages(same_both_ways(cli, warm), rel)
    assert any("'big.pdf': is a symbolic link" in m for m in found)


def test_a_changed_limit_changes_the_findings(cli, warm):
    rel = "kb/work-products/bad-attachment-big.md"
    config = warm / "cacop.yaml"
    config.write_text(config.read_text().replace("attachment_bytes: 100", "attachment_bytes: 5"))
    assert any("'fine.pdf': is 10 bytes" in m for m in messages(same_both_ways(cli, warm), rel))


def test_a_renamed_file_changes_the_findings(cli, warm):
    old = warm / "kb/strategies/good-target.md"
    assert not messages(findings(cli, warm), "kb/strategies/good-target.md")
    old.rename(warm / "kb/strategies/good-target-renamed.md")
    found = messages(same_both_ways(cli, warm), "kb/strategies/good-target-renamed.md")
    assert any("does not match the file name" in message for message in found)


def sign(kb: Path, payload: bytes) -> bytes:
    """What only this user can write: the cache sealed with their key."""
    from cacop_cli import sealed

    kept = sealed.seal(kb / ".cacop" / CACHE, payload)
    assert kept is not None
    return kept


def test_the_cache_is_what_a_warm_run_reports(cli, warm):
    """A record this user signed is believed (so the runs above did use the cache) ..."""
    cache = warm / ".cacop" / CACHE
    document = json.loads(cache.read_bytes().partition(b"\n")[2])
    record = document["files"]["kb/strategies/good-target.md"]
    record[3] = [["warning", "dates", 3, "planted"]]
    cache.write_bytes(sign(warm, json.dumps(document).encode()))
    assert "planted" in messages(findings(cli, warm), "kb/strategies/good-target.md")


@pytest.mark.parametrize(
    "damage",
    ["unsigned", "truncated", "garbage", "wrong-shape", "a-folder", "a-link", "bad-rows"],
)
def test_a_damaged_or_foreign_cache_is_recomputed_never_believed(cli, warm, damage):
    """... and anything else is not: edited, cut short, foreign, of the wrong shape."""
    expected = fresh(cli, warm)
    cache = warm / ".cacop" / CACHE
    signature, _, payload = cache.read_bytes().partition(b"\n")
    document = json.loads(payload)
    document["files"]["kb/strategies/good-target.md"][3] = [["error", "x", 1, "planted"]]
    if damage == "unsigned":
        cache.write_bytes(signature + b"\n" + json.dumps(document).encode())
    elif damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:500])
    elif damage == "garbage":
        cache.write_bytes(os.urandom(3000))
    elif damage == "wrong-shape":
        cache.write_bytes(sign(warm, b'{"stamp": 1, "files": [1, 2]}'))
    elif damage == "a-folder":
        cache.unlink()
        cache.mkdir()
    elif damage == "a-link":
        cache.unlink()
        os.symlink("/etc/hostname", cache)
    else:  # signed, but rows that are not findings
        for record in document["files"].values():
            record[3] = [["fatal", 1, "x", None]]
        cache.write_bytes(sign(warm, json.dumps(document).encode()))
    assert findings(cli, warm) == expected
    assert findings(cli, warm) == expected


def test_a_path_argument_uses_and_keeps_the_cache_for_that_file(cli, warm):
    rel = "kb/strategies/bad-date-words.md"
    result = cli("validate", "--json", str(warm / rel), kb=warm)
    problems = json.loads(result.stdout)["problems"]
    assert {p["path"] for p in problems if p["path"].endswith(".md")} == {rel}
    document = json.loads((warm / ".cacop" / CACHE).read_bytes().partition(b"\n")[2])
    assert len(document["files"]) > 10  # the other files' records are kept


def test_validate_without_the_cache_builds_no_index_and_reads_every_file(kb_path):
    """The sharing gates validate temporary checkouts with cache=False (as `--no-cache`):
    nothing derived is trusted, and no index is built there (at 10 s a submit, for the
    5 MB CSV it would index); the findings equal the cached run's."""
    from cacop_cli import ops
    from cacop_cli.config import load_kb

    kb = load_kb(kb_path)
    shutil.rmtree(kb_path / ".cacop", ignore_errors=True)
    afresh = ops.validate(kb, cache=False)
    assert not list((kb_path / ".cacop").glob("gen-*")), "no index built"
    kept = ops.validate(kb)
    assert [str(issue) for issue in afresh.issues] == [str(issue) for issue in kept.issues]
    assert afresh.checked == kept.checked


def _slow_paths(monkeypatch) -> None:
    """Every fast path of the file checks turned off: PyYAML reads every frontmatter,
    jsonschema judges every field, the template check goes line by line."""
    from cacop_cli import checks, schemas, yamlsafe

    monkeypatch.setattr(yamlsafe, "_simple", lambda text: None)
    monkeypatch.setattr(schemas, "_predicate", lambda schema: None)
    schemas._fieldwise.cache_clear()
    monkeypatch.setattr(
        checks.TemplatePromptCheck, "_by_search", checks.TemplatePromptCheck._by_lines
    )


@pytest.mark.parametrize("kb_name", ["every_problem", "invalid", "warnings", "valid"])
def test_the_fast_paths_find_exactly_what_the_slow_ones_do(request, monkeypatch, kb_name):
    """The fast frontmatter reader, field predicates and template search change no finding,
    no line and no message, over every kind of broken entry (as the gates run it)."""
    from cacop_cli import ops, schemas
    from cacop_cli.config import load_kb

    kb = request.getfixturevalue(kb_name) if kb_name == "every_problem" else FILES / kb_name
    fast = ops.validate(load_kb(kb), cache=False).issues
    with monkeypatch.context() as patch:
        _slow_paths(patch)
        slow = ops.validate(load_kb(kb), cache=False).issues
    schemas._fieldwise.cache_clear()
    assert fast == slow
    assert kb_name == "valid" or fast


def test_the_template_search_finds_what_the_line_by_line_check_does(tmp_path):
    from cacop_cli.checks import Context, TemplatePromptCheck
    from cacop_cli.entries import entry_from_bytes

    check = TemplatePromptCheck(Context(tmp_path))
    prompts = template_prompts("strategy")
    (heading, prompt), (other, _) = list(prompts.items())[:2]
    bodies = [
        f"## {heading}\n\n{prompt}\n",
        f"## {heading}\n{prompt}",
        f"##  {heading}  \n\n  {prompt}  \n\n## {other}\n\nWritten.\n",
        f"## {heading}\n\n{prompt}\n# Top\n## {heading}\n\n{prompt} more\n",
        f"## {heading}\n\n{prompt}\n#tag\n",
        f"Intro\n## {heading}\n\n{' '.join(prompt.split()[:-1])}\n",
        f"## {heading}",
        f"### {heading}\n\n{prompt}\n",
        f"## {heading}\n\n{prompt}x\n",
        f"## {heading}\n\n{prompt.split()[0]}x {prompt}\n",
        f"## {heading}\n\n{prompt.split()[0]}\n",
        f"## {heading}\n\n{prompt}\n\n## {heading}\n\n{prompt}\n",
    ]
    for body in bodies:
        entry = entry_from_bytes(
            strategy("a-strategy", body=body).encode(), tmp_path / "a-strategy.md", tmp_path
        )
        assert list(check._by_search(entry, prompts)) == list(check._by_lines(entry, prompts))
    assert list(check._by_search(entry, prompts))  # the last body was found twice


def test_plain_ascii_is_never_said_of_text_the_safety_search_would_flag():
    from cacop_cli.checks import _plain_ascii
    from cacop_cli.models import UNSAFE_TEXT

    for code in [*range(0x300), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), 0x2066, 0x2069]:
        for text in (chr(code), f"## Heading\n\tText {chr(code)} more.\n"):
            assert not (_plain_ascii(text) and UNSAFE_TEXT.search(text)), hex(code)
    assert _plain_ascii("## Heading\n\n\tPlain text.\n")
    assert not _plain_ascii("\x1b[2J") and not _plain_ascii("caf\u00e9")


# A link and a file over the size limit: refused before their bytes are read, never kept.
NEVER_KEPT = {"bad-linked-entry.md", "bad-too-large.md"}


@pytest.fixture
def read_entry_files(monkeypatch) -> list[str]:
    """The names of the entry files validate's file checks read, run after run; and every
    file counted settled at once (scan.RACY_NS 0), as files are two seconds after a write."""
    from cacop_cli import findings_cache, safefile

    monkeypatch.setattr(findings_cache, "RACY_NS", 0)
    read: list[str] = []
    real = safefile.read_regular_file

    def spy(path, *args, **kwargs):  # validate's reads, not the search index's
        if sys._getframe(1).f_code.co_name == "file_findings":
            read.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(safefile, "read_regular_file", spy)
    return read


def test_a_file_whose_stat_is_kept_is_not_read_and_a_rewrite_is_seen(
    cli, every_problem, read_entry_files
):
    kb = every_problem
    expected = findings(cli, kb)
    assert len(read_entry_files) > 10  # cold: every file read
    read_entry_files.clear()
    assert findings(cli, kb) == expected
    assert set(read_entry_files) == NEVER_KEPT  # warm, every stat the one kept: none read
    # Rewritten in place with its size and mtime put back (as `touch -r` does): the ctime
    # still tells, and so does a new inode.
    target = kb / "kb/strategies/good-target.md"
    info = target.stat()
    text = target.read_text()
    assert "tlp: green" in text
    with open(target, "r+", encoding="utf-8") as handle:
        handle.write(text.replace("tlp: green", "tlp: gree!"))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    renamed = kb / "kb/strategies/bad-date-words.md"
    replacement = renamed.with_name("replacement")
    replacement.write_text(renamed.read_text().replace("next week", "2024-03-05"))
    os.utime(replacement, ns=(renamed.stat().st_atime_ns, renamed.stat().st_mtime_ns))
    os.replace(replacement, renamed)
    read_entry_files.clear()
    after = findings(cli, kb)
    assert set(read_entry_files) - NEVER_KEPT == {"bad-date-words.md", "good-target.md"}
    assert after == fresh(cli, kb) and after != expected


def test_a_file_written_within_the_racy_window_is_read_until_it_settles(
    cli, every_problem, read_entry_files, monkeypatch
):
    from cacop_cli import findings_cache

    kb = every_problem
    monkeypatch.setattr(findings_cache, "RACY_NS", 3_600 * 10**9)  # all written just now
    expected = findings(cli, kb)
    cache = kb / ".cacop" / CACHE
    kept = cache.read_bytes()
    read_entry_files.clear()
    assert findings(cli, kb) == expected
    assert len(read_entry_files) > 10  # no stat kept: every file read again
    assert cache.read_bytes() == kept  # nothing written for the stats alone
    monkeypatch.setattr(findings_cache, "RACY_NS", 0)  # settled now
    target = kb / "kb/strategies/good-target.md"
    target.write_text(target.read_text().replace("tlp: green", "tlp: purple"))
    findings(cli, kb)  # written for the change, with every settled stat
    read_entry_files.clear()
    assert findings(cli, kb) == fresh(cli, kb)
    assert set(read_entry_files) == NEVER_KEPT
