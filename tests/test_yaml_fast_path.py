"""The simple-shape reader in yamlsafe gives exactly what the full strict loader gives, or
steps aside: over every fixture entry (valid, broken, warnings) and over generated
frontmatter built from the tokens YAML treats specially."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cacop_cli import yamlsafe
from cacop_cli.entries import split_frontmatter
from cacop_cli.errors import EntryError

from conftest import FILES, REPO


def _full(text: str):
    try:
        document = yamlsafe._full_load(text)
    except yamlsafe.YamlProblem as problem:
        return ("problem", problem.message, problem.line, problem.code)
    return (document.value, list(document.value or ()), document.key_lines, document.raw_scalars)


def _fast(text: str):
    document = yamlsafe._simple(text)
    if document is None:
        return None
    return (document.value, list(document.value), document.key_lines, document.raw_scalars)


def _frontmatters():
    for root in (FILES / "valid", FILES / "invalid", FILES / "warnings", REPO / "kb"):
        for path in sorted(root.rglob("*.md")):
            try:
                yield path, split_frontmatter(path.read_bytes().decode("utf-8"))[0]
            except (EntryError, UnicodeDecodeError):
                continue


FRONTMATTERS = list(_frontmatters())


@pytest.mark.parametrize(
    "text",
    [text for _, text in FRONTMATTERS],
    ids=[  # the same in every test process (each has its own copy of FILES)
        (p.relative_to(FILES.parent) if p.is_relative_to(FILES) else p.relative_to(REPO)).as_posix()
        for p, _ in FRONTMATTERS
    ],
)
def test_fixture_frontmatter_reads_the_same_either_way(text):
    fast = _fast(text)
    assert fast is None or fast == _full(text)


def test_the_fixtures_take_the_fast_path_and_the_broken_ones_do_not_all():
    taken = [_fast(text) is not None for _, text in FRONTMATTERS]
    assert sum(taken) > len(taken) // 2
    assert not all(taken)


@pytest.mark.parametrize(
    "text",
    [
        'id: "a"\nid: "b"\n',  # duplicate key: PyYAML names the line
        "yes: x\n",  # a key YAML reads as true
        "tlp: NO\n",  # a value YAML reads as false
        "id: 0123\n",  # a number
        "tags: [yes, x]\n",  # a list item YAML reads as true
        "site: null\n",
        "title: a # comment\n",
        'title: "a\\"b"\n',  # an escape
        "title: \x85x\n",  # NEL, a line break to PyYAML
        "title: 'single'\n",
        "title:\n  - a\n",
        "  title: x\n",
        "title: x \n",
        "id: a\r\ntype: b\r\n",
        "",
        "\n",
    ],
)
def test_shapes_the_fast_path_leaves_to_pyyaml(text):
    assert yamlsafe._simple(text) is None
    yamlsafe.load("x: y\n")  # and the full reader is still there for them


def test_the_common_shape_is_read_fast_with_lines_and_raw_values():
    text = 'id: "a-1"\ntype: strategy\n\ncreated: 2024-03-05\ntags: ["x y", cad, ""]\ntopics: []\n'
    document = yamlsafe._simple(text)
    assert document is not None
    assert document.value == {
        "id": "a-1",
        "type": "strategy",
        "created": "2024-03-05",
        "tags": ["x y", "cad", ""],
        "topics": [],
    }
    assert document.key_lines == {"id": 0, "type": 1, "created": 3, "tags": 4, "topics": 5}
    assert document.raw_scalars == {"id": "a-1", "type": "strategy", "created": "2024-03-05"}
    assert _fast(text) == _full(text)


_KEYS = st.sampled_from(["id", "tlp", "yes", "No", "x-a", "a_b", "on", "null", "id"])
_TOKENS = st.sampled_from(
    [
        "a", "A. B", "yes", "NO", "on", "~", "null", "0123", "07302", "1.5", "1e5", "0x1F",
        ".inf", "2024-03-05", "2024-02-30", "1:30", "-", "a-", "a/b", "a.b", "#", " ", ":",
        ",", "[", "]", "{", "}", '"', "'", "\\", "&x", "*x", "!x", "<<", "=", "\t", "é", "\x85",
        "\u2028", "\ufeff", "—", "B. Analyst", "a,b", "a?", "x'y", "(a)", "1,000", "a&b",
        "-a", "?", "%", "@a", "`", "|", ">", "a:b", "é", "\xa0", "a  b", "_a",
    ]
)  # fmt: skip


@st.composite
def _values(draw):
    kind = draw(st.sampled_from(["plain", "quoted", "list", "raw"]))
    words = draw(st.lists(_TOKENS, min_size=0, max_size=4))
    if kind == "plain":
        return " ".join(words)
    if kind == "quoted":
        return '"' + "".join(words) + '"'
    if kind == "list":
        items = [draw(st.sampled_from(['"' + w + '"', w])) for w in words]
        return "[" + draw(st.sampled_from([", ", ",", " , "])).join(items) + "]"
    return "".join(words)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(_KEYS, _values(), st.sampled_from([": ", ":  ", ":"])), max_size=5))
def test_generated_frontmatter_reads_the_same_either_way(lines):
    text = "".join(f"{key}{colon}{value}\n" for key, value, colon in lines)
    fast = _fast(text)
    assert fast is None or fast == _full(text), text


_NEAR_SIMPLE = st.sampled_from(
    [
        "a", "A. B", "yes", "NO", "On", "null", "Null", "0123", "1.5", "1e5", "0x1F", "0o7",
        "2024-03-05", "1_000", "+1", "a-", "a/b", "a.b", "B. Analyst", "a?", "(a)", "é", "—",
        "1,000", "a&b", "x", "True", "n", "-a", "a*", "a!", "%", "a'b",
    ]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["id", "tlp", "site", "x-a", "a_b", "n", "y"]),
            st.lists(_NEAR_SIMPLE, min_size=1, max_size=3),
            st.sampled_from(["plain", "quoted", "list", "quoted-list"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_generated_near_simple_frontmatter_reads_the_same_either_way(lines):
    """Mostly the fast path's own shape, with words YAML types as numbers, booleans, nulls."""
    rows = []
    for key, words, kind in lines:
        if kind == "plain":
            rows.append(f"{key}: {' '.join(words)}")
        elif kind == "quoted":
            rows.append(f'{key}: "{" ".join(words)}"')
        elif kind == "list":
            rows.append(f"{key}: [{', '.join(words)}]")
        else:
            rows.append(f"{key}: [{', '.join(f'{chr(34)}{w}{chr(34)}' for w in words)}]")
    text = "\n".join(rows) + "\n"
    fast = _fast(text)
    assert fast is None or fast == _full(text), text
