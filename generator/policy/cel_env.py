"""The CEL environment Kyverno gives ValidatingPolicy, rebuilt on cel-expr-python.

What cel-expr-python 0.1.3 allows, found by experiment (see docs/policies.md):
- custom functions, global, namespaced ("sets.contains") or member-style, with
  Python implementations; an exception raised in one becomes a CEL error value;
- no custom opaque types: `Type.AbstractType` values fail at runtime
  ("Unimplemented type"), so Kubernetes `Quantity` and Kyverno `Image` values are
  represented as tagged `map<string,string>` values ({"__k8s_quantity__": "0.25"});
- overloads whose parameters are `dyn` never dispatch at runtime, so every
  overload is declared with concrete types;
- a function name declared by a built-in extension cannot get extra overloads
  ("declared multiple times"): list `indexOf`/`lastIndexOf` (taken by the strings
  extension) and `orValue` on non-optional values come from source rewrites
  (`cel_rewrite`);
- cel-cpp's own extensions (lists, sets, two-variable comprehensions, regex, …) are
  reached through an environment config (`NewEnvConfigFromYaml`), not Python classes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from cel_expr_python import cel

from ..quantity import parse_quantity
from . import cel_libs, k8s_libs
from .cel_rewrite import RewriteError, rewrite

VARIABLES = ("object", "oldObject", "request", "namespaceObject", "variables", "exceptions")

T = cel.Type
STR, INT, DBL, BOOL, DYN = T.STRING, T.INT, T.DOUBLE, T.BOOL, T.DYN
LIST = T.List(DYN)
STRMAP = T.Map(STR, STR)  # carrier for Quantity and Image values (no opaque types, see above)
ANYMAP = T.Map(STR, DYN)
QKEY = "__k8s_quantity__"
IKEY = "__kyverno_image__"


OfflineError = cel_libs.OfflineError


# ---------------------------------------------------------------- quantities


def _dec(q: dict[str, str]) -> Decimal:
    if not isinstance(q, dict) or QKEY not in q:
        raise TypeError("not a Quantity (use quantity(string))")
    return Decimal(q[QKEY])


def _qval(d: Decimal) -> dict[str, str]:
    # Canonical decimal text, so quantity('1') == quantity('1000m') as in Kubernetes.
    text = format(d.normalize(), "f")
    return {QKEY: text}


def quantity(s: str) -> dict[str, str]:
    try:
        return _qval(Decimal(parse_quantity(s)))
    except (ValueError, ArithmeticError):
        raise ValueError(f"quantities must match the regular expression: {s!r} is not a quantity") from None


def is_quantity(s: str) -> bool:
    try:
        parse_quantity(s)
    except (ValueError, ArithmeticError):
        return False
    return True


def _cmp(a: dict[str, str], b: dict[str, str]) -> int:
    """compareTo of quantities and (same carrier type, one declaration) of Kubernetes semvers."""
    if isinstance(a, dict) and k8s_libs.SEMVER in a:
        return k8s_libs.semver_compare(a, b)
    x, y = _dec(a), _dec(b)
    return (x > y) - (x < y)


def _as_integer(q: dict[str, str]) -> int:
    d = _dec(q)
    if d != d.to_integral_value() or abs(d) > 2**63 - 1:
        raise ValueError("cannot convert value to integer")
    return int(d)


# ---------------------------------------------------------------- images (Kyverno)


DEFAULT_REGISTRY = "index.docker.io"  # go-containerregistry's name for Docker Hub, which Kyverno uses


def parse_image(ref: str) -> dict[str, str]:
    """Docker reference normalisation, as Kyverno's image library does it."""
    if not is_image(ref):
        raise ValueError(f"invalid image reference: {ref!r}")
    rest, _, digest = ref.partition("@")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DEFAULT_REGISTRY, rest
        if "/" not in path:
            path = "library/" + path
    if registry == "docker.io":
        registry = DEFAULT_REGISTRY
        if "/" not in path:
            path = "library/" + path
    name, colon, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    if not colon and not digest:
        tag = "latest"
    return {
        IKEY: ref,
        "registry": registry,
        "repository": name,
        "tag": tag,
        "digest": digest,
        "identifier": digest or tag,
    }


_IMAGE_RE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*"
    r"(:[\w][\w.-]{0,127})?(@[a-z0-9]+:[a-f0-9]{32,})?$"
)


def is_image(ref: str) -> bool:
    return bool(_IMAGE_RE.match(ref))


def _img(m: dict[str, str], field: str) -> Any:
    if not isinstance(m, dict) or IKEY not in m:
        raise TypeError("not an Image (use image(string))")
    return m[field]


# ---------------------------------------------------------------- lists / sets


def _num_list(xs: list[Any], what: str) -> list[Any]:
    if not xs and what != "sum":
        raise ValueError(f"{what}(): list is empty")
    return xs


def _o(oid: str, ret: T, params: list[T], impl: Callable[..., Any], member: bool = False) -> cel.Overload:
    return cel.Overload(oid, return_type=ret, parameters=params, is_member=member, impl=impl)


def _fn(name: str, *overloads: cel.Overload) -> cel.FunctionDecl:
    return cel.FunctionDecl(name, list(overloads))


def _quantity_functions() -> list[cel.FunctionDecl]:
    q = STRMAP
    return [
        _fn("quantity", _o("quantity_string", q, [STR], quantity)),
        _fn("isQuantity", _o("isQuantity_string", BOOL, [STR], is_quantity)),
        _fn("compareTo", _o("quantity_compareTo", INT, [q, q], _cmp, True)),
        _fn("isLessThan", _o("quantity_isLessThan", BOOL, [q, q], lambda a, b: _cmp(a, b) < 0, True)),
        _fn("isGreaterThan", _o("quantity_isGreaterThan", BOOL, [q, q], lambda a, b: _cmp(a, b) > 0, True)),
        _fn(
            "add",
            _o("quantity_add", q, [q, q], lambda a, b: _qval(_dec(a) + _dec(b)), True),
            _o("quantity_add_int", q, [q, INT], lambda a, b: _qval(_dec(a) + b), True),
        ),
        _fn(
            "sub",
            _o("quantity_sub", q, [q, q], lambda a, b: _qval(_dec(a) - _dec(b)), True),
            _o("quantity_sub_int", q, [q, INT], lambda a, b: _qval(_dec(a) - b), True),
        ),
        _fn("asInteger", _o("quantity_asInteger", INT, [q], _as_integer, True)),
        _fn("asApproximateFloat", _o("quantity_asApproximateFloat", DBL, [q], lambda a: float(_dec(a)), True)),
        _fn(
            "isInteger",
            _o("quantity_isInteger", BOOL, [q], lambda a: _dec(a) == _dec(a).to_integral_value(), True),
        ),
        _fn("sign", _o("quantity_sign", INT, [q], lambda a: (_dec(a) > 0) - (_dec(a) < 0), True)),
    ]


def _regex_functions() -> list[cel.FunctionDecl]:
    def find(s: str, pattern: str) -> str:
        m = re.search(pattern, s)
        return m.group(0) if m else ""

    def find_all(s: str, pattern: str, limit: int = -1) -> list[str]:
        found = [m.group(0) for m in re.finditer(pattern, s)]
        return found if limit < 0 else found[:limit]

    return [
        _fn("find", _o("string_find", STR, [STR, STR], find, True)),
        _fn(
            "findAll",
            _o("string_findAll", T.List(STR), [STR, STR], find_all, True),
            _o("string_findAll_n", T.List(STR), [STR, STR, INT], find_all, True),
        ),
    ]


def _list_functions() -> list[cel.FunctionDecl]:
    return [
        _fn(
            "isSorted",
            _o(
                "list_isSorted",
                BOOL,
                [LIST],
                lambda xs: all(a <= b for a, b in zip(xs, xs[1:], strict=False)),
                True,
            ),
        ),
        _fn("sum", _o("list_sum", DYN, [LIST], lambda xs: sum(_num_list(xs, "sum")), True)),
        _fn("min", _o("list_min", DYN, [LIST], lambda xs: min(_num_list(xs, "min")), True)),
        _fn("max", _o("list_max", DYN, [LIST], lambda xs: max(_num_list(xs, "max")), True)),
    ]


def _image_functions() -> list[cel.FunctionDecl]:
    members = [
        _fn(f, _o(f"image_{f}", STR, [STRMAP], lambda m, f=f: _img(m, f), True))
        for f in ("registry", "repository", "tag", "digest", "identifier")
    ]
    return [
        _fn("image", _o("image_string", STRMAP, [STR], parse_image)),
        _fn("parseImageReference", _o("parseImageReference_string", STRMAP, [STR], parse_image)),
        _fn("isImage", _o("isImage_string", BOOL, [STR], is_image)),
        _fn(
            "containsDigest",
            _o("image_containsDigest", BOOL, [STRMAP], lambda m: bool(_img(m, "digest")), True),
        ),
        *members,
    ]


# cel-cpp's own extensions at the versions Kyverno's base environment uses (strings v2, lists v3,
# regex v1, ...). Lists and sets come from here, not from Python, so they follow CEL semantics exactly.
_EXTENSIONS_CONFIG = """
extensions:
  - name: optional
  - name: bindings
  - name: encoders
  - name: lists
  - name: math
  - name: sets
  - name: strings
  - name: two-var-comprehensions
  - name: regex
"""


@lru_cache(maxsize=1)
def environment() -> cel.Env:
    """One shared environment: building it is costly, and compiled expressions are bound to it."""
    functions = (
        _quantity_functions()
        + _regex_functions()
        + _list_functions()
        + _image_functions()
        + cel_libs.functions()
        + k8s_libs.functions()
    )
    return cel.NewEnv(
        config=cel.NewEnvConfigFromYaml(_EXTENSIONS_CONFIG),
        variables={v: DYN for v in VARIABLES},
        functions=functions,
    )


class CelCompileError(Exception):
    """Raised by `compile_expression`; the message carries the CEL position marker."""


_cache: dict[str, Any] = {}


def compile_expression(expression: str, rewritten: bool = False) -> Any:
    """Compile once and cache: the same text always yields the same program. `rewritten`: the text
    is already the output of `cel_rewrite.rewrite` (or assembled from such pieces)."""
    program = _cache.get(expression)
    if program is None:
        try:
            program = _compile(expression if rewritten else rewrite(expression))
        except RewriteError as exc:
            raise CelCompileError(str(exc)) from None
        _cache[expression] = program
    return program


# cel-go's CrossTypeNumericComparisons (on in Kyverno) allows `1 < 2.0`; cel-cpp's checker refuses it
# though its runtime compares across numeric types. Such expressions are compiled without the checker.
_NUMERIC_ORDERING = re.compile(
    r"found no matching overload for '_(?:<|<=|>|>=)_' applied to '\((?:int|uint|double), (?:int|uint|double)\)'"
)


def _compile(text: str) -> Any:
    env = environment()
    try:
        return env.compile(text)
    except RuntimeError as exc:
        message = str(exc)
        errors = re.findall(r"ERROR: <input>:\d+:\d+: ([^\n]*)", message)
        if errors and all(_NUMERIC_ORDERING.search(e) for e in errors):
            return env.compile(text, disable_check=True)
        raise CelCompileError(_clean_compile_error(message)) from None


def _clean_compile_error(text: str) -> str:
    # cel-cpp wraps messages as "INVALID_ARGUMENT: ERROR: <input>:1:5: ... [INVALID_ARGUMENT]".
    text = re.sub(r"^[A-Z_]+: ", "", text).replace(" [INVALID_ARGUMENT]", "")
    return text.replace("<input>:", "at ").rstrip()


# cel-cpp's wording of the common runtime errors, in cel-go's words (what Kyverno reports).
_CEL_GO_WORDING = (
    (re.compile(r'^Key not found in map : "?(.*?)"?$'), r"no such key: \1"),
    (re.compile(r"^No matching overloads found : .*$"), "no such overload"),
    (re.compile(r"^divide by zero$"), "division by zero"),
    (re.compile(r"^modulus by zero$"), "modulus by zero"),
    (re.compile(r"^Index out of range.*$"), "index out of bounds"),
)


def clean_runtime_error(text: str) -> str:
    message = re.sub(r"^[A-Z_]+: ", "", str(text))
    for pattern, replacement in _CEL_GO_WORDING:
        if pattern.match(message):
            return pattern.sub(replacement, message)
    return message
