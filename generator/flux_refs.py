"""References between the Flux objects of a fleet repo, checked the way the controllers resolve them.

A `sourceRef`, `chartRef` or `dependsOn` that names no object never becomes Ready;
a HelmRelease in a tenant namespace that installs into another namespace
(`targetNamespace`, `storageNamespace`) or another cluster (`kubeConfig`) escapes
the tenant's policies and quota. Under Flux's multi-tenancy lockdown, a tenant's
reference to another namespace is refused, and a tenant's object without
`serviceAccountName` runs as the namespace's `default` account (warnings: a cluster
may run without the lockdown). `flux bootstrap` creates the `flux-system`
GitRepository and Kustomization itself, so they count as present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kubeschema import object_ref

BOOTSTRAP = {
    ("GitRepository", "flux-system", "flux-system"),
    ("Kustomization", "flux-system", "flux-system"),
    *(("ServiceAccount", "flux-system", c) for c in ("source-controller", "kustomize-controller", "helm-controller")),
}
_SOURCES = ("GitRepository", "OCIRepository", "Bucket", "ExternalArtifact", "HelmRepository", "HelmChart")


@dataclass(frozen=True)
class RefProblem:
    file: str
    object: str
    message: str
    severity: str = "error"


def reference_problems(
    objects: list[tuple[dict[str, Any], str]], tenants: set[str], accounts: list[tuple[dict[str, Any], str]]
) -> list[RefProblem]:
    """Every dangling or escaping reference among `objects` ((object, file) pairs as Flux applies them);
    `accounts` are the repo's ServiceAccounts, which `serviceAccountName` must name."""
    present = set(BOOTSTRAP) | {(o.get("kind"), _namespace(o), _name(o)) for o, _ in objects + accounts}
    problems = []
    for obj, file in objects:
        kind, spec = obj.get("kind"), obj.get("spec") or {}
        if not isinstance(spec, dict):
            continue
        checks = []
        if kind == "HelmRelease":
            chart_spec = ((spec.get("chart") or {}).get("spec") or {}) if isinstance(spec.get("chart"), dict) else {}
            checks += [("spec.chart.spec.sourceRef", chart_spec.get("sourceRef"), _SOURCES)]
            checks += [("spec.chartRef", spec.get("chartRef"), ("OCIRepository", "HelmChart", "ExternalArtifact"))]
            checks += [(f"spec.dependsOn[{i}]", {**d, "kind": "HelmRelease"}, ("HelmRelease",)) for i, d in _deps(spec)]
            if _namespace(obj) in tenants:
                problems += _escapes(obj, spec, file)
        elif kind == "Kustomization":
            checks += [("spec.sourceRef", spec.get("sourceRef"), _SOURCES[:4])]
            checks += [
                (f"spec.dependsOn[{i}]", {**d, "kind": "Kustomization"}, ("Kustomization",)) for i, d in _deps(spec)
            ]
        elif kind == "HelmChart":
            checks += [("spec.sourceRef", {**(spec.get("sourceRef") or {}), "namespace": None}, _SOURCES[:3])]
        account = spec.get("serviceAccountName")
        if kind in ("HelmRelease", "Kustomization") and isinstance(account, str) and account:
            checks += [("spec.serviceAccountName", {"kind": "ServiceAccount", "name": account}, ("ServiceAccount",))]
        elif kind in ("HelmRelease", "Kustomization") and _namespace(obj) in tenants:
            problems.append(_no_identity(obj, file))
        for field, ref, kinds in checks:
            problems += _dangling(obj, file, field, ref, kinds, present, tenants)
    return problems


def _namespace(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def _name(obj: dict[str, Any]) -> Any:
    return (obj.get("metadata") or {}).get("name")


def _deps(spec: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(i, d) for i, d in enumerate(spec.get("dependsOn") or []) if isinstance(d, dict)]


def _dangling(
    obj: dict[str, Any],
    file: str,
    field: str,
    ref: Any,
    kinds: tuple[str, ...],
    present: set,
    tenants: set[str],
) -> list[RefProblem]:
    if not isinstance(ref, dict) or not ref.get("name"):
        return []  # absent, or malformed: the schema reports it
    kind, name = ref.get("kind"), ref["name"]
    namespace = ref.get("namespace") or _namespace(obj)
    if kind not in kinds:
        return []  # the schema's enum reports it
    out = []
    if (kind, namespace, name) not in present:
        out.append(
            RefProblem(
                file,
                object_ref(obj),
                f"{field}: {kind} {namespace}/{name} does not exist in this repo (Flux waits for it forever)",
            )
        )
    if namespace != _namespace(obj) and _namespace(obj) in tenants and not field.startswith("spec.dependsOn"):
        out.append(
            RefProblem(
                file,
                object_ref(obj),
                f"{field}: {kind} {namespace}/{name} is in another namespace, which Flux's multi-tenancy lockdown "
                "(--no-cross-namespace-refs) refuses; use the tenant's own source (`stratops tenant add`)",
                "warning",
            )
        )
    return out


def _no_identity(obj: dict[str, Any], file: str) -> RefProblem:
    namespace = _namespace(obj)
    return RefProblem(
        file,
        object_ref(obj),
        f"spec.serviceAccountName: unset, so under Flux's multi-tenancy lockdown (--default-service-account=default) "
        f"it is applied as ServiceAccount {namespace}/default, which may do nothing here; "
        "name the tenant's reconciler (`stratops-reconciler`)",
        "warning",
    )


def _escapes(obj: dict[str, Any], spec: dict[str, Any], file: str) -> list[RefProblem]:
    namespace, ref = _namespace(obj), object_ref(obj)
    out = []
    for field in ("targetNamespace", "storageNamespace"):
        target = spec.get(field)
        if target and target != namespace:
            out.append(
                RefProblem(
                    file,
                    ref,
                    f"spec.{field}: {target!r} escapes the tenant namespace {namespace!r} "
                    "(its policies and quota would not apply)",
                )
            )
    if spec.get("kubeConfig"):
        out.append(RefProblem(file, ref, "spec.kubeConfig: a tenant's release may not install into another cluster"))
    return out
