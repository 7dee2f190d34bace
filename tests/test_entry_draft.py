"""One draft type for every new entry: `EntryDraft.check` words each fault in terms of the
data and names the field; the commands add the option that gave it, exit codes unchanged."""

from __future__ import annotations

import datetime as dt

import pytest

from cacop_cli.errors import ExitCode, UsageError
from cacop_cli.models import EntryDraft

TODAY = dt.date(2026, 6, 15)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": "  "}, "title", "the title is empty"),
        ({"title": "x" * 201}, "title", "the title is 201 characters; a title holds at most 200"),
        ({"topics": []}, "topics", "no topic is given"),
        ({"topics": ["guns"]}, "topics", "'guns' is not a topic (one of: gun-violence,"),
        ({"tlp": "purple"}, "tlp", "'purple' is not a TLP marking"),
        ({"priority": "asap"}, "priority", "'asap' is not a priority"),
        ({"product_type": "memo"}, "product_type", "'memo' is not a product type"),
        ({"needed_by": "2026-02-30"}, "needed_by", "'2026-02-30' is not a date"),
        ({"needed_by": "2026-06-14"}, "needed_by", "2026-06-14 is in the past (today is 2026"),
        ({"entry_type": "response", "body": " "}, "body", "the response is empty"),
    ],
)
def test_each_fault_names_its_field_in_words_about_the_data(changes, field, message):
    draft = EntryDraft("rfi", "NIBIN triage", ["gun-violence"])
    for name, value in changes.items():
        setattr(draft, name, value)
    with pytest.raises(UsageError) as caught:
        draft.check(TODAY)
    assert caught.value.field == field
    assert caught.value.message.startswith(message)
    assert "--" not in caught.value.message  # the command layer names the options


def test_a_sound_draft_passes():
    EntryDraft(
        "rfi", "NIBIN triage", ["gun-violence"], tlp="amber", priority="urgent",
        needed_by="2026-06-15",
    ).check(TODAY)  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["new", "strategy", "--title", "T", "--topic", "guns", "--no-edit"], "--topic: 'guns'"),
        (["new", "strategy", "--title", "T", "--topic", "technology", "--tlp", "x", "--no-edit"],
         "--tlp: 'x' is not a TLP marking"),
        (["submit", "f.md", "--title", " ", "--topic", "technology"],
         "--title: the title is empty"),
        (["submit", "f.md", "--title", "T", "--topic", "technology", "--product-type", "memo"],
         "--product-type: 'memo' is not a product type"),
    ],
)  # fmt: skip
def test_the_commands_add_the_option_and_keep_exit_2(cli, git_kb, argv, said):
    (git_kb / "f.md").write_text("notes\n")
    result = cli(*argv, kb=git_kb)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr.startswith(f"error: {said}")
