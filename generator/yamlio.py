"""Strict YAML reading: one document, no duplicate keys, positions in every error."""

from __future__ import annotations

from typing import Any

import yaml

from .errors import Problem, UserError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one silently."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1}, column {mark.column + 1})", mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _construct_str(loader: _StrictLoader, node: yaml.ScalarNode) -> str:
    """Strings must be valid Unicode: a lone surrogate escape ("\\ud800") could never be written as UTF-8."""
    value = loader.construct_scalar(node)
    if any("\ud800" <= c <= "\udfff" for c in value):
        mark = node.start_mark
        raise yaml.constructor.ConstructorError(
            None, None, f"string with a lone surrogate escape (line {mark.line + 1}, column {mark.column + 1})", mark
        )
    return value


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)


def load_one(text: str, origin: str) -> Any:
    """Parse exactly one YAML document; a syntax error names the line and column."""
    try:
        docs = [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except yaml.YAMLError as exc:
        raise UserError(f"{origin} is not valid YAML", [Problem(_where(exc, origin), _what(exc))]) from None
    if len(docs) != 1:
        raise UserError(
            f"{origin} must hold exactly one YAML document",
            [Problem(origin, f"found {len(docs)} documents", "keep one document per file")],
        )
    return docs[0]


def load_all(text: str, origin: str) -> list[Any]:
    """Parse every YAML document of a multi-document stream (empty documents dropped)."""
    try:
        return [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except yaml.YAMLError as exc:
        raise UserError(f"{origin} is not valid YAML", [Problem(_where(exc, origin), _what(exc))]) from None


def _where(exc: yaml.YAMLError, origin: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin


def _what(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).strip()
