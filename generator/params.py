"""Typed strategy parameters: declared in the spec (`spec.parameters`) or on the class, checked statically.

A declaration maps a name to ``{type, default, minimum, maximum, enum, description}`` with
type one of integer, number, string, boolean. On the class it is a literal class attribute::

    class Crossover(Strategy):
        parameters = {"fast": {"type": "integer", "default": 10, "minimum": 1, "description": "fast SMA"}}

It is read with ``ast`` (``ast.literal_eval`` of that assignment): no user code is imported
outside the sandbox. The spec's declarations win over the class's, name by name. A strategy
that declares nothing takes any params, as before.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from .errors import Problem, UserError

TYPES = {"integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,)}
KEYS = {"type", "default", "minimum", "maximum", "enum", "description"}


def class_declarations(tree: ast.Module, class_name: str, where: str) -> tuple[dict[str, Any], list[Problem]]:
    """The literal ``parameters`` attribute of CLASS_NAME in TREE (empty when it has none)."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                target, value = _assignment(item)
                if target == "parameters" and value is not None:
                    try:
                        declared = ast.literal_eval(value)
                    except (ValueError, SyntaxError, TypeError):
                        return {}, [
                            Problem(
                                f"{where}:{item.lineno}",
                                f"{class_name}.parameters is not a literal dict",
                                "write it with literal names, numbers, strings and booleans only",
                            )
                        ]
                    return declared, declaration_problems(declared, f"{class_name}.parameters")
    return {}, []


def _assignment(item: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
        return item.targets[0].id, item.value
    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
        return item.target.id, item.value
    return None, None


def declaration_problems(declared: Any, where: str) -> list[Problem]:
    if not isinstance(declared, dict):
        return [Problem(where, "must be a map of parameter name -> declaration")]
    problems = []
    for name, decl in declared.items():
        at = f"{where}.{name}"
        if not isinstance(name, str) or not name.isidentifier():
            problems.append(Problem(where, f"{name!r} is not a parameter name", "use a Python identifier"))
            continue
        if not isinstance(decl, dict):
            problems.append(Problem(at, "must be a map with type, default, minimum, maximum, enum, description"))
            continue
        unknown = sorted(set(decl) - KEYS)
        if unknown:
            problems.append(Problem(at, f"unknown key(s) {', '.join(map(repr, unknown))}", f"allowed: {sorted(KEYS)}"))
        if decl.get("type") not in TYPES:
            problems.append(Problem(f"{at}.type", f"{decl.get('type')!r} is not a type", f"use one of {list(TYPES)}"))
            continue
        for bound in ("minimum", "maximum"):
            if bound in decl and not _is_number(decl[bound]):
                problems.append(Problem(f"{at}.{bound}", f"{decl[bound]!r} is not a number"))
        if "enum" in decl and not (isinstance(decl["enum"], list) and decl["enum"]):
            problems.append(Problem(f"{at}.enum", "must be a non-empty list"))
        if "default" in decl and not problems:
            problems += value_problems(name, decl["default"], decl, f"{at}.default")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def value_problems(name: str, value: Any, decl: dict[str, Any], where: str) -> list[Problem]:
    kind = decl["type"]
    ok = isinstance(value, TYPES[kind]) and (kind == "boolean" or not isinstance(value, bool))
    if kind == "number" and ok and not math.isfinite(value):
        ok = False
    if not ok:
        hint = decl.get("description") or f"a {kind}"
        return [Problem(where, f"{value!r} is not a {kind}", f"{name}: {hint}")]
    if "enum" in decl and value not in decl["enum"]:
        return [Problem(where, f"{value!r} is not one of {decl['enum']}")]
    if kind in ("integer", "number"):
        low, high = decl.get("minimum"), decl.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"{'' if low is None else low} .. {'' if high is None else high}"
            return [Problem(where, f"{value!r} is out of range", f"{name} must be in {span}")]
    return []


def params_problems(params: dict[str, Any], declared: dict[str, Any], where: str = "spec.params") -> list[Problem]:
    """PARAMS against DECLARED: unknown names, wrong types, out of range, missing without default."""
    if not declared:
        return []
    problems = [
        Problem(f"{where}.{name}", "is not a declared parameter", f"declared: {', '.join(sorted(declared)) or 'none'}")
        for name in params
        if name not in declared
    ]
    for name, decl in declared.items():
        if name in params:
            problems += value_problems(name, params[name], decl, f"{where}.{name}")
        elif "default" not in decl:
            problems.append(Problem(f"{where}.{name}", "is required (no default)", "give it in spec.params"))
    return problems


def with_defaults(params: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    return {**{n: d["default"] for n, d in declared.items() if "default" in d}, **params}


def check_params(strategy: Any, candidates: list[dict[str, Any]]) -> None:
    """Every parameter set (a run, or each point of a sweep) against the strategy's declarations."""
    problems: list[Problem] = []
    for params in candidates:
        for problem in params_problems(params, strategy.parameters, "params"):
            if problem not in problems:
                problems.append(problem)
    if problems:
        raise UserError("invalid parameters", problems)
