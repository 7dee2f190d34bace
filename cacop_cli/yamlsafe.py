"""The one YAML reader and writer for content: strict, safe and line-aware.

PyYAML's `safe_load` accepts aliases (billion laughs), keeps the last of
duplicate keys, recurses without limit and turns dates into `datetime.date`.
Here the C parser produces events and we compose nodes ourselves, refusing
aliases, explicit tags, duplicate keys and deep nesting, and resolving
scalars without the timestamp rule, so dates stay strings.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events, nodes

from .models import CONTROL_CHARS

# libyaml is an optional C extension of PyYAML (absent where PyYAML was built without it),
# an order of magnitude faster at scanning; the pure-Python loader yields the same events.
# Such a guard is for an optional part of an outside library only, never a module of ours.
try:
    from yaml import CSafeLoader as _EventLoader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as _EventLoader  # type: ignore[assignment]

MAX_DEPTH = 32
_STR_TAG = "tag:yaml.org,2002:str"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_PLAIN_TAGS = {  # what an unquoted scalar may resolve to; `<<` (merge) and `=` (value) may not
    _STR_TAG,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1 implicit typing, less timestamps: dates are checked as strings."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}


# What PyYAML says when a hand-written value holds a character that YAML reads as syntax
# (`title: Robbery: a review`, a value starting with `@`, `` ` ``, `[`, …).
_NEEDS_QUOTES = (
    "mapping values are not allowed",
    "cannot start any token",
    "expected <block end>",
    "expected ',' or ']'",
    "expected ',' or '}'",
    "while scanning an alias",
    "while scanning an anchor",
    "while scanning a quoted scalar",
    "found unexpected end of stream",
)
QUOTE_HINT = (
    "; if a value holds ':', '#', or starts with '-', '[', '{', '@', '`', '&', '*' or a quote, "
    "put the value in quotes: title: 'Robbery: a review'"
)
# A text that another YAML reader would take for something else: quoted when cacop writes it.
_SIGNIFICANT = re.compile(r"[:#]|^[\s\-?,\[\]{}&*!|>'\"%@`]|\s$")


class Quoted(str):
    """A text that cacop always writes in quotes (a title: `title: 'Robbery: a review'`)."""


def needs_quotes(text: str) -> bool:
    """Would a YAML reader (any: ours reads dates as text, others do not) take `text` for
    syntax or for a value other than text?"""
    plain = yaml.resolver.Resolver().resolve(nodes.ScalarNode, text, (True, False))
    return plain != _STR_TAG or bool(_SIGNIFICANT.search(text))


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
    def construct_object(self, node, deep=False):  # type: ignore[override]
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
            shown = node.value if isinstance(node.value, str) else ""
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise YamlProblem(
                f"the value {shown!r} cannot be read; put it in quotes to keep it as text",
                node.start_mark.line,
            ) from exc

    def construct_yaml_float(self, node):  # type: ignore[override]
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):  # JSON has no NaN or infinity
            raise YamlProblem(
                f"{node.value!r} is not a finite number; put it in quotes to keep it as text",
                node.start_mark.line,
            )
        return value

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):  # `1:`, `yes:`, `~:` or `[a]:` would break every check
                shown = key_node.value if isinstance(key_node, nodes.ScalarNode) else "[...]"
                raise YamlProblem(
                    f"the field name {shown!r} is not text: YAML reads it as "
                    f"{type(key).__name__ if key is not None else 'empty'}; put it in quotes",
                    key_node.start_mark.line,
                    code="yaml-key",
                )
            if key in seen:
                raise YamlProblem(
                    f"duplicate field {key!r}: it is set twice, and only one can count",
                    key_node.start_mark.line,
                    code="duplicate-key",
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)


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
                if tag not in _PLAIN_TAGS:
                    raise YamlProblem(
                        f"{event.value!r} has a special meaning in YAML (a merge key or value "
                        "marker); put it in quotes",
                        line,
                        code="yaml-tag",
                    )
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
                "tag:yaml.org,2002:seq",
                items,
                event.start_mark,
                end.end_mark,
                flow_style=event.flow_style,
            )
        if isinstance(event, events.MappingStartEvent):
            pairs = []
            while not self.loader.check_event(events.MappingEndEvent):
                key = self._node(depth + 1)
                pairs.append((key, self._node(depth + 1)))
            end = self.loader.get_event()
            return nodes.MappingNode(
                "tag:yaml.org,2002:map",
                pairs,
                event.start_mark,
                end.end_mark,
                flow_style=event.flow_style,
            )
        raise YamlProblem(f"unexpected YAML {type(event).__name__}", line)  # pragma: no cover


# The shape that cacop and genkb write, and most hand edits keep: one `field: value` per
# line, each value a double-quoted text without escapes, plain words, or a flow list of
# such texts or plain words. Read without PyYAML's Python composer and constructor (most
# of the cost of `validate --no-cache`); anything else (a comment, a block, a quote or
# ':' or '#' inside, a character YAML treats specially, a value that is not text, a
# duplicate) is read by PyYAML as before, so its findings and messages are PyYAML's.
_TEXT = r'"([^"\\]*)"'  # double quotes, no escapes
# Plain words: a letter or digit first (no indicator), single spaces between words, no
# ':', '#', quotes, backslashes or brackets anywhere; in a list, no ',' either.
_PLAIN = r"[^\W_][^\s:#\"'\\\[\]{}]*(?: [^\s:#\"'\\\[\]{}]+)*"
_PLAIN_ITEM = _PLAIN.replace("{}]", "{},]")
_ITEM = rf"(?:{_TEXT}|({_PLAIN_ITEM}))"
_SIMPLE_LINE = re.compile(
    rf"([A-Za-z_][A-Za-z0-9_-]{{0,63}}): +"  # a plain field name (PyYAML: at most 1,024)
    rf"(?:{_TEXT}|({_PLAIN})|\[ *({_ITEM}(?: *, *{_ITEM})*)? *\])"
)
_SIMPLE_ITEM = re.compile(_ITEM)
# Left to PyYAML: tab, control, C1, line-separator, surrogate and byte-order-mark
# characters (its reader refuses some and takes others for line breaks).
_UNUSUAL = re.compile(f"[{CONTROL_CHARS}\t\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


@functools.lru_cache(maxsize=4096)  # the same words recur (types, sites, dates); titles do not
def _plain_is_text(value: str) -> bool:
    tag = _Resolver().resolve(nodes.ScalarNode, value, (True, False))
    return tag == _STR_TAG


def _simple(text: str) -> Document | None:
    """The document as `load` reads it, when the text has the simple shape; else None."""
    if _UNUSUAL.search(text):
        return None
    document = Document({})
    mapping = document.value
    for number, line in enumerate(text.split("\n")):
        if not line:
            continue
        match = _SIMPLE_LINE.fullmatch(line)
        if match is None:
            return None
        key, text_value, plain, items = match.group(1, 2, 3, 4)
        if key in mapping or not _plain_is_text(key):
            return None  # a duplicate, or `yes:`: PyYAML says what is wrong
        if match.group(0).endswith("]"):
            value: Any = []
            for quoted, word in _SIMPLE_ITEM.findall(items or ""):
                if word and not _plain_is_text(word):
                    return None
                value.append(word or quoted)
        elif plain is not None:
            if not _plain_is_text(plain):
                return None
            value = document.raw_scalars[key] = plain
        else:
            value = document.raw_scalars[key] = text_value
        mapping[key] = value
        document.key_lines[key] = number
    return document if mapping else None


def load(text: str) -> Document:
    """Parse one YAML document strictly; raise YamlProblem with a 0-based line."""
    simple = _simple(text)
    return simple if simple is not None else _full_load(text)


def _full_load(text: str) -> Document:
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
        said = str(exc.problem or exc.context)
        if any(words in said for words in _NEEDS_QUOTES):
            said += QUOTE_HINT
        raise YamlProblem(f"YAML cannot be read: {said}", mark.line if mark else 0) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML cannot be read: {exc}") from exc
    except (ValueError, OverflowError, RecursionError) as exc:  # pragma: no cover - backstop
        raise YamlProblem(f"YAML value cannot be read: {exc}") from exc
    document = Document(value)
    if isinstance(node, nodes.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, nodes.ScalarNode):
                document.key_lines[key_node.value] = key_node.start_mark.line
                if isinstance(value_node, nodes.ScalarNode):
                    document.raw_scalars[key_node.value] = value_node.value
    return document


@dataclass(frozen=True)
class FieldSpan:
    """Where a top-level field's value sits in the text (character offsets)."""

    after_colon: int  # just after the ':' that follows the key
    start: int  # first character of the value
    end: int  # just after its last character (trailing blank lines and comments excluded)
    block: bool  # a block list/mapping or a `|`/`>` text that spans lines


def _content_end(node: nodes.Node, text: str) -> int:
    if isinstance(node, nodes.ScalarNode):
        end = node.end_mark.index
        if node.style not in ("|", ">"):
            return end
        header = text[node.start_mark.index : text.find("\n", node.start_mark.index)]
        if "+" in header.split("#")[0]:  # keep: trailing blank lines are part of the text
            return end - (2 if text[end - 2 : end] == "\r\n" else 1)
        return len(text[:end].rstrip(" \t\r\n"))
    if node.flow_style or not node.value:
        return node.end_mark.index
    last = node.value[-1]
    return _content_end(last[1] if isinstance(node, nodes.MappingNode) else last, text)


def field_span(text: str, name: str) -> FieldSpan | None:
    """The span of `name`'s value in a mapping document, or None when the field is absent."""
    try:
        node = _Composer(text).compose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlProblem(f"YAML cannot be read: {exc}", mark.line if mark else 0) from exc
    if not isinstance(node, nodes.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, nodes.ScalarNode) and key_node.value == name:
            after_colon = text.index(":", key_node.end_mark.index) + 1
            block = (
                isinstance(value_node, nodes.ScalarNode) and value_node.style in ("|", ">")
            ) or (not isinstance(value_node, nodes.ScalarNode) and not value_node.flow_style)
            start = value_node.start_mark.index
            return FieldSpan(after_colon, start, _content_end(value_node, text), block)
    return None


class _Dumper(yaml.SafeDumper):
    """Writes plain dates (our loader reads them back as strings)."""


_Dumper.yaml_implicit_resolvers = _Resolver.yaml_implicit_resolvers


_OTHER_BREAKS = re.compile("[\x85\u2028\u2029]")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> nodes.ScalarNode:
    # PyYAML writes NEL (U+0085) raw inside quotes, where every reader takes it for a
    # line break; only double quotes escape it.
    style = '"' if _OTHER_BREAKS.search(value) else "|" if "\n" in value else None
    return dumper.represent_scalar(_STR_TAG, value, style=style)


def _represent_dict(dumper: yaml.SafeDumper, value: dict) -> nodes.MappingNode:
    # Always one `field: value` per line, even when every value is a scalar.
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=False)


def _represent_quoted(dumper: yaml.SafeDumper, value: Quoted) -> nodes.ScalarNode:
    text = str(value)
    if "\n" in text or _OTHER_BREAKS.search(text):
        return _represent_str(dumper, text)
    return dumper.represent_scalar(_STR_TAG, text, style="'")


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(Quoted, _represent_quoted)
_Dumper.add_representer(dict, _represent_dict)


def _without_document_end(text: str) -> str:
    # After a `|+` text PyYAML ends the document with '...'; in frontmatter the closing
    # '---' does that, and a field added after '...' would start a second document.
    return text.removesuffix("\n...\n") + "\n" if text.endswith("\n...\n") else text


def dump(data: Any) -> str:
    """YAML for frontmatter: field order kept, short lists inline, Unicode as is."""
    return _without_document_end(
        yaml.dump(
            data,
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=None,
            width=100_000,
        )
    )


def scalar(value: Any) -> str:
    """One value as it would appear after `key: ` (a `|` text spans the lines after)."""
    text = yaml.dump(
        value, Dumper=_Dumper, default_flow_style=True, allow_unicode=True, width=100_000
    )
    return _without_document_end(text).removesuffix("\n")
