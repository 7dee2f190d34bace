"""The field-by-field schema check agrees with the full jsonschema validator, entry by entry."""

import pytest

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
