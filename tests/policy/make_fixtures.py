"""Write the `kyverno test` folders of policies/*/ from the realistic chart objects.

Run after changing a policy or the chart's pod spec:

    .venv/bin/python tests/policy/make_fixtures.py

Each folder gets resources.yaml (good and bad Pods, Deployments and CronJobs),
values.yaml (Namespace objects for namespaceObject) and kyverno-test.yaml. The files
are committed, so `kyverno test policies/` runs on them without this script.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
import policy_objects as o  # noqa: E402

ROOT = Path(__file__).resolve().parents[2] / "policies"
Spec = dict[str, Any]


class Case:
    """A named variant of the good pod: a mutation of its spec, labels or namespace."""

    def __init__(
        self,
        mutate: Callable[[Spec], None] | None = None,
        ns: str = o.TENANT,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.mutate, self.ns, self.labels = mutate, ns, labels

    def spec(self, persistent: bool) -> Spec:
        s = o.pod_spec(persistent=persistent)
        if self.mutate:
            self.mutate(s)
        return s


def ctr(s: Spec) -> Spec:
    return s["containers"][0]


def sc(s: Spec) -> Spec:
    return ctr(s)["securityContext"]


def setp(path: str, value: Any) -> Callable[[Spec], None]:
    """Set (or with value None, delete) a dotted path; "c." addresses the first container."""

    def mutate(s: Spec) -> None:
        keys = path.split(".")
        node = ctr(s) if keys[0] == "c" else s
        keys = keys[1:] if keys[0] == "c" else keys
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = copy.deepcopy(value)

    return mutate


def both(*fs: Callable[[Spec], None]) -> Callable[[Spec], None]:
    def mutate(s: Spec) -> None:
        for f in fs:
            f(s)

    return mutate


def add_container(**overrides: Any) -> Callable[[Spec], None]:
    def mutate(s: Spec) -> None:
        extra = copy.deepcopy(ctr(s))
        extra.update({"name": "sidecar", **overrides})
        extra.pop("ports", None)
        s["containers"].append(extra)

    return mutate


def add_init(**overrides: Any) -> Callable[[Spec], None]:
    def mutate(s: Spec) -> None:
        init = copy.deepcopy(ctr(s))
        init.update({"name": "init-state", **overrides})
        init.pop("ports", None)
        s["initContainers"] = [init]

    return mutate


def resources(cpu: Any, memory: Any, rcpu: Any = None, rmem: Any = None) -> dict[str, Any]:
    return {
        "requests": {"cpu": rcpu if rcpu is not None else cpu, "memory": rmem or memory},
        "limits": {"cpu": cpu, "memory": memory},
    }


def volume(v: dict[str, Any]) -> Callable[[Spec], None]:
    return lambda s: s["volumes"].append(v)


HOST_PATH = {"name": "host", "hostPath": {"path": "/var/run"}}
CASES: dict[str, tuple[list[Case], list[Case]]] = {
    "require-run-as-non-root": (
        [
            Case(both(setp("securityContext.runAsNonRoot", False), setp("c.securityContext.runAsNonRoot", None))),
            Case(setp("c.securityContext.runAsNonRoot", False)),
            Case(setp("c.securityContext.runAsUser", 0)),
        ],
        [Case(), Case(setp("c.securityContext.runAsNonRoot", None))],
    ),
    "disallow-privilege-escalation": (
        [
            Case(setp("c.securityContext.allowPrivilegeEscalation", True)),
            Case(setp("c.securityContext.allowPrivilegeEscalation", None)),
            Case(add_init(securityContext={"runAsNonRoot": True})),
        ],
        [Case(), Case(add_init())],
    ),
    "require-drop-all-capabilities": (
        [
            Case(setp("c.securityContext.capabilities", None)),
            Case(setp("c.securityContext.capabilities.drop", ["NET_RAW"])),
            Case(setp("c.securityContext.capabilities.add", ["NET_ADMIN"])),
        ],
        [Case(), Case(add_container())],
    ),
    "restrict-seccomp-profile": (
        [
            Case(setp("securityContext.seccompProfile", None)),
            Case(setp("c.securityContext.seccompProfile", {"type": "Unconfined"})),
        ],
        [
            Case(),
            Case(setp("securityContext.seccompProfile", {"type": "Localhost", "localhostProfile": "p.json"})),
            Case(
                both(
                    setp("securityContext.seccompProfile", None),
                    setp("c.securityContext.seccompProfile", {"type": "RuntimeDefault"}),
                )
            ),
        ],
    ),
    "require-read-only-root-filesystem": (
        [
            Case(setp("c.securityContext.readOnlyRootFilesystem", False)),
            Case(setp("c.securityContext.readOnlyRootFilesystem", None)),
            Case(add_container(securityContext={"allowPrivilegeEscalation": False})),
        ],
        [Case(), Case(add_container())],
    ),
    "disallow-host-access": (
        [
            Case(setp("hostNetwork", True)),
            Case(setp("hostPID", True)),
            Case(setp("hostIPC", True)),
            Case(setp("c.ports", [{"name": "http", "containerPort": 8080, "hostPort": 8080}])),
            Case(volume(HOST_PATH)),
            Case(setp("c.securityContext.privileged", True)),
        ],
        [Case(), Case(both(setp("hostNetwork", False), setp("c.securityContext.privileged", False)))],
    ),
    "restrict-volume-types": (
        [
            Case(volume(HOST_PATH)),
            Case(volume({"name": "nfs", "nfs": {"server": "nfs.local", "path": "/x"}})),
            Case(volume({"name": "csi", "csi": {"driver": "secrets-store.csi.k8s.io"}})),
        ],
        [
            Case(),
            Case(
                both(
                    volume({"name": "s", "secret": {"secretName": "x"}}),
                    volume({"name": "p", "projected": {"sources": []}}),
                    volume({"name": "d", "downwardAPI": {"items": []}}),
                )
            ),
        ],
    ),
    "require-resources-within-caps": (
        [
            Case(setp("c.resources.requests", None)),
            Case(setp("c.resources.limits.memory", None)),
            Case(setp("c.resources", resources("500m", "256Mi", rcpu="250m"))),
            Case(setp("c.resources", resources("3", "256Mi"))),
            Case(setp("c.resources", resources("500m", "8Gi"))),
            Case(
                both(
                    setp("c.resources", resources("1500m", "1Gi")),
                    add_container(resources=resources(1, "1Gi")),
                )
            ),
            Case(ns="nocaps"),
            Case(ns="tight"),
        ],
        [
            Case(),
            Case(setp("c.resources", resources(2, "4Gi"))),
            Case(
                both(
                    setp("c.resources", resources("1500m", "2Gi")),
                    add_container(resources=resources("0.5", "2048Mi")),
                )
            ),
            Case(add_init(resources=resources("2", "4Gi"))),
        ],
    ),
    "restrict-image-registries": (
        [
            Case(setp("c.image", "docker.io/library/python:3.12")),
            Case(setp("c.image", "ghcr.io/other/executor:0.1.0")),
            Case(setp("c.image", "ghcr.io/stratops-evil/executor:0.1.0")),
            Case(add_init(image="busybox:1.36")),
        ],
        [Case(), Case(setp("c.image", "ghcr.io/stratops/executor@sha256:" + "a" * 64))],
    ),
    "disallow-service-account-token": (
        [Case(setp("automountServiceAccountToken", None)), Case(setp("automountServiceAccountToken", True))],
        [Case()],
    ),
    "require-tenant-label": (
        [
            Case(labels={k: v for k, v in o.labels().items() if k != "stratops.io/tenant"}),
            Case(labels=o.labels(tenant="bob")),
        ],
        [Case(), Case(ns="bob", labels=o.labels(tenant="bob"))],
    ),
    "disallow-default-namespace": (
        [Case(ns="default"), Case(ns="")],
        [Case(), Case(ns="platform")],
    ),
}
# A bad pod outside tenant namespaces is not matched by the tenant policies (namespaceSelector).
NOT_TENANT = "platform"


def values() -> dict[str, Any]:
    return {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Values",
        "metadata": {"name": "values"},
        "namespaces": [
            o.namespace(),
            o.namespace("bob", "bob"),
            o.namespace("tight", "tight", max_cpu="100m", max_memory="128Mi"),
            o.namespace("nocaps", "nocaps", max_cpu=None, max_memory=None),
            o.namespace(NOT_TENANT, None, None, None),
            o.namespace("default", None, None, None),
        ],
    }


BUILDERS = {"pod": o.pod, "deployment": o.deployment, "cronjob": o.cronjob}
KINDS = {"pod": "Pod", "deployment": "Deployment", "cronjob": "CronJob"}


def build(kind: str, name: str, case: Case) -> dict[str, Any]:
    tenant = case.ns if case.ns in ("bob", "tight", "nocaps") else o.TENANT
    pod_labels = case.labels if case.labels is not None else o.labels(tenant=tenant)
    obj = BUILDERS[kind](name, case.ns or "x", case.spec(persistent=kind != "cronjob"), pod_labels)
    if not case.ns:
        del obj["metadata"]["namespace"]  # kyverno test puts it in `default`
    return obj


def folder(policy: str, bad: list[Case], good: list[Case]) -> None:
    docs, results = [], []
    for kind in BUILDERS:
        for label, cases, want in (("bad", bad, "fail"), ("good", good, "pass")):
            names = [f"{label}{kind}{i + 1:02d}" for i in range(len(cases))]
            docs += [build(kind, n, c) for n, c in zip(names, cases, strict=True)]
            results.append(
                {
                    "policy": policy,
                    "isValidatingPolicy": True,
                    "kind": KINDS[kind],
                    "resources": names,
                    "result": want,
                }
            )
        if policy != "disallow-default-namespace":
            name = f"other{kind}01"
            docs.append(build(kind, name, Case(bad[0].mutate, ns=NOT_TENANT, labels=bad[0].labels)))
            results.append(
                {
                    "policy": policy,
                    "isValidatingPolicy": True,
                    "kind": KINDS[kind],
                    "resources": [name],
                    "result": "skip",
                }
            )
    test = {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Test",
        "metadata": {"name": policy},
        "policies": [f"../{policy}.yaml"],
        "resources": ["resources.yaml"],
        "variables": "values.yaml",
        "results": results,
    }
    out = ROOT / policy / ".kyverno-test"
    out.mkdir(parents=True, exist_ok=True)
    dump = {"sort_keys": False, "default_flow_style": False}
    (out / "resources.yaml").write_text(yaml.safe_dump_all(docs, **dump))
    (out / "values.yaml").write_text(yaml.safe_dump(values(), **dump))
    (out / "kyverno-test.yaml").write_text(yaml.safe_dump(test, **dump))


def main() -> None:
    for policy, (bad, good) in CASES.items():
        folder(policy, bad, good)


if __name__ == "__main__":
    main()
