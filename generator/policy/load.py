"""Load ValidatingPolicy YAML (v1, v1beta1, v1alpha1) into typed `Policy` objects.

Parsing is strict like Kyverno's (policies are validated against the CRD there):
an unknown field is an error naming the file and the field path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from .model import (
    AuditAnnotation,
    LabelSelector,
    LabelSelectorRequirement,
    MatchConstraints,
    NamedExpression,
    Policy,
    PolicyError,
    PolicyException,
    ResourceRule,
    Validation,
)

GROUP = "policies.kyverno.io"
VERSIONS = ("v1", "v1beta1", "v1alpha1")  # same spec in all three (v1 aliases v1beta1)
KIND = "ValidatingPolicy"

SPEC_FIELDS = {
    "matchConstraints",
    "validations",
    "failurePolicy",
    "auditAnnotations",
    "matchConditions",
    "variables",
    "autogen",
    "validationActions",
    "webhookConfiguration",
    "evaluation",
}
TOP_FIELDS = {"apiVersion", "kind", "metadata", "spec", "status"}
RULE_FIELDS = {"apiGroups", "apiVersions", "resources", "operations", "resourceNames", "scope"}
ACTIONS = {"Deny", "Audit", "Warn"}
SKIP_DIRS = {".kyverno-test", ".chainsaw-test", ".git"}


class _Ctx:
    """Where we are while parsing, so every error names the file and the field path."""

    def __init__(self, source: str, name: str = "") -> None:
        self.source = source
        self.name = name

    def fail(self, path: str, what: str) -> PolicyError:
        who = f" (policy {self.name!r})" if self.name else ""
        return PolicyError(f"{self.source}{who}: {path}: {what}")


def _map(ctx: _Ctx, value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.fail(path, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise ctx.fail(f"{path}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
    return value


def _list(ctx: _Ctx, value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ctx.fail(path, f"expected a list, got {type(value).__name__}")
    return value


def _str(ctx: _Ctx, value: Any, path: str, required: bool = False) -> str:
    if value is None:
        if required:
            raise ctx.fail(path, "required field is missing")
        return ""
    if not isinstance(value, str):
        raise ctx.fail(path, f"expected a string, got {type(value).__name__}")
    return value


def _strs(ctx: _Ctx, value: Any, path: str) -> tuple[str, ...]:
    return tuple(_str(ctx, v, f"{path}[{i}]") for i, v in enumerate(_list(ctx, value, path)))


def _selector(ctx: _Ctx, value: Any, path: str) -> LabelSelector | None:
    if value is None:
        return None
    sel = _map(ctx, value, path, {"matchLabels", "matchExpressions"})
    labels = _map(ctx, sel.get("matchLabels"), f"{path}.matchLabels", set(sel.get("matchLabels") or {}))
    exprs = []
    for i, raw in enumerate(_list(ctx, sel.get("matchExpressions"), f"{path}.matchExpressions")):
        p = f"{path}.matchExpressions[{i}]"
        req = _map(ctx, raw, p, {"key", "operator", "values"})
        op = _str(ctx, req.get("operator"), f"{p}.operator", required=True)
        if op not in {"In", "NotIn", "Exists", "DoesNotExist"}:
            raise ctx.fail(f"{p}.operator", f"unknown operator {op!r}")
        exprs.append(
            LabelSelectorRequirement(
                _str(ctx, req.get("key"), f"{p}.key", required=True),
                op,
                _strs(ctx, req.get("values"), f"{p}.values"),
            )
        )
    return LabelSelector(tuple((str(k), str(v)) for k, v in labels.items()), tuple(exprs))


def _rule(ctx: _Ctx, value: Any, path: str) -> ResourceRule:
    raw = _map(ctx, value, path, RULE_FIELDS)
    return ResourceRule(
        api_groups=_strs(ctx, raw.get("apiGroups"), f"{path}.apiGroups"),
        api_versions=_strs(ctx, raw.get("apiVersions"), f"{path}.apiVersions"),
        resources=_strs(ctx, raw.get("resources"), f"{path}.resources"),
        operations=_strs(ctx, raw.get("operations"), f"{path}.operations"),
        resource_names=_strs(ctx, raw.get("resourceNames"), f"{path}.resourceNames"),
        scope=_str(ctx, raw.get("scope"), f"{path}.scope") or "*",
    )


def parse_match_constraints(ctx: _Ctx, value: Any, path: str = "spec.matchConstraints") -> MatchConstraints:
    allowed = {"resourceRules", "excludeResourceRules", "namespaceSelector", "objectSelector", "matchPolicy"}
    raw = _map(ctx, value, path, allowed)
    rules = [
        _rule(ctx, r, f"{path}.resourceRules[{i}]")
        for i, r in enumerate(_list(ctx, raw.get("resourceRules"), f"{path}.resourceRules"))
    ]
    excl = [
        _rule(ctx, r, f"{path}.excludeResourceRules[{i}]")
        for i, r in enumerate(_list(ctx, raw.get("excludeResourceRules"), f"{path}.excludeResourceRules"))
    ]
    return MatchConstraints(
        resource_rules=tuple(rules),
        exclude_resource_rules=tuple(excl),
        namespace_selector=_selector(ctx, raw.get("namespaceSelector"), f"{path}.namespaceSelector"),
        object_selector=_selector(ctx, raw.get("objectSelector"), f"{path}.objectSelector"),
        match_policy=_str(ctx, raw.get("matchPolicy"), f"{path}.matchPolicy") or "Equivalent",
    )


def _named(ctx: _Ctx, value: Any, path: str) -> tuple[NamedExpression, ...]:
    out = []
    for i, raw in enumerate(_list(ctx, value, path)):
        p = f"{path}[{i}]"
        item = _map(ctx, raw, p, {"name", "expression"})
        out.append(
            NamedExpression(
                _str(ctx, item.get("name"), f"{p}.name", True),
                _str(ctx, item.get("expression"), f"{p}.expression", True),
            )
        )
    return tuple(out)


def _validations(ctx: _Ctx, value: Any) -> tuple[Validation, ...]:
    out = []
    for i, raw in enumerate(_list(ctx, value, "spec.validations")):
        p = f"spec.validations[{i}]"
        item = _map(ctx, raw, p, {"expression", "message", "messageExpression", "reason"})
        out.append(
            Validation(
                expression=_str(ctx, item.get("expression"), f"{p}.expression", True),
                message=_str(ctx, item.get("message"), f"{p}.message"),
                message_expression=_str(ctx, item.get("messageExpression"), f"{p}.messageExpression"),
                reason=_str(ctx, item.get("reason"), f"{p}.reason"),
            )
        )
    return tuple(out)


def _audit_annotations(ctx: _Ctx, value: Any) -> tuple[AuditAnnotation, ...]:
    out = []
    for i, raw in enumerate(_list(ctx, value, "spec.auditAnnotations")):
        p = f"spec.auditAnnotations[{i}]"
        item = _map(ctx, raw, p, {"key", "valueExpression"})
        out.append(
            AuditAnnotation(
                _str(ctx, item.get("key"), f"{p}.key", True),
                _str(ctx, item.get("valueExpression"), f"{p}.valueExpression", True),
            )
        )
    return tuple(out)


def _autogen_controllers(ctx: _Ctx, value: Any) -> tuple[str, ...] | None:
    raw = _map(ctx, value, "spec.autogen", {"podControllers", "validatingAdmissionPolicy"})
    _map(ctx, raw.get("validatingAdmissionPolicy"), "spec.autogen.validatingAdmissionPolicy", {"enabled"})
    if raw.get("podControllers") is None:
        return None
    pc = _map(ctx, raw["podControllers"], "spec.autogen.podControllers", {"controllers"})
    if pc.get("controllers") is None:
        return None
    return _strs(ctx, pc["controllers"], "spec.autogen.podControllers.controllers")


def _check_misc(ctx: _Ctx, spec: dict[str, Any]) -> None:
    """Fields we accept for fidelity but do not evaluate offline; still checked strictly."""
    _map(ctx, spec.get("webhookConfiguration"), "spec.webhookConfiguration", {"timeoutSeconds"})
    ev = _map(ctx, spec.get("evaluation"), "spec.evaluation", {"mode", "admission", "background"})
    _map(ctx, ev.get("admission"), "spec.evaluation.admission", {"enabled"})
    _map(ctx, ev.get("background"), "spec.evaluation.background", {"enabled"})


def parse_spec(
    ctx: _Ctx,
    spec: dict[str, Any],
    api_version: str,
    variant: str = "",
    controllers: tuple[str, ...] | None = None,
) -> Policy:
    """Build a Policy from a (possibly autogen-rewritten) spec mapping."""
    spec = _map(ctx, spec, "spec", SPEC_FIELDS)
    _check_misc(ctx, spec)
    failure = _str(ctx, spec.get("failurePolicy"), "spec.failurePolicy") or "Fail"
    if failure not in {"Fail", "Ignore"}:
        raise ctx.fail("spec.failurePolicy", f"must be Fail or Ignore, got {failure!r}")
    actions = _strs(ctx, spec.get("validationActions"), "spec.validationActions") or ("Deny",)
    for a in actions:
        if a not in ACTIONS:
            raise ctx.fail("spec.validationActions", f"unknown action {a!r} (allowed: Audit, Deny, Warn)")
    if "matchConstraints" not in spec:
        raise ctx.fail("spec.matchConstraints", "required field is missing")
    return Policy(
        name=ctx.name,
        source=ctx.source,
        api_version=api_version,
        match_constraints=parse_match_constraints(ctx, spec.get("matchConstraints")),
        validations=_validations(ctx, spec.get("validations")),
        variables=_named(ctx, spec.get("variables"), "spec.variables"),
        match_conditions=_named(ctx, spec.get("matchConditions"), "spec.matchConditions"),
        audit_annotations=_audit_annotations(ctx, spec.get("auditAnnotations")),
        failure_policy=failure,
        validation_actions=actions,
        autogen_controllers=controllers if variant else _autogen_controllers(ctx, spec.get("autogen")),
        variant=variant,
        raw_spec=spec,
    )


def parse_policy_document(doc: dict[str, Any], source: str) -> Policy:
    ctx = _Ctx(source)
    _map(ctx, doc, "<document>", TOP_FIELDS)
    api_version = _str(ctx, doc.get("apiVersion"), "apiVersion", True)
    group, _, version = api_version.partition("/")
    if group != GROUP or version not in VERSIONS:
        raise ctx.fail(
            "apiVersion",
            f"unsupported {api_version!r} for {KIND} (supported: {', '.join(f'{GROUP}/{v}' for v in VERSIONS)})",
        )
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ctx.fail("metadata.name", "required field is missing")
    ctx.name = meta["name"]
    if not isinstance(doc.get("spec"), dict):
        raise ctx.fail("spec", "required field is missing or not a mapping")
    return parse_spec(ctx, doc["spec"], api_version)


def read_yaml_documents(path: Path) -> list[dict[str, Any]]:
    """All non-empty YAML documents of a file; a clear PolicyError on I/O or syntax errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: invalid YAML: {exc}") from None
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            raise PolicyError(f"{path}: document {i + 1} is not a mapping")
    return docs


def iter_yaml_files(paths: Iterable[Path]) -> Iterator[tuple[Path, bool]]:
    """Yield (file, explicit). Directories are walked recursively, test folders skipped."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and f.suffix in {".yaml", ".yml"} and not SKIP_DIRS & set(rel[:-1]):
                    yield f, False
        elif p.is_file():
            yield p, True
        else:
            raise PolicyError(f"{p}: no such file or directory")


def load_policy_objects(paths: Iterable[Path], other_kinds_ok: bool = False) -> list[Policy]:
    """Parse every ValidatingPolicy under `paths` (files or directories). A file named explicitly
    must hold one, unless `other_kinds_ok` (a kyverno test lists policies of every kind)."""
    policies: list[Policy] = []
    seen: dict[str, str] = {}
    for f, explicit in iter_yaml_files(paths):
        found = 0
        for doc in read_yaml_documents(f):
            if doc.get("kind") != KIND:
                continue
            pol = parse_policy_document(doc, str(f))
            if pol.name in seen:
                raise PolicyError(f"{f}: policy {pol.name!r} is already defined in {seen[pol.name]}")
            seen[pol.name] = str(f)
            policies.append(pol)
            found += 1
        if explicit and not found and not other_kinds_ok:
            raise PolicyError(f"{f}: no {KIND} found in this file")
    return policies


EXCEPTION_KIND = "PolicyException"


def parse_exception_document(doc: dict[str, Any], source: str) -> PolicyException:
    ctx = _Ctx(source)
    _map(ctx, doc, "<document>", TOP_FIELDS)
    api_version = _str(ctx, doc.get("apiVersion"), "apiVersion", True)
    if api_version.partition("/")[0] != GROUP:
        raise ctx.fail("apiVersion", f"unsupported {api_version!r} for {EXCEPTION_KIND} (group {GROUP})")
    name = _str(ctx, (doc.get("metadata") or {}).get("name"), "metadata.name", True)
    spec = _map(ctx, doc.get("spec"), "spec", {"policyRefs", "matchConditions", "images", "allowedValues"})
    refs = []
    for i, raw in enumerate(_list(ctx, spec.get("policyRefs"), "spec.policyRefs")):
        ref = _map(ctx, raw, f"spec.policyRefs[{i}]", {"name", "kind"})
        kind = _str(ctx, ref.get("kind"), f"spec.policyRefs[{i}].kind")
        if kind in ("", KIND, "NamespacedValidatingPolicy"):
            refs.append(_str(ctx, ref.get("name"), f"spec.policyRefs[{i}].name", True))
    return PolicyException(
        name=name,
        source=source,
        policy_names=tuple(refs),
        match_conditions=_named(ctx, spec.get("matchConditions"), "spec.matchConditions"),
        images=_strs(ctx, spec.get("images"), "spec.images"),
        allowed_values=_strs(ctx, spec.get("allowedValues"), "spec.allowedValues"),
    )


def load_exceptions(paths: Iterable[Path]) -> list[PolicyException]:
    """Every PolicyException in the given files or directories."""
    found = []
    for f, _explicit in iter_yaml_files(paths):
        for doc in read_yaml_documents(f):
            if doc.get("kind") == EXCEPTION_KIND:
                found.append(parse_exception_document(doc, str(f)))
    return found
