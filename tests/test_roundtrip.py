"""Property tests: the entry writer and the strict reader agree; set_field touches one value."""

from __future__ import annotations

import os
import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cacop_cli import entries, yamlsafe

TRICKY_WORDS = [
    "yes", "no", "No", "NO", "on", "off", "y", "n", "true", "False", "null", "~", "", " ",
    "0123", "07302", "1e3", "0x1F", "1_000", ".5", "-0", "+1", ".inf", ".nan", "12:30:00",
    "2024-03-05", "2024-02-30", "2024-03-05T10:00:00Z", "<<", "=", "- x", "a: b", "#x", "x #y",
    "'quoted'", '"dq"', "[a]", "{a: 1}", "&anchor", "*alias", "!tag", "%YAML", "@at", "`tick",
    "---", "...", "|", ">", "? q", "tab\there", "trailing ", " leading", "a\nb", "a\n\n",
    "\n", "line\r\nbreak", "é", "日本語", "😀", "\u202eevil", "\x1b[2J", "\x85", "\u2028",
    "\ufeff", "\x00", "[bold]x[/bold]",
]  # fmt: skip
texts = st.one_of(st.sampled_from(TRICKY_WORDS), st.text(max_size=40))
scalars = st.one_of(
    texts,
    st.integers(min_value=-(10**15), max_value=10**15),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
values = st.one_of(scalars, st.lists(texts, max_size=5), st.lists(scalars, max_size=3))
names = st.one_of(
    st.sampled_from(list(entries.FIELD_ORDER)),
    st.from_regex(r"x-[a-z][a-z0-9_-]{0,12}", fullmatch=True),
    st.sampled_from(["yes", "1", "null", "a b", "é"]),
)
metas = st.dictionaries(names, values, min_size=1, max_size=8)
bodies = st.one_of(
    st.just(""),
    st.text(max_size=200).map(lambda body: body if body.endswith("\n") else body + "\n"),
    st.sampled_from(["---\nnot frontmatter\n---\n", "## Problem\r\n\r\nCRLF body\r\n"]),
)
# CACOP_EXAMPLES=5000 for a long hunt; the default keeps the suite fast.
EXAMPLES = int(os.environ.get("CACOP_EXAMPLES", "120"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(meta=metas, body=bodies)
def test_parse_of_render_is_the_entry(meta, body):
    text = entries.render_entry(meta, body)
    parsed_meta, parsed_body = entries.parse_text(text)
    assert parsed_meta == meta
    assert list(parsed_meta) == list(entries.ordered(meta))
    assert parsed_body == body


def frontmatter_line(name: str, value, newline: str) -> str:
    key = yamlsafe.scalar(name)
    return f"{key}: {yamlsafe.scalar(value).replace(chr(10), newline)}{newline}"


def build(meta: dict, body: str, newline: str, bom: bool, comment: bool) -> str:
    lines = "".join(frontmatter_line(name, value, newline) for name, value in meta.items())
    note = f"# kept as written{newline}" if comment else ""
    return f"{chr(0xFEFF) if bom else ''}---{newline}{note}{lines}---{newline}{body}"


@FAST
@given(
    meta=metas,
    body=bodies,
    data=st.data(),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    comment=st.booleans(),
)
def test_set_field_changes_only_that_value(meta, body, data, newline, bom, comment):
    name = data.draw(st.sampled_from(sorted(meta)), label="field")
    new_value = data.draw(values, label="new value")
    text = build(meta, body, newline, bom, comment)
    try:
        assume(entries.parse_text(text)[0] == meta)  # a layout YAML reads back as written
    except entries.EntryError:
        assume(False)
    changed = entries.set_field(text, name, new_value)
    assert changed == build({**meta, name: new_value}, body, newline, bom, comment)
    parsed_meta, parsed_body = entries.parse_text(changed)
    assert parsed_meta == {**meta, name: new_value}
    assert parsed_body == body


@FAST
@given(meta=metas, body=bodies, name=st.from_regex(r"x-[a-z]{1,10}", fullmatch=True))
def test_set_field_adds_a_missing_field_at_the_end(meta, body, name):
    assume(name not in meta)
    text = entries.render_entry(meta, body)
    changed = entries.set_field(text, name, "added")
    closing = text.index("\n---\n") + 1
    assert changed == text[:closing] + f"{name}: added\n" + text[closing:]
    assert entries.parse_text(changed)[0] == {**meta, name: "added"}


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(alphabet=string.printable + "é日😀\u202e\x1b\x85", max_size=300))
def test_any_text_as_an_entry_is_read_or_refused_never_a_crash(text):
    try:
        entries.parse_text(text)
    except entries.EntryError as error:
        assert error.message and error.line >= 1
