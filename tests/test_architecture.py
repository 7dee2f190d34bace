"""The import direction (docs/architecture.md, "Layers"), held by parsing imports with `ast`,
and the start-up promise: light commands never import the heavy libraries."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixturefiles import aged_ctimes

PACKAGE = Path(__file__).parent.parent / "cacop_cli"
CORE = {
    "ops", "entries", "checks", "catalog", "config", "models", "errors", "yamlsafe", "schemas",
    "index", "search", "share", "rfi", "community", "digest", "publish", "gitrepo", "query",
    "vocabulary", "textextract", "scan", "filelock", "site", "newkb", "sealed", "progress",
}  # fmt: skip
MAX_LINES = 600
REASON = "Over 600 lines because"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module a file imports, at top level or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def importers(prefix: str) -> set[str]:
    return {
        module
        for module, names in MODULES.items()
        if any(name == prefix or name.startswith(prefix + ".") for name in names)
    }


def in_area(module: str, *areas: str) -> bool:
    return any(module == area or module.startswith(area + ".") for area in areas)


def is_core(module: str) -> bool:
    """A core module, or a module of a core package (cacop_cli.index.build)."""
    parts = module.split(".")
    return len(parts) > 1 and parts[1] in CORE


def test_the_parser_sees_the_known_imports():
    assert "cacop_cli.ops" in MODULES["cacop_cli.commands.core"]
    assert "cacop_cli.render" in MODULES["cacop_cli.cli"]
    assert "yaml" in MODULES["cacop_cli.yamlsafe"]


def test_nothing_imports_the_cli():
    # The package's console-script entry point launches the CLI; no core module does.
    assert importers("cacop_cli.cli") <= {"cacop_cli"}
    outside = {
        module
        for module in importers("cacop_cli.commands")
        if not in_area(module, "cacop_cli.cli", "cacop_cli.commands")
    }
    assert outside == set()


ATTACHMENT_READERS = (
    "pypdf",
    "docx",
    "openpyxl",
    "pptx",
    "charset_normalizer",
    "defusedxml",
    "lxml",
)


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        ("typer", ("cacop_cli.cli", "cacop_cli.commands")),
        ("click", ("cacop_cli.cli", "cacop_cli.commands")),
        ("rich", ("cacop_cli.render",)),
        ("whoosh", ("cacop_cli.index",)),
        ("git", ("cacop_cli.gitrepo",)),
        ("jsonschema", ("cacop_cli.schemas",)),
        ("referencing", ("cacop_cli.schemas",)),
        ("yaml", ("cacop_cli.yamlsafe",)),
        *((library, ("cacop_cli.textextract",)) for library in ATTACHMENT_READERS),
    ],
)
def test_each_outside_library_lives_in_one_place(library, allowed):
    assert {module for module in importers(library) if not in_area(module, *allowed)} == set()


def test_core_covers_the_share_package():
    assert {"cacop_cli.share", "cacop_cli.share.gates", "cacop_cli.share.sync"} <= {
        module for module in MODULES if is_core(module)
    }
    assert not is_core("cacop_cli.render.share") and not is_core("cacop_cli.commands.share")


def test_core_modules_never_import_rendering_or_the_cli():
    assert is_core("cacop_cli.index.searcher") and is_core("cacop_cli.query")
    for module, names in MODULES.items():
        if not is_core(module):
            continue
        bad = {
            name
            for name in names
            if in_area(name, "cacop_cli.render", "cacop_cli.cli", "cacop_cli.commands")
        }
        assert bad == set(), f"{module} imports {bad}"


def test_the_query_language_uses_the_standard_library_errors_and_models_only():
    outside = {
        name
        for name in MODULES["cacop_cli.query"]
        if not in_area(name, "cacop_cli.errors", "cacop_cli.models", "__future__")
        and name.split(".")[0] not in sys.stdlib_module_names
    }
    assert outside == set()


def private_attributes_read(path: Path) -> set[str]:
    """`x._name` read in a file, where x is not self or cls (dunder names aside)."""
    return {
        f"{ast.unparse(node.value)}.{node.attr}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    }


def test_only_whoosh_internals_reads_whooshs_private_attributes():
    internals = PACKAGE / "index" / "whoosh_internals.py"
    assert "matcher._ids" in private_attributes_read(internals)  # the check sees them
    for path in sorted((PACKAGE / "index").glob("*.py")):
        if path != internals:
            assert private_attributes_read(path) == set(), path.name


def test_no_core_module_exceeds_600_lines_without_a_reason_at_its_top():
    too_long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        if not is_core(module):
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        reasoned = any(line.strip().startswith(REASON) for line in docstring.splitlines())
        if lines > MAX_LINES and not reasoned:
            too_long[module] = lines
    assert too_long == {}, f"split these, or say why at the top ({REASON} ...)"


def test_models_and_errors_use_the_standard_library_only():
    for module in ("cacop_cli.models", "cacop_cli.errors"):
        third_party = {
            name.split(".")[0]
            for name in MODULES[module]
            if not name.startswith("cacop_cli")
            and name.split(".")[0] not in sys.stdlib_module_names
        }
        assert third_party == set(), module


# ---------------------------------------------------------------- one of each

# How a control-character or bidi class is spelled in source; only models.py may spell one.
CHARACTER_CLASS_SPELLINGS = ("\\x00-\\x08", "\\x7f-\\x9f", "\\u202a", "\\u202e", "\\u2066")


def test_only_models_spells_the_control_and_bidi_characters():
    spelled = {
        module_name(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if any(
            needle in path.read_text(encoding="utf-8").lower()
            for needle in CHARACTER_CLASS_SPELLINGS
        )
    }
    assert spelled == {"cacop_cli.models"}, "import CONTROL / BIDI / UNSAFE_TEXT from models"


def test_the_one_control_and_bidi_sets_are_the_strict_ones():
    from cacop_cli.models import BIDI, CONTROL, UNSAFE_TEXT

    controls = {chr(code) for code in range(0x110) if CONTROL.match(chr(code))}
    assert controls == {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\t", "\n"}
    for mark in ("\u061c", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069"):
        assert BIDI.match(mark) and UNSAFE_TEXT.match(mark) and not CONTROL.match(mark)
    assert not UNSAFE_TEXT.search("plain text, tabs\tand\nnewlines, é 日本語 \u2028")


# A palette step is a number a renderer computes, not how a command ends.
NOT_AN_OUTCOME = {
    "cacop_cli.render.community.heat_level",
    "cacop_cli.render.pager.screen_lines",  # rows of the screen that output takes
}


def test_renderers_return_no_exit_code():
    returning = set()
    for path in sorted((PACKAGE / "render").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            annotated = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns
            if annotated and ast.unparse(node.returns).strip("'\"") in ("int", "ExitCode"):
                returning.add(f"{module_name(path)}.{node.name}")
        assert "cacop_cli.errors.ExitCode" not in MODULES[module_name(path)], path.name
    assert returning == NOT_AN_OUTCOME, "a renderer shows a result; the result has exit_code"


def test_scan_keeps_the_entry_folders_of_models():
    from cacop_cli import scan
    from cacop_cli.models import ENTRY_FOLDERS, TYPE_FOLDERS, TYPES

    assert scan._TOP_FOLDERS == ENTRY_FOLDERS  # a copy: scan loads before models may
    from cacop_cli.index import record

    assert (scan.STATE_DIR, scan.RECORD) == (record.STATE_DIR, record.RECORD)  # copies too
    assert set(TYPE_FOLDERS) < set(TYPES)


def enums_in(document: object, where: str = "") -> dict[str, tuple]:
    """Every `enum` of a JSON schema, by where it sits."""
    found: dict[str, tuple] = {}
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "enum":
                found[where] = tuple(value)
            else:
                found.update(enums_in(value, f"{where}/{key}"))
    return found


def test_the_schemas_allow_exactly_the_values_models_defines():
    import json

    from cacop_cli import models
    from cacop_cli.schemas import packaged_schema_dir

    expected = {
        "type": models.TYPES,
        "topic": models.TOPICS,
        "tlp": models.TLP_ORDER,
        "max_tlp": models.TLP_ORDER,
        "rfi/status": models.RFI_STATUSES,
        "priority": models.PRIORITIES,
        "strategy/status": models.STRATEGY_STATUSES,
        "evidence": models.EVIDENCE,
        "product_type": models.PRODUCT_TYPES,
    }
    seen = set()
    for path in sorted(packaged_schema_dir().glob("*.schema.json")):
        kind = path.name.removesuffix(".schema.json")
        for where, values in enums_in(json.loads(path.read_text(encoding="utf-8"))).items():
            field = where.rsplit("/", 1)[-1]
            key = f"{kind}/{field}" if f"{kind}/{field}" in expected else field
            assert values == expected.get(key), f"{path.name}: {where}"
            seen.add(key)
    assert seen == set(expected)


def test_the_renderers_styles_cover_the_values_models_defines():
    from cacop_cli import models, render
    from cacop_cli.render import community, rfi

    assert tuple(render.TLP_COLOURS) == tuple(render.TLP_MEANING) == models.TLP_ORDER
    assert set(render.SHOWN_WITH_BANNER) < set(models.TLP_ORDER)
    assert tuple(rfi.PRIORITY_STYLE) == tuple(reversed(models.PRIORITIES))
    assert set(rfi.STATUS_STYLE) == set(models.RFI_STATUSES)
    assert tuple(community.TYPE_LABELS) == models.TYPES


# ---------------------------------------------------------------- start-up stays light

HEAVY = ("whoosh", "git", *ATTACHMENT_READERS)


def loaded_modules(argv: list[str], tmp_path: Path) -> set[str]:
    record = tmp_path / "modules.txt"
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(record)!r}, 'w').write('\\n'.join(sys.modules)))\n"
        f"sys.argv = {['cacop', *argv]!r}\n"
        "from cacop_cli.cli import main\n"
        "main()\n"
    )
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(record.read_text().split())


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["validate"],
        ["show", "alpha-2024-focused-deterrence-call-ins"],
        ["list"],
    ],
    ids=["help", "version", "validate", "show", "list"],
)
def test_light_commands_do_not_import_heavy_libraries(argv, kb_path, tmp_path):
    # Read commands answer from the catalog kept with the index: with the index fresh,
    # loading it needs no Whoosh (the first command of a KB builds it, and does). The copy's
    # files have fresh ctimes: indexed within 2 s, they are racy and read again (Whoosh).
    aged_ctimes(kb_path)
    loaded_modules(["--kb", str(kb_path), "index"], tmp_path)
    modules = loaded_modules(["--kb", str(kb_path), *argv], tmp_path)
    assert "cacop_cli.cli" in modules  # it really ran
    heavy = {name for name in modules if name.split(".")[0] in HEAVY}
    if argv not in (["--help"], ["--version"]):  # the freshness check reads the version that
        heavy.discard("whoosh")  # the record's identity holds: Whoosh's package alone, 20 lines
    assert heavy == set()
    if argv == ["--help"]:  # nothing is validated, so the schema machinery stays unloaded
        assert not {name for name in modules if name.split(".")[0] in ("jsonschema", "pydantic")}


def test_a_search_leaves_whooshs_unused_modules_unloaded_yet_usable(kb_path, tmp_path):
    record = tmp_path / "kinds.txt"
    code = (
        "import atexit, sys\n"
        "def kinds():\n"
        "    lazy = type(sys.modules.get('whoosh.highlight')).__name__\n"
        "    morph = sys.modules.get('whoosh.lang.morph_en')\n"
        "    real = hasattr(morph, '_partitions')\n"
        f"    open({str(record)!r}, 'w').write(f'{{lazy}} {{real}}')\n"
        "atexit.register(kinds)\n"
        f"sys.argv = ['cacop', '--kb', {str(kb_path)!r}, 'search', 'moral voices']\n"
        "from cacop_cli.cli import main\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "moral" in result.stdout.lower()
    assert record.read_text() == "_LazyModule False"
    used = (
        "from cacop_cli import index\n"
        "index.analyzers()\n"
        "from whoosh.query import Variations\n"
        "from whoosh.lang.morph_en import variations\n"
        "from whoosh.highlight import Highlighter\n"
        "print(sorted(variations('render'))[:2], Highlighter.__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", used], capture_output=True, text=True)
    assert result.stdout.strip() == "['rend', 'rende'] Highlighter", result.stderr


def test_the_command_table_names_what_each_module_registers():
    """`cacop WORD` loads only the module the table names: the table must be right."""
    import importlib

    import typer

    from cacop_cli import cli

    registered = {}
    for module in cli.COMMAND_MODULES:
        scratch = typer.Typer()
        importlib.import_module(f"cacop_cli.commands.{module}").register(scratch)
        registered[module] = tuple(
            [cli._command_name(info) for info in scratch.registered_commands]
            + [cli._group_name(info) for info in scratch.registered_groups]
        )
    assert registered == cli.COMMAND_MODULES
    on_disk = {path.stem for path in (PACKAGE / "commands").glob("*.py")} - {"__init__"}
    assert on_disk == set(cli.COMMAND_MODULES)


def test_a_command_loads_only_its_own_module_of_commands():
    used = (
        "import sys\nsys.argv = ['cacop', 'whoami', '--help']\n"
        "from cacop_cli.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('cacop_cli.commands.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", used], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "['cacop_cli.commands.settings']"
