"""JSON Schema validation (draft 2020-12). The only module that imports jsonschema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from .errors import ConfigError

SCHEMA_NAMES = ("common", "strategy", "work-product", "rfi", "response", "cacop-config", "sites")


def packaged_schema_dir() -> Path:
    """The schemas shipped with cacop (in the wheel, or the source checkout's `schemas/`)."""
    here = Path(__file__).resolve().parent
    bundled = here / "schemas"
    return bundled if bundled.is_dir() else here.parent / "schemas"


def schema_dir_for(root: Path | None) -> Path:
    """A KB's own `schemas/` when it holds them all, else the packaged copy."""
    if root is not None:
        local = root / "schemas"
        try:  # one stat per entry instead of seven: the folder changes when a file comes or goes
            changed = local.stat().st_mtime_ns
        except OSError:
            return packaged_schema_dir()
        if _holds_all_schemas(local, changed):
            return local
    return packaged_schema_dir()


@cache
def _holds_all_schemas(local: Path, changed: int) -> bool:
    return all((local / f"{name}.schema.json").is_file() for name in SCHEMA_NAMES)


@cache
def _documents(folder: Path) -> dict[str, dict[str, Any]]:
    documents = {}
    for name in SCHEMA_NAMES:
        path = folder / f"{name}.schema.json"
        try:
            documents[name] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{path}: the schema cannot be read: {exc}",
                hint="restore it from the cacop release (`git checkout -- schemas/`)",
            ) from exc
    return documents


@cache
def _validator(folder: Path, name: str) -> Any:
    """One validator, built when first needed: a command that reads only cacop.yaml does not
    pay for checking and compiling the entry schemas."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from referencing import Registry, Resource

    documents = _documents(folder)
    for used in dict.fromkeys((name, "common")):
        try:
            Draft202012Validator.check_schema(documents[used])
        except SchemaError as exc:
            path = folder / f"{used}.schema.json"
            raise ConfigError(f"{path}: not a valid JSON Schema: {exc.message}") from exc
    registry = Registry().with_resources(
        (contents["$id"], Resource.from_contents(contents)) for contents in documents.values()
    )
    return Draft202012Validator(documents[name], registry=registry)


def validator(name: str, root: Path | None = None) -> Any:
    return _validator(schema_dir_for(root), name)


def errors(name: str, instance: Any, root: Path | None = None) -> list[Any]:
    """Schema errors for an instance, most specific first, in field order."""
    found = list(validator(name, root).iter_errors(instance))
    return sorted(found, key=lambda error: (list(map(str, error.absolute_path)), error.message))
