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
        if all((local / f"{name}.schema.json").is_file() for name in SCHEMA_NAMES):
            return local
    return packaged_schema_dir()


@cache
def _validators(folder: Path) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    resources = {}
    for name in SCHEMA_NAMES:
        path = folder / f"{name}.schema.json"
        try:
            contents = json.loads(path.read_text("utf-8"))
            Draft202012Validator.check_schema(contents)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{path}: the schema cannot be read: {exc}",
                hint="restore it from the cacop release (`git checkout -- schemas/`)",
            ) from exc
        except Exception as exc:  # jsonschema.SchemaError
            raise ConfigError(f"{path}: not a valid JSON Schema: {exc}") from exc
        resources[name] = contents
    registry = Registry().with_resources(
        (contents["$id"], Resource.from_contents(contents)) for contents in resources.values()
    )
    return {
        name: Draft202012Validator(contents, registry=registry)
        for name, contents in resources.items()
    }


def validator(name: str, root: Path | None = None) -> Any:
    return _validators(schema_dir_for(root))[name]


def errors(name: str, instance: Any, root: Path | None = None) -> list[Any]:
    """Schema errors for an instance, most specific first, in field order."""
    found = list(validator(name, root).iter_errors(instance))
    return sorted(found, key=lambda error: (list(map(str, error.absolute_path)), error.message))
