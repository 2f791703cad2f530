"""YAML node walks for mapping files: line numbers, aliases and duplicate keys.

They work on the composed node tree (``yaml.compose``), before any value is built, so
that every error can point at a line and an alias bomb is refused before it expands.
"""

from __future__ import annotations

import yaml


def line_index(node: yaml.Node, path: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)  # a key's own line wins over its value's
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = str(k.value)
            out[(*path, key)] = k.start_mark.line + 1
            line_index(v, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            line_index(item, (*path, str(i)), out)


def first_alias(node: yaml.Node, seen: set[int]) -> int | None:
    """The line of the first node reached twice (an alias), or None: aliases can nest into
    exponentially large documents, so they are refused before anything walks the tree."""
    if id(node) in seen:
        return node.start_mark.line + 1
    seen.add(id(node))
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        line = first_alias(child, seen)
        if line is not None:
            return line
    return None


def duplicate_keys(node: yaml.Node, path: tuple[str, ...], out: list[tuple[int, str]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = str(k.value)
            if key in seen:
                where = ".".join((*path, key))
                out.append((k.start_mark.line + 1, f"{where}: key given twice (keep one)"))
            seen.add(key)
            duplicate_keys(v, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            duplicate_keys(item, (*path, str(i)), out)
