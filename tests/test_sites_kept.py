"""kb/sites.yaml, once read without problems, is kept checked in `.cacop/` (catalog.py,
SITES_KEPT): a read command then neither parses it nor imports jsonschema. What is kept is
never older than the file or the schemas, never believed unless this user sealed it, and a
broken file gives the same problems with or without anything kept."""

from __future__ import annotations

import subprocess
import sys

from cacop_cli.catalog import SITES_KEPT, read_sites
from cacop_cli.config import load_kb
from cacop_cli.index.record import STATE_DIR


def fresh_read(root):
    """What reading kb/sites.yaml gives with nothing kept."""
    (root / STATE_DIR / SITES_KEPT).unlink(missing_ok=True)
    found = read_sites(load_kb(root))
    (root / STATE_DIR / SITES_KEPT).unlink(missing_ok=True)
    return found


def test_a_kept_result_is_the_files_and_needs_no_jsonschema(kb_path):
    expected = fresh_read(kb_path)
    assert expected[0] and not expected[1], "the fixture's sites.yaml is valid"
    assert read_sites(load_kb(kb_path)) == expected  # read, checked and kept
    assert (kb_path / STATE_DIR / SITES_KEPT).is_file()
    probe = (
        "import sys; from cacop_cli.config import load_kb; from cacop_cli.catalog import "
        f"read_sites; found = read_sites(load_kb({str(kb_path)!r})); "
        "print('jsonschema' in sys.modules, found == "
        f"{expected!r})"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert shown.stdout.split() == ["False", "True"], shown.stderr


def test_an_edited_sites_file_is_read_again(kb_path):
    kb = load_kb(kb_path)
    before = read_sites(kb)
    sites = kb_path / "kb" / "sites.yaml"
    sites.write_text(sites.read_text() + "\nnew-town:\n  name: New Town\n")
    after = read_sites(load_kb(kb_path))
    assert "new-town" in after[0] and "new-town" not in before[0]
    assert after == fresh_read(kb_path)


def test_a_broken_sites_file_gives_the_same_problems_kept_or_not(kb_path):
    sites = kb_path / "kb" / "sites.yaml"
    read_sites(load_kb(kb_path))  # a good result is kept
    for broken in ("milwaukee: [unclosed\n", "- just\n- a list\n", "x:\n  name: 3\n  bad: 1\n"):
        sites.write_text(broken)
        found = read_sites(load_kb(kb_path))
        assert found[1], broken
        assert found == fresh_read(kb_path)
        read_sites(load_kb(kb_path))
        assert not (kb_path / STATE_DIR / SITES_KEPT).exists(), "a file with problems is not kept"


def test_a_changed_schema_checks_the_file_again(kb_path):
    """The KB's own schemas judge its sites: a stricter one must be applied at once."""
    import shutil

    from cacop_cli import schemas

    shutil.copytree(schemas.packaged_schema_dir(), kb_path / "schemas", dirs_exist_ok=True)
    assert not read_sites(load_kb(kb_path))[1]
    schema = kb_path / "schemas" / "sites.schema.json"
    schema.write_text(
        schema.read_text().replace('"properties"', '"maxProperties": 1, "properties"', 1)
    )
    schemas._documents.cache_clear()  # as a new command would read them
    schemas._validator.cache_clear()
    found = read_sites(load_kb(kb_path))
    assert found[1], "the stricter schema finds a problem"
    assert found == fresh_read(kb_path)


def test_a_kept_result_not_sealed_by_this_user_is_not_believed(kb_path):
    """One that came by copy or pull: its sites are not believed, whatever it says."""
    import marshal

    from cacop_cli.catalog import _sites_key

    kb = load_kb(kb_path)
    read_sites(kb)
    data = (kb_path / "kb" / "sites.yaml").read_bytes()
    payload = marshal.dumps((_sites_key(kb, data), {"planted": {"name": "P"}}, {"planted": 1}))
    (kb_path / STATE_DIR / SITES_KEPT).write_bytes(b"0" * 64 + b"\n" + payload)
    found = read_sites(load_kb(kb_path))
    assert "planted" not in found[0]
    assert found == fresh_read(kb_path)
