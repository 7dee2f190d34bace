"""The gate's faster copy of detect-secrets' indirect-reference filter answers exactly as
the original: same lines dropped, so the same secrets reported."""

from __future__ import annotations

from detect_secrets.filters.heuristic import is_indirect_reference as original
from hypothesis import given, settings
from hypothesis import strategies as st

from cacop_cli.share import gates
from cacop_cli.share.secretfilter import is_indirect_reference

SHAPES = [
    "secret = get_secret_key()",
    "secret = request.headers['apikey']",
    "api_key := os.environ['X']",
    'password == load("p")',
    "token !== fetch(x)",
    'password = "hunter2hunter2hunter2"',
    "x = y",
    "a=b[",
    "a=(b)",
    "key: value(1)",
    "= a(]",
    "\x0b=a(\x0b)",
    "===a[)",
    "k=" + "a" * 990 + "()",
    "k=" + "a" * 1000 + "()",
]
ALPHABET = "ab9_.-=!:([)] \t\x0b\u00e9"


def test_the_same_answer_on_known_shapes() -> None:
    for line in SHAPES:
        assert is_indirect_reference(line) == original(line), line


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_the_same_answer_on_any_line(line: str) -> None:
    assert is_indirect_reference(line) == original(line)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_the_same_answer_on_any_text(line: str) -> None:
    assert is_indirect_reference(line) == original(line)


def prose(words: int) -> str:
    sentence = "Officers noted (see report) that the suspect: fled = east [unconfirmed] and "
    return (sentence * (words // 12 + 1))[: words * 6]


def test_the_gate_reports_the_same_secrets(tmp_path) -> None:
    lines = [*SHAPES, prose(130), 'aws_secret = "AKIAIOSFODNN7EXAMPLE" (see x)']
    lines += [f"note {n}: the key = {'ab12' * 8} (rotated) [{prose(60)}]" for n in range(30)]
    text = "\n".join(lines) + "\n"
    found = gates.secrets(text, "kb/work-products/x.md")
    assert found, "the test text holds secrets the gate must report"

    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    copy = tmp_path / "x.md"
    copy.write_text(text, encoding="utf-8")
    with default_settings():
        hits = sorted({(hit.line_number, hit.type) for hit in scan_file(str(copy))})
    assert [(finding.line, finding.message) for finding in found] == [
        (line, f"a secret ({kind}): remove it and change it") for line, kind in hits
    ]
