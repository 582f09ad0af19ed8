"""YAML read as a tree of located values, so every error can name its line.

Only the composer runs: no YAML tag is constructed, so nothing in an inventory is turned
into an object, and every scalar stays the text that was written (4.10 stays '4.10').
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml


@dataclass(frozen=True, slots=True)
class Scalar:
    text: str
    line: int
    null: bool  # written as nothing, ~ or null


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[Node, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Map:
    # key -> (line of the key, value)
    entries: dict[str, tuple[int, Node]]
    line: int


Node = Scalar | Seq | Map

_NULLS = {"", "~", "null", "Null", "NULL"}
# An inventory is four levels deep; the composer recurses once per level, so a document
# nested hundreds deep would end in a RecursionError instead of a message.
MAX_DEPTH = 20


class YamlError(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Loader(yaml.SafeLoader):
    """Refuses aliases: an inventory has no use for them, and they can blow up in size.
    Refuses nesting beyond MAX_DEPTH, with the line where it goes too deep."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise YamlError(
                event.start_mark.line + 1,
                "YAML aliases (*name) are not supported: write the value out",
            )
        if self.depth >= MAX_DEPTH:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise YamlError(
                event.start_mark.line + 1,
                f"nested more than {MAX_DEPTH} levels deep; an inventory is a few levels deep",
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse_yaml(text: str) -> Node | None:
    """The document's tree, or None for an empty document. YamlError on bad syntax."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        context = f" {exc.context}" if exc.context else ""
        raise YamlError(line, f"invalid YAML: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise YamlError(None, f"invalid YAML: {exc}") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops it first
        raise YamlError(None, "nested too deep for an inventory") from None
    return None if node is None else _convert(node)


def _convert(node: yaml.Node) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        plain = node.style is None
        return Scalar(str(node.value), line, plain and node.value in _NULLS)
    if isinstance(node, yaml.SequenceNode):
        return Seq(tuple(_convert(item) for item in node.value), line)
    if isinstance(node, yaml.MappingNode):
        entries: dict[str, tuple[int, Node]] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError(key_line, "a key must be a plain name")
            if key_node.value in entries:
                first = entries[key_node.value][0]
                message = f"duplicate key {key_node.value!r} (first at line {first})"
                raise YamlError(key_line, message)
            entries[str(key_node.value)] = (key_line, _convert(value_node))
        return Map(entries, line)
    raise YamlError(line, "unsupported YAML node")  # pragma: no cover - composer yields only these
