"""The one YAML reader and writer for content: strict, safe and line-aware.

PyYAML's `safe_load` accepts aliases (billion laughs), keeps the last of
duplicate keys, recurses without limit and turns dates into `datetime.date`.
Here the C parser produces events and we compose nodes ourselves, refusing
aliases, explicit tags, duplicate keys and deep nesting, and resolving
scalars without the timestamp rule, so dates stay strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events, nodes

try:  # libyaml: an order of magnitude faster at scanning
    from yaml import CSafeLoader as _EventLoader
except ImportError:  # pragma: no cover - pure-Python fallback
    from yaml import SafeLoader as _EventLoader  # type: ignore[assignment]

MAX_DEPTH = 32
_STR_TAG = "tag:yaml.org,2002:str"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1 implicit typing, less timestamps: dates are checked as strings."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}


class YamlProblem(Exception):
    """Content that the strict loader refuses; `line` is 0-based within the text."""

    def __init__(self, message: str, line: int = 0, code: str = "yaml") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.code = code


@dataclass
class Document:
    value: Any
    key_lines: dict[str, int] = field(default_factory=dict)  # top-level key -> 0-based line
    raw_scalars: dict[str, str] = field(default_factory=dict)  # top-level key -> source text


class _Constructor(yaml.constructor.SafeConstructor):
    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError as exc:
                raise YamlProblem(
                    "a mapping key must be plain text", key_node.start_mark.line
                ) from exc
            if duplicate:
                raise YamlProblem(
                    f"duplicate field {key!r}: it is set twice, and only one can count",
                    key_node.start_mark.line,
                    code="duplicate-key",
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Composer:
    def __init__(self, text: str) -> None:
        self.loader = _EventLoader(text)
        self.resolver = _Resolver()

    def compose(self) -> nodes.Node | None:
        loader = self.loader
        loader.get_event()  # StreamStart
        if loader.check_event(events.StreamEndEvent):
            return None
        loader.get_event()  # DocumentStart
        node = self._node(0)
        loader.get_event()  # DocumentEnd
        if not loader.check_event(events.StreamEndEvent):
            event = loader.peek_event()
            raise YamlProblem("only one YAML document is allowed here", event.start_mark.line)
        return node

    def _node(self, depth: int) -> nodes.Node:
        event = self.loader.get_event()
        line = event.start_mark.line
        if isinstance(event, events.AliasEvent):
            raise YamlProblem(
                "YAML aliases (*name) are not allowed in entries; write the value out",
                line,
                code="yaml-alias",
            )
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nested more than {MAX_DEPTH} levels deep", line, code="yaml-depth")
        tag = getattr(event, "tag", None)
        if tag not in (None, "!", _STR_TAG):
            raise YamlProblem(
                f"the YAML tag {tag} is not allowed; remove it", line, code="yaml-tag"
            )
        if isinstance(event, events.ScalarEvent):
            if tag is None:
                tag = self.resolver.resolve(nodes.ScalarNode, event.value, event.implicit)
            else:
                tag = _STR_TAG
            return nodes.ScalarNode(
                tag, event.value, event.start_mark, event.end_mark, style=event.style
            )
        if isinstance(event, events.SequenceStartEvent):
            items = []
            while not self.loader.check_event(events.SequenceEndEvent):
                items.append(self._node(depth + 1))
            end = self.loader.get_event()
            return nodes.SequenceNode(
                "tag:yaml.org,2002:seq", items, event.start_mark, end.end_mark
            )
        if isinstance(event, events.MappingStartEvent):
            pairs = []
            while not self.loader.check_event(events.MappingEndEvent):
                key = self._node(depth + 1)
                pairs.append((key, self._node(depth + 1)))
            end = self.loader.get_event()
            return nodes.MappingNode("tag:yaml.org,2002:map", pairs, event.start_mark, end.end_mark)
        raise YamlProblem(f"unexpected YAML {type(event).__name__}", line)  # pragma: no cover


def load(text: str) -> Document:
    """Parse one YAML document strictly; raise YamlProblem with a 0-based line."""
    try:
        node = _Composer(text).compose()
        if node is None:
            return Document(None)
        constructor = _Constructor()
        value = constructor.construct_document(node)
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlProblem(
            f"YAML cannot be read: {exc.problem or exc.context}", mark.line if mark else 0
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML cannot be read: {exc}") from exc
    except (ValueError, OverflowError) as exc:  # e.g. a number too large
        raise YamlProblem(f"YAML value cannot be read: {exc}") from exc
    document = Document(value)
    if isinstance(node, nodes.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, nodes.ScalarNode):
                document.key_lines[key_node.value] = key_node.start_mark.line
                if isinstance(value_node, nodes.ScalarNode):
                    document.raw_scalars[key_node.value] = value_node.value
    return document


class _Dumper(yaml.SafeDumper):
    """Writes plain dates (our loader reads them back as strings)."""


_Dumper.yaml_implicit_resolvers = _Resolver.yaml_implicit_resolvers


def _represent_str(dumper: yaml.SafeDumper, value: str) -> nodes.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(_STR_TAG, value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(data: Any) -> str:
    """YAML for frontmatter: field order kept, short lists inline, Unicode as is."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=100_000,
    )


def scalar(value: Any) -> str:
    """One value as it would appear after `key: ` on a single line."""
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, width=100_000).strip()
    return re.sub(r"\n\.\.\.$", "", text)
