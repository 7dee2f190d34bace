"""JSON Schema validation (draft 2020-12). The only module that imports jsonschema."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .models import TYPES

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


_ENTRY_KEYS = {
    "$schema",
    "$id",
    "title",
    "description",
    "$ref",
    "required",
    "properties",
    "unevaluatedProperties",
}
_COMMON_KEYS = {"$schema", "$id", "title", "description", "type", "required", "properties"}


class _FieldwiseCheck:
    """A quick yes/no for the common case, answered by jsonschema one field at a time.

    An entry schema is "common fields plus the type's fields, nothing else": the
    keywords `required`, `properties`, `patternProperties` and `unevaluatedProperties`
    judge each field on its own. So an entry is valid exactly when its set of field
    names is, and each field's value is, against the same subschemas — and those
    answers repeat across thousands of entries (types, sites, topics, dates), so
    they are remembered. Following `$ref`s through the registry was most of the
    cost of `validate`; only an invalid entry now pays for the full validator,
    which also explains what is wrong.
    """

    def __init__(self, shape: Any, fields: dict[str, Any]) -> None:
        self.shape, self.fields = shape, fields
        self.known: dict[Any, bool] = {}
        # Each field's subschema as a plain predicate where it uses only the keywords
        # `_predicate` knows: ids, titles and summaries differ in every entry, so
        # remembering answers does not help them, and jsonschema costs ~40 µs a value.
        self.predicates = {name: _predicate(field.schema) for name, field in fields.items()}

    def is_valid(self, instance: Any) -> bool:
        if not isinstance(instance, dict):
            return False
        names = frozenset(instance)
        if names not in self.known:
            self.known[names] = self.shape.is_valid(dict.fromkeys(instance))
        if not self.known[names]:
            return False
        for name, value in instance.items():
            field = self.fields.get(name)
            if field is None:
                continue  # an x- extension field: any value
            predicate = self.predicates[name]
            verdict = predicate(value) if predicate is not None else None
            if verdict is not None:
                if not verdict:
                    return False
                continue
            try:
                key = (name, json.dumps(value, sort_keys=True))
            except (TypeError, ValueError):
                return False
            if key not in self.known:
                self.known[key] = field.is_valid(value)
            if not self.known[key]:
                return False
        return True


_PREDICATE_KEYWORDS = {
    "type", "pattern", "minLength", "maxLength", "enum", "const", "items", "minItems",
    "maxItems", "uniqueItems", "description", "title",
}  # fmt: skip


def _predicate(schema: Any) -> Callable[[Any], bool | None] | None:
    """A check of a value against `schema` that answers exactly as jsonschema's `is_valid`
    does, or None (for that value: ask jsonschema); None when the schema uses other
    keywords. Types: only "string" and "array" (YAML gives str and list; no bool/int
    subtleties); enum and const: only texts; uniqueItems: only lists of texts."""
    if not isinstance(schema, dict) or set(schema) - _PREDICATE_KEYWORDS:
        return None
    kind = schema.get("type")
    if kind not in (None, "string", "array"):
        return None
    choices: frozenset[str] | None = None
    if "enum" in schema or "const" in schema:
        listed = schema["enum"] if "enum" in schema else [schema["const"]]
        if not isinstance(listed, list) or not all(type(item) is str for item in listed):
            return None
        choices = frozenset(listed)
        if "enum" in schema and "const" in schema:
            return None
    pattern = schema.get("pattern")
    try:
        search = re.compile(pattern).search if isinstance(pattern, str) else None
    except re.error:
        return None
    if pattern is not None and search is None:
        return None
    lengths = [schema.get(key) for key in ("minLength", "maxLength", "minItems", "maxItems")]
    if any(limit is not None and type(limit) is not int for limit in lengths):
        return None
    min_length, max_length, min_items, max_items = lengths
    unique = schema.get("uniqueItems", False)
    if type(unique) is not bool:
        return None
    item_schema = schema.get("items")
    item_check = _predicate(item_schema) if item_schema is not None else None
    if item_schema is not None and item_check is None:
        return None

    def check(value: Any) -> bool | None:
        if type(value) is str:
            if kind == "array":
                return False
            if choices is not None and value not in choices:
                return False
            if search is not None and not search(value):
                return False
            if min_length is not None and len(value) < min_length:
                return False
            return not (max_length is not None and len(value) > max_length)
        if type(value) is list:
            if kind == "string" or choices is not None:
                return False
            if min_items is not None and len(value) < min_items:
                return False
            if max_items is not None and len(value) > max_items:
                return False
            if unique and len(value) > 1:
                if not all(type(item) is str for item in value):
                    return None
                if len(set(value)) != len(value):
                    return False
            if item_check is not None:
                for item in value:
                    verdict = item_check(item)
                    if verdict is not True:
                        return verdict
            return True
        return None  # numbers, booleans, None, mappings: jsonschema knows their rules

    return check


def _inline(node: Any, documents: dict[str, Any], base: dict[str, Any], depth: int = 0) -> Any:
    """The subschema with every `$ref` into our own documents written out."""
    if depth > 20:
        raise ValueError("schema references nest too deeply")
    if isinstance(node, list):
        return [_inline(item, documents, base, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        if len(node) != 1:
            raise ValueError("a $ref with siblings")
        target_uri, _, pointer = node["$ref"].partition("#")
        target = documents[target_uri.rsplit("/", 1)[-1]] if target_uri else base
        new_base = target
        for part in filter(None, pointer.split("/")):
            target = target[part]
        return _inline(target, documents, new_base, depth + 1)
    return {key: _inline(value, documents, base, depth + 1) for key, value in node.items()}


@cache
def _fieldwise(folder: Path, name: str) -> _FieldwiseCheck | None:
    """The field-by-field check for an entry type, or None when its schema has another shape."""
    from jsonschema import Draft202012Validator

    documents = _documents(folder)
    by_file = {f"{key}.schema.json": value for key, value in documents.items()}
    own, common = documents[name], documents["common"]
    if (
        set(own) - _ENTRY_KEYS
        or own.get("$ref") != "common.schema.json"
        or own.get("unevaluatedProperties") is not False
        or set(common) - _COMMON_KEYS - {"patternProperties", "$defs"}
        or common.get("type") != "object"
    ):
        return None
    try:
        properties = {
            **{key: _inline(sub, by_file, common) for key, sub in common["properties"].items()},
            **{key: _inline(sub, by_file, own) for key, sub in own["properties"].items()},
        }
    except (KeyError, ValueError, TypeError):
        return None
    patterns = common.get("patternProperties", {})
    if any(sub not in ({}, True) for sub in patterns.values()):
        return None
    shape = Draft202012Validator(
        {
            "type": "object",
            "required": sorted({*common.get("required", ()), *own.get("required", ())}),
            "properties": dict.fromkeys(properties, True),
            "patternProperties": dict.fromkeys(patterns, True),
            "additionalProperties": False,
        }
    )
    return _FieldwiseCheck(
        shape, {key: Draft202012Validator(sub) for key, sub in properties.items()}
    )


ENTRY_TYPES = TYPES  # each has its schema, <type>.schema.json


def errors(
    name: str, instance: Any, root: Path | None = None, folder: Path | None = None
) -> list[Any]:
    """Schema errors for an instance, most specific first, in field order. `folder` is
    `schema_dir_for(root)` when the caller has it (one stat per run, not per entry)."""
    folder = folder or schema_dir_for(root)
    quick = _fieldwise(folder, name) if name in ENTRY_TYPES else None
    if quick is not None and quick.is_valid(instance):
        return []
    found = list(_validator(folder, name).iter_errors(instance))
    return sorted(found, key=lambda error: (list(map(str, error.absolute_path)), error.message))
