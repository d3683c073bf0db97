"""Strict YAML reading: one document, no duplicate keys, positions in every error.

Everything stratops reads as YAML may come from a user (specs, request bodies, fleet files a
review branch carries), so its shape is bounded before a single object is built: at most
MAX_DEPTH levels of nesting and MAX_NODES nodes, aliases counted expanded (a 600-byte alias
bomb expands to millions of nodes), and in what users submit no aliases at all. The bound is
checked on libyaml's event stream, which costs microseconds per node, and refuses an oversized
document before the (slower) construction starts.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import Problem, UserError

MAX_DEPTH = 64
MAX_NODES = 50_000  # a spec's params are at most 64 KiB of JSON: about 32,000 nodes at the very most

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it
_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)
_OPEN_EVENTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE_EVENTS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


class _StrictLoader(_Loader):
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


def load_one(text: str, origin: str, aliases: bool = True) -> Any:
    """Parse exactly one YAML document; a syntax error names the line and column.

    `aliases=False` refuses anchors and aliases outright (what users submit); otherwise they count
    expanded against the bounds (fleet files, which YAML writers may write with anchors).
    """
    docs = load_all(text, origin, aliases)
    if len(docs) != 1:
        raise UserError(
            f"{origin} must hold exactly one YAML document",
            [Problem(origin, f"found {len(docs)} documents", "keep one document per file")],
        )
    return docs[0]


def load_all(text: str, origin: str, aliases: bool = True) -> list[Any]:
    """Parse every YAML document of a multi-document stream (empty documents dropped)."""
    try:
        _check_shape(text, origin, aliases)
        return [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except yaml.YAMLError as exc:
        raise UserError(f"{origin} is not valid YAML", [Problem(_where(exc, origin), _what(exc))]) from None
    except UnicodeEncodeError as exc:  # a str holding lone surrogates: it never came from UTF-8 text
        raise UserError(
            f"{origin} is not valid YAML", [Problem(origin, f"character {exc.start} is not Unicode")]
        ) from None


def _check_shape(text: str, origin: str, aliases: bool) -> None:
    """Bound a stream's shape from its events alone: MAX_NODES nodes and MAX_DEPTH levels, counted with
    every alias expanded (as any consumer of the parsed value will expand it), or no aliases at all."""
    depth = nodes = 0
    open_: list[_Open] = []  # the collections being read
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, levels) of the anchored node, expanded
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.DocumentStartEvent):
            sizes.clear()  # anchors are scoped to their document
            continue
        if isinstance(event, _CLOSE_EVENTS):
            done = open_.pop()
            depth -= 1
            if done.anchor:
                sizes[done.anchor] = (nodes - done.nodes_before, done.deepest - depth)
            if open_:
                open_[-1].deepest = max(open_[-1].deepest, done.deepest)
            continue
        if isinstance(event, yaml.AliasEvent):
            if not aliases:
                raise _shape_error(origin, event, f"alias *{event.anchor}", "anchors and aliases are not accepted")
            size, levels = sizes.get(event.anchor, (1, 0))
        elif isinstance(event, _NODE_EVENTS):
            size, levels = 1, int(isinstance(event, _OPEN_EVENTS))
        else:
            continue
        nodes += size
        if nodes > MAX_NODES:
            raise _shape_error(origin, event, f"more than {MAX_NODES} values", "send a smaller document")
        if depth + levels > MAX_DEPTH:
            raise _shape_error(origin, event, f"nested more than {MAX_DEPTH} levels deep", "flatten the document")
        if open_:
            open_[-1].deepest = max(open_[-1].deepest, depth + levels)
        if isinstance(event, _OPEN_EVENTS):
            open_.append(_Open(event.anchor, nodes - 1, depth + 1))
            depth += 1
        elif isinstance(event, yaml.ScalarEvent) and event.anchor:
            sizes[event.anchor] = (1, 0)


@dataclass
class _Open:
    anchor: str | None
    nodes_before: int
    deepest: int


def _shape_error(origin: str, event: yaml.Event, what: str, fix: str) -> UserError:
    mark = event.start_mark
    where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
    return UserError(f"{origin} is not accepted", [Problem(where, what, fix)])


def _where(exc: yaml.YAMLError, origin: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin


def _what(exc: yaml.YAMLError) -> str:
    what = str(getattr(exc, "problem", None) or exc).strip()
    context, mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and mark:
        return f"{what} ({context} started at line {mark.line + 1}, column {mark.column + 1})"
    return f"{what} ({context})" if context else what


def load_json(text: str, origin: str) -> Any:
    """Parse a JSON document under the same rules: no duplicate keys, bounded depth and size."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise UserError(
            f"{origin} is not accepted", [Problem(origin, f"nested more than {MAX_DEPTH} levels deep", "flatten it")]
        ) from None
    except ValueError as exc:
        raise UserError(f"{origin} is not valid JSON", [Problem(origin, str(exc), "send valid JSON")]) from None
    _check_value_shape(value, origin)
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _check_value_shape(value: Any, origin: str) -> None:
    """The MAX_DEPTH and MAX_NODES bounds on a parsed value (iteratively: deep input must not recurse)."""
    stack, nodes = [(value, 1)], 1
    while stack:
        item, depth = stack.pop()
        children = list(item.values()) if isinstance(item, dict) else item if isinstance(item, list) else []
        if not children:
            continue
        nodes += len(children)
        if nodes > MAX_NODES:
            raise UserError(
                f"{origin} is not accepted", [Problem(origin, f"more than {MAX_NODES} values", "send less")]
            )
        if depth >= MAX_DEPTH:
            raise UserError(
                f"{origin} is not accepted",
                [Problem(origin, f"nested more than {MAX_DEPTH} levels deep", "flatten it")],
            )
        stack.extend((child, depth + 1) for child in children)


# --- writing: data every YAML reader reads the same way ------------------------------------

# Characters YAML does not take raw inside a flow scalar: non-printables, and the YAML 1.1 line breaks
# (NEL, LS, PS) and BOM that go-yaml treats as structure. JSON already escapes the C0 controls.
_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def portable_json(data: Any, indent: int | None = None) -> str:
    """JSON that YAML 1.1 (PyYAML, Helm's go-yaml) and 1.2 parsers read as the same data.

    Strings are quoted, so `y`, `no` or `on` stay strings; floats always carry a dot and a signed
    exponent (`1.0e+20`), which YAML 1.1 needs to read a float rather than a string; characters YAML
    refuses raw are escaped; surrogate pairs are never escaped (go-yaml refuses them).
    """
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", _encode(data, indent, 0))


def _encode(value: Any, indent: int | None, depth: int) -> str:
    if isinstance(value, dict):
        items = [f"{json.dumps(str(k), ensure_ascii=False)}: {_encode(v, indent, depth + 1)}" for k, v in value.items()]
        return _join("{", items, "}", indent, depth)
    if isinstance(value, list | tuple):
        return _join("[", [_encode(v, indent, depth + 1) for v in value], "]", indent, depth)
    if isinstance(value, float) and math.isfinite(value):
        mantissa, e, exponent = repr(value).partition("e")
        return (mantissa if "." in mantissa else f"{mantissa}.0") + e + exponent
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _join(opening: str, items: list[str], closing: str, indent: int | None, depth: int) -> str:
    if not items:
        return opening + closing
    if indent is None:
        return opening + ", ".join(items) + closing
    pad, inner = " " * (indent * depth), " " * (indent * (depth + 1))
    return opening + "\n" + ",\n".join(inner + i for i in items) + "\n" + pad + closing


class _QuotingDumper(yaml.SafeDumper):
    """SafeDumper that also quotes what go-yaml v2 (Helm, sigs.k8s.io/yaml) reads as a boolean: y, n."""


for _first in "yYnN":
    _QuotingDumper.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile("^(?:y|Y|n|N)$"), [_first])
_QuotingDumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile("^[-+]?0[oO][0-7_]+$"), list("-+0"))
_QuotingDumper.add_implicit_resolver(  # Go's floats: `1e3` is one there, a string to PyYAML
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def dump(data: Any, header: str = "") -> str:
    """Block YAML for people to read, with every string a YAML 1.1 or 1.2 reader could take for
    something else quoted."""
    return header + yaml.dump(
        data, Dumper=_QuotingDumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


# --- reading as Helm does ------------------------------------------------------------------


class _HelmLoader(yaml.SafeLoader):
    """YAML as Helm and helm-controller read values (sigs.k8s.io/yaml over go-yaml v2): `y`/`n` are
    booleans too, floats are Go's (`1e3` is one), ints take Go prefixes, timestamps stay strings."""


_HelmLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag.rsplit(":", 1)[1] not in ("int", "float", "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "yYnN":
    _HelmLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile("^(?:y|Y|n|N)$"), [_first])
_HelmLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)$"),
    list("-+0123456789"),
)
_HelmLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_BOOLS = {"y": True, "yes": True, "true": True, "on": True, "n": False, "no": False, "false": False, "off": False}


def _helm_bool(loader: _HelmLoader, node: yaml.ScalarNode) -> bool:
    return _BOOLS[loader.construct_scalar(node).lower()]


def _helm_int(loader: _HelmLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return sign * int(digits, 8)  # Go's base-0 ParseInt: a leading 0 is octal
    return sign * int(digits, 0)


_HelmLoader.add_constructor("tag:yaml.org,2002:bool", _helm_bool)
_HelmLoader.add_constructor("tag:yaml.org,2002:int", _helm_int)
_HelmLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _helm_mapping(loader: _HelmLoader, node: yaml.MappingNode) -> dict[str, Any]:
    """Keys become strings as sigs.k8s.io/yaml makes them (true -> "true"); the later duplicate wins."""
    loader.flatten_mapping(node)
    return {
        _key_text(loader.construct_object(k, deep=True)): loader.construct_object(v, deep=True) for k, v in node.value
    }


_HelmLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _helm_mapping)


def load_helm_values(text: str, origin: str = "values") -> Any:
    """Parse values as Helm does (see _HelmLoader), within the same bounds as every other document."""
    _check_shape(text, origin, True)
    return yaml.load(text, Loader=_HelmLoader)


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)
