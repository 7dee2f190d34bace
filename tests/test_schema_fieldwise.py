"""The field-by-field schema check agrees with the full jsonschema validator, entry by entry."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cacop_cli import schemas
from cacop_cli.catalog import load_catalog
from cacop_cli.config import load_kb
from cacop_cli.entries import iter_entry_files, read_entry
from cacop_cli.errors import EntryError

from conftest import FILES, REPO


def _entries():
    for root in (REPO, FILES / "valid", FILES / "invalid", FILES / "warnings"):
        kb = load_kb(root)
        for path in iter_entry_files(root):
            try:
                yield read_entry(path, root, kb.limits)
            except EntryError:
                continue


def test_the_bundled_schemas_take_the_quick_path():
    folder = schemas.packaged_schema_dir()
    for name in schemas.ENTRY_TYPES:
        assert schemas._fieldwise(folder, name) is not None, name


@pytest.mark.parametrize("entry", list(_entries()), ids=lambda entry: entry.rel)
def test_quick_answer_equals_full_validator(entry):
    folder = schemas.packaged_schema_dir()
    if entry.type not in schemas.ENTRY_TYPES:
        return
    full = list(schemas._validator(folder, entry.type).iter_errors(entry.meta))
    quick = schemas._fieldwise(folder, entry.type).is_valid(entry.meta)
    assert quick == (not full), [error.message for error in full]


def test_invalid_fixtures_exercise_the_quick_path():
    kb = load_kb(FILES / "invalid")
    folder = schemas.packaged_schema_dir()
    verdicts = [
        schemas._fieldwise(folder, entry.type).is_valid(entry.meta)
        for entry in load_catalog(kb).entries
        if entry.type in schemas.ENTRY_TYPES
    ]
    assert False in verdicts and True in verdicts


def test_a_local_schema_of_another_shape_falls_back_to_the_full_validator(tmp_path):
    import json
    import shutil

    shutil.copytree(schemas.packaged_schema_dir(), tmp_path / "schemas")
    path = tmp_path / "schemas" / "strategy.schema.json"
    document = json.loads(path.read_text())
    document["allOf"] = [{"not": {"required": ["x-forbidden"]}}]
    path.write_text(json.dumps(document))
    assert schemas._fieldwise(tmp_path / "schemas", "strategy") is None
    meta = {
        "id": "abc-2024-x", "type": "strategy", "title": "t", "site": "abc", "authors": ["a"],
        "created": "2024-01-01", "topics": ["technology"], "tlp": "green",
        "status": "active", "evidence": "untested", "x-forbidden": 1,
    }  # fmt: skip
    (tmp_path / "cacop.yaml").write_text("name: t\nsite: abc\n")
    assert schemas.errors("strategy", meta, tmp_path)


def _field_validators():
    folder = schemas.packaged_schema_dir()
    for name in schemas.ENTRY_TYPES:
        quick = schemas._fieldwise(folder, name)
        for field, validator in quick.fields.items():
            yield f"{name}.{field}", validator, quick.predicates[field]


FIELDS = list(_field_validators())
_TEXTS = st.one_of(
    st.sampled_from(["", "a", "ab", "abc", "a-b-c", "-ab", "Abc", "green", "clear", "red",
                     "gun-violence", "2024-03-05", "2024-03-05\n", "２０２４-03-05", "x" * 80,
                     "x" * 81, "y" * 200, "y" * 201, "z" * 500, "z" * 501, "open", "strategy"]),
    st.text(max_size=12),
)  # fmt: skip
_VALUES = st.recursive(
    st.one_of(_TEXTS, st.booleans(), st.integers(), st.floats(allow_nan=False), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["reason", "by"]), inner)
    ),
    max_leaves=6,
)


def test_most_fields_have_a_plain_predicate():
    assert sum(predicate is not None for _, _, predicate in FIELDS) > len(FIELDS) // 2


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(FIELDS), _VALUES)
def test_a_field_predicate_answers_as_jsonschema_does(field, value):
    name, validator, predicate = field
    verdict = predicate(value) if predicate is not None else None
    assert verdict is None or verdict == validator.is_valid(value), (name, value)
