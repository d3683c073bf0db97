"""Evaluate ValidatingPolicies on objects with Kyverno's semantics.

Order of evaluation (pkg/cel/policies/vpol/engine): matchConstraints, then
matchConditions (false -> skip), then validations in order; the first false one
fails with its message, a runtime error or a non-bool result is an error.
Variables are lazy: only those an expression refers to (and what they refer to)
are evaluated, each at most once per object.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cel_expr_python import cel

from . import autogen
from .cel_env import CelCompileError, clean_runtime_error, compile_expression
from .cel_rewrite import RewriteError, bind, rewrite
from .match import ObjectInfo, matches
from .model import Policy, PolicyError, PolicyException, PolicyResult, Status

_VAR_REF = re.compile(r"\bvariables\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([A-Za-z_]\w*)['\"]\s*\])")


def referenced_variables(expression: str) -> set[str]:
    return {a or b for a, b in _VAR_REF.findall(expression)}


_BIND_PREFIX = "stratops_var_"


def _substitute(expression: str) -> str:
    return _VAR_REF.sub(lambda m: _BIND_PREFIX + (m.group(1) or m.group(2)), expression)


class _EvalError(Exception):
    """A CEL runtime error while evaluating one expression (message already clean)."""


@dataclass
class CompiledPolicy:
    """A Policy with every expression compiled and variable dependencies resolved."""

    policy: Policy
    programs: dict[str, Any] = field(default_factory=dict)
    var_order: list[str] = field(default_factory=list)
    var_deps: dict[str, list[str]] = field(default_factory=dict)  # transitive, in declaration order
    # Fast path: the same expression with its variables inlined (eager binds), so it runs on
    # the one activation shared by every policy for an object (converting an object to CEL
    # values dominates the cost; an activation caches the conversion).
    inlined: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, policy: Policy) -> CompiledPolicy:
        cp = cls(policy)
        for path, expr in _expressions(policy):
            cp._compile(path, expr)
        cp._resolve_variables()
        for _path, expr in _expressions(policy):
            cp._inline(expr)
        return cp

    def _inline(self, expression: str) -> None:
        needed = self.needed(expression)
        if not needed:
            self.inlined[expression] = self.programs[expression]
            return
        # Each piece is rewritten on its own (cached), so the combined text is compiled as is.
        exprs = {v.name: v.expression for v in self.policy.variables}
        text = _substitute(rewrite(expression))
        for name in reversed(needed):
            text = bind(f"{_BIND_PREFIX}{name}", _substitute(rewrite(exprs[name])), text)
        # On failure (e.g. "variables.x" inside a string literal) only the exact path is used.
        with contextlib.suppress(CelCompileError, RewriteError):
            self.inlined[expression] = compile_expression(text, rewritten=True)

    def _compile(self, path: str, expression: str) -> None:
        try:
            self.programs[expression] = compile_expression(expression)
        except CelCompileError as exc:
            variant = f" (autogen {self.policy.variant} copy)" if self.policy.variant else ""
            raise PolicyError(
                f"{self.policy.source}: policy {self.policy.name!r}{variant}: {path}: "
                f"CEL compile error in {expression.strip()!r}: {exc}"
            ) from None

    def _resolve_variables(self) -> None:
        self.var_order = [v.name for v in self.policy.variables]
        direct = {v.name: referenced_variables(v.expression) for v in self.policy.variables}
        for name in self.var_order:
            seen: set[str] = set()
            stack = list(direct[name])
            while stack:
                dep = stack.pop()
                if dep in seen or dep not in direct:
                    continue
                seen.add(dep)
                stack.extend(direct[dep])
            self.var_deps[name] = [n for n in self.var_order if n in seen and n != name]

    def needed(self, expression: str) -> list[str]:
        """Variables to evaluate (dependencies first) before `expression` can run."""
        names: set[str] = set()
        for ref in referenced_variables(expression):
            if ref in self.var_deps:
                names.add(ref)
                names.update(self.var_deps[ref])
        return [n for n in self.var_order if n in names]


def _expressions(policy: Policy) -> Iterator[tuple[str, str]]:
    for i, v in enumerate(policy.variables):
        yield f"spec.variables[{i}] ({v.name})", v.expression
    for i, m in enumerate(policy.match_conditions):
        yield f"spec.matchConditions[{i}] ({m.name})", m.expression
    for i, val in enumerate(policy.validations):
        yield f"spec.validations[{i}].expression", val.expression
        if val.message_expression:
            yield f"spec.validations[{i}].messageExpression", val.message_expression
    for i, a in enumerate(policy.audit_annotations):
        yield f"spec.auditAnnotations[{i}].valueExpression", a.value_expression


class _Run:
    """State of one policy on one object: the CEL inputs and the variables computed so far."""

    def __init__(self, cp: CompiledPolicy, data: dict[str, Any], shared: Any = None) -> None:
        self.cp = cp
        self.data = dict(data)
        self.variables: dict[str, Any] = {}
        self.data["variables"] = self.variables
        self.activation: Any = None
        self.shared = shared

    def value(self, expression: str) -> Any:
        """Fast path on the shared activation; on any error, the exact path explains it."""
        program = self.cp.inlined.get(expression)
        if program is not None and self.shared is not None:
            result = program.eval(self.shared)
            if result.type() != cel.Type.ERROR:
                try:
                    return result.plain_value()
                except Exception:  # fall through: the exact path produces the message
                    pass
        return self.exact(expression)

    def exact(self, expression: str) -> Any:
        self._ensure_variables(expression)
        if self.activation is None:
            self.activation = _env_activation(self.data)
        result = self.cp.programs[expression].eval(self.activation)
        if result.type() == cel.Type.ERROR:
            raise _EvalError(clean_runtime_error(result.value()))
        try:
            return result.plain_value()
        except Exception as exc:  # e.g. an optional value escaping to the top level
            raise _EvalError(f"result cannot be used: {exc}") from None

    def _ensure_variables(self, expression: str) -> None:
        for name in self.cp.needed(expression):
            if name in self.variables:
                continue
            var = next(v for v in self.cp.policy.variables if v.name == name)
            try:
                value = self.exact(var.expression)
            except _EvalError as exc:
                raise _EvalError(f"variable {name!r}: {exc}") from None
            self.variables[name] = value
            self.activation = None  # rebuilt with the new variable on next use


def _env_activation(data: dict[str, Any]) -> Any:
    from .cel_env import environment

    return environment().Activation(data)


def _message(run: _Run, index: int, validation: Any) -> str:
    """As Kyverno's ValidatingPolicy engine: messageExpression replaces message (its failure is
    reported in the message); an empty result gives the default message."""
    message = validation.message
    if validation.message_expression:
        try:
            msg = run.value(validation.message_expression)
        except _EvalError as exc:
            msg = f"failed to evaluate message expression: {exc}"
        message = msg if isinstance(msg, str) else f"failed to convert message expression to string: {msg!r}"
    return message.strip() or f"CEL expression validation failed at index {index}"


def _validate(run: _Run) -> tuple[Status, str]:
    pol = run.cp.policy
    for cond in pol.match_conditions:
        try:
            ok = run.value(cond.expression)
        except _EvalError as exc:
            if pol.failure_policy == "Ignore":
                return "skip", f"matchCondition {cond.name!r} failed to evaluate: {exc}"
            return "error", f"matchCondition {cond.name!r}: {exc}"
        if not isinstance(ok, bool):
            return "error", f"matchCondition {cond.name!r} must evaluate to bool"
        if not ok:
            return "skip", f"matchCondition {cond.name!r} is false"
    for i, val in enumerate(pol.validations):
        try:
            ok = run.value(val.expression)
        except _EvalError as exc:
            return "error", f"spec.validations[{i}]: {exc}"
        if not isinstance(ok, bool):
            return (
                "error",
                f"spec.validations[{i}]: expression must evaluate to bool, got {type(ok).__name__}",
            )
        if not ok:
            return "fail", _message(run, i, val)
    return "pass", ""


def resource_id(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    parts = (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace"), meta.get("name"))
    return "/".join(str(p or "") for p in parts)


def to_float_numbers(value: Any) -> Any:
    """Kyverno's CLI loads resources with every integer as float64; reproduce that for `kyverno test`."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: to_float_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_float_numbers(v) for v in value]
    return value


_TEMPLATE_METADATA = (
    ("metadata",),
    ("spec", "template", "metadata"),
    ("spec", "jobTemplate", "metadata"),
    ("spec", "jobTemplate", "spec", "template", "metadata"),
)


def as_kyverno_cli_loads(obj: dict[str, Any]) -> dict[str, Any]:
    """A resource as the Kyverno CLI hands it to CEL: integers as doubles, and null `labels` /
    `annotations` of the object's and its pod template's metadata as empty maps (found by comparing
    with `kyverno apply`; the API server would drop such nulls instead)."""
    obj = to_float_numbers(obj)
    for path in _TEMPLATE_METADATA:
        node: Any = obj
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            for key in ("labels", "annotations"):
                if key in node and node[key] is None:
                    node[key] = {}
    return obj


def _with_namespace(obj: dict[str, Any], info: ObjectInfo, namespace: dict[str, Any] | None) -> dict[str, Any]:
    """Namespaced objects without a namespace land in the target namespace (Kyverno CLI: `default`)."""
    if not info.namespaced or info.namespace:
        return obj
    ns = ((namespace or {}).get("metadata") or {}).get("name") or "default"
    return {**obj, "metadata": {**(obj.get("metadata") or {}), "namespace": ns}}


def _request(obj: dict[str, Any], info: ObjectInfo, operation: str, user_info: dict[str, Any] | None) -> dict[str, Any]:
    # request.object / request.oldObject are left out: they duplicate `object` / `oldObject`
    # and converting them to CEL values would double the cost of every evaluation.
    meta = obj.get("metadata") or {}
    return {
        "operation": operation,
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "kind": {"group": info.group, "version": info.version, "kind": info.kind},
        "resource": {"group": info.group, "version": info.version, "resource": info.resource},
        "dryRun": False,
        "userInfo": user_info if user_info is not None else {"username": "", "groups": []},
    }


_EXEMPT = "rule is skipped due to policy exception"


class PolicySet:
    """Loaded policies plus their autogen copies, ready to evaluate objects.

    `evaluate` returns one result per policy (or autogen copy) whose matchConstraints
    match the object; non-matching policies produce nothing. A policy whose
    matchConditions are false yields status "skip".
    """

    def __init__(
        self,
        policies: Iterable[Policy],
        numbers_as_float: bool = False,
        exceptions: Iterable[PolicyException] = (),
    ) -> None:
        self.policies: list[Policy] = []
        for pol in policies:
            self.policies.append(pol)
            self.policies.extend(autogen.generate(pol))
        self.compiled = [CompiledPolicy.build(p) for p in self.policies]
        self.numbers_as_float = numbers_as_float
        self.exceptions = list(exceptions)
        for exc in self.exceptions:
            for i, cond in enumerate(exc.match_conditions):
                try:
                    compile_expression(cond.expression)
                except CelCompileError as err:
                    raise PolicyError(
                        f"{exc.source}: PolicyException {exc.name!r}: spec.matchConditions[{i}] ({cond.name}): "
                        f"CEL compile error in {cond.expression.strip()!r}: {err}"
                    ) from None

    def __len__(self) -> int:
        return len({p.name for p in self.policies})

    def copies(self, name: str) -> list[Policy]:
        """Policy `name` as written, then its autogen copies."""
        return [p for p in self.policies if p.name == name]

    @property
    def names(self) -> list[str]:
        return sorted({p.name for p in self.policies})

    def evaluate(
        self,
        obj: dict[str, Any],
        namespace: dict[str, Any] | None = None,
        operation: str = "CREATE",
        user_info: dict[str, Any] | None = None,
    ) -> list[PolicyResult]:
        """`user_info` is the requester (`request.userInfo`: username, uid, groups, extra); without
        it the request is anonymous (empty username, no groups)."""
        info = ObjectInfo.of(obj)
        obj = _with_namespace(obj, info, namespace)
        info = ObjectInfo.of(obj)
        data: dict[str, Any] | None = None
        shared: Any = None
        results = []
        for cp in self.compiled:
            if not matches(cp.policy.match_constraints, obj, info, namespace, operation):
                continue
            if data is None:
                data = self._inputs(obj, info, namespace, operation, user_info)
                shared = _env_activation({**data, "variables": {}})
            status, message = self._with_exceptions(cp, data, shared)
            exempted = message.startswith(_EXEMPT)
            results.append(
                PolicyResult(
                    cp.policy.name,
                    resource_id(obj),
                    status,
                    message,
                    cp.policy.validation_actions,
                    cp.policy.variant,
                    "exception" if exempted else "",
                )
            )
        return results

    def _with_exceptions(self, cp: CompiledPolicy, data: dict[str, Any], shared: Any) -> tuple[Status, str]:
        """Kyverno's order: exceptions naming the policy first (all matchConditions true = exempt:
        skip, or allowed images/values in `exceptions`), then the policy itself."""
        exempt, images, values = [], [], []
        for exc in self.exceptions:
            if cp.policy.name not in exc.policy_names:
                continue
            try:
                hit = all(self._holds(cond.expression, shared) for cond in exc.match_conditions)
            except _EvalError as err:
                if exempt:
                    continue  # an exemption already granted stands
                return "error", f"PolicyException {exc.name!r}: {err}"
            if hit and exc.full:
                exempt.append(exc.name)
            elif hit:
                images += exc.images
                values += exc.allowed_values
        if exempt:
            return "skip", f"{_EXEMPT} {', '.join(exempt)}"
        if images or values:
            data = {**data, "exceptions": {"allowedImages": images, "allowedValues": values}}
            shared = _env_activation({**data, "variables": {}})
        return _validate(_Run(cp, data, shared))

    @staticmethod
    def _holds(expression: str, activation: Any) -> bool:
        result = compile_expression(expression).eval(activation)
        if result.type() == cel.Type.ERROR:
            raise _EvalError(clean_runtime_error(result.value()))
        value = result.plain_value()
        if not isinstance(value, bool):
            raise _EvalError("matchCondition must evaluate to bool")
        return value

    def _inputs(
        self,
        obj: dict[str, Any],
        info: ObjectInfo,
        namespace: dict[str, Any] | None,
        operation: str,
        user_info: dict[str, Any] | None,
    ) -> dict[str, Any]:
        ns_obj = namespace if info.namespaced else None
        # Offline there is no stored object: UPDATE sees oldObject null; DELETE sees the object
        # as oldObject and a null object, as the Kyverno CLI evaluates a DELETE.
        deleting = operation == "DELETE"
        data = {
            "object": None if deleting else obj,
            "oldObject": obj if deleting else None,
            "namespaceObject": ns_obj,
            "request": _request(obj, info, operation, user_info),
            "exceptions": {"allowedImages": [], "allowedValues": []},
        }
        if not self.numbers_as_float:
            return data
        cli = {k: as_kyverno_cli_loads(v) if k in ("object", "oldObject") and v else v for k, v in data.items()}
        return to_float_numbers(cli)
