"""Random workloads and CEL programs for the differential test against `kyverno apply`.

Workloads are Pods shaped like real ones (containers, init containers, security contexts,
resources with odd quantities, labels, annotations, volumes) with the irregularities admission
sees: missing fields, explicit nulls, empty lists, integers where doubles are expected. Each is
also wrapped in a Deployment and a CronJob, so the autogen copies are exercised.

Programs are validation expressions built from the constructs Kyverno's policy library uses:
`has()`, optional selection with `orValue`, macros and two-variable comprehensions, string and
list functions, quantities, image references, `cel.bind`, mixed int/double comparisons,
`orValue` on plain values, `transformList`/`transformMap`, lists `indexOf`, regex extraction.

`batch_policies` writes one ValidatingPolicy per program and `compare` runs `kyverno apply`
once on a whole batch (the CLI start-up dominates otherwise) and the offline engine on the same
files, returning the (policy, resource) pairs whose results differ.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from generator.policy import load_policies

# ---------------------------------------------------------------- workloads

NAMES = st.sampled_from(["app", "web", "sidecar", "init", "db", "x"])
IMAGES = st.sampled_from(
    [
        "ghcr.io/stratops/executor:1.2.3",
        "nginx",
        "nginx:1.27",
        "docker.io/library/busybox:latest",
        "registry.example.com:5000/team/app@sha256:" + "a" * 64,
        "localhost/app:dev",
        "ghcr.io/evil/miner",
    ]
)
QUANTITIES = st.sampled_from(["100m", "250m", "1", "2", "0.5", "1Gi", "512Mi", "1e3", "1500m", "128974848", "1.5"])
LABELS = st.dictionaries(
    st.sampled_from(["app", "env", "stratops.io/tenant", "team", "tier"]),
    st.sampled_from(["alice", "prod", "dev", "", "web"]),
    max_size=3,
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that is set, explicitly null, or (with the `None` marker dropped later) missing."""
    return st.one_of(value, st.just(None), st.just(_MISSING))


_MISSING = object()


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not _MISSING}
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not _MISSING]
    return value


security_contexts = st.fixed_dictionaries(
    {},
    optional={
        "runAsNonRoot": _maybe(st.booleans()),
        "runAsUser": _maybe(st.sampled_from([0, 1000, 65534])),
        "privileged": _maybe(st.booleans()),
        "allowPrivilegeEscalation": _maybe(st.booleans()),
        "readOnlyRootFilesystem": _maybe(st.booleans()),
        "capabilities": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "drop": st.lists(st.sampled_from(["ALL", "NET_RAW"]), max_size=2),
                    "add": st.lists(st.sampled_from(["NET_ADMIN", "SYS_TIME"]), max_size=1),
                },
            )
        ),
        "seccompProfile": _maybe(st.fixed_dictionaries({"type": st.sampled_from(["RuntimeDefault", "Unconfined"])})),
    },
)
resources = st.fixed_dictionaries(
    {},
    optional={
        "requests": st.dictionaries(st.sampled_from(["cpu", "memory"]), QUANTITIES, max_size=2),
        "limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), QUANTITIES, max_size=2),
    },
)
containers = st.fixed_dictionaries(
    {"name": NAMES, "image": IMAGES},
    optional={
        "securityContext": _maybe(security_contexts),
        "resources": _maybe(resources),
        "ports": st.lists(
            st.fixed_dictionaries(
                {"containerPort": st.sampled_from([80, 8080, 9090])},
                optional={"hostPort": st.sampled_from([0, 80, 8443])},
            ),
            max_size=2,
        ),
        "env": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["A", "B"]), "value": st.sampled_from(["1", ""])}),
            max_size=2,
        ),
    },
)
pod_specs = st.fixed_dictionaries(
    {"containers": st.lists(containers, min_size=1, max_size=3)},
    optional={
        "initContainers": _maybe(st.lists(containers, max_size=2)),
        "hostNetwork": _maybe(st.booleans()),
        "hostPID": st.booleans(),
        "automountServiceAccountToken": _maybe(st.booleans()),
        "securityContext": _maybe(security_contexts),
        "volumes": st.lists(
            st.one_of(
                st.fixed_dictionaries({"name": st.just("v"), "emptyDir": st.just({})}),
                st.fixed_dictionaries(
                    {"name": st.just("h"), "hostPath": st.fixed_dictionaries({"path": st.just("/etc")})}
                ),
                st.fixed_dictionaries(
                    {"name": st.just("c"), "configMap": st.fixed_dictionaries({"name": st.just("cm")})}
                ),
            ),
            max_size=2,
        ),
        "replicas_hint": st.integers(0, 3),  # not a Pod field: removed below, used as Deployment replicas
    },
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "labels": _maybe(LABELS),
        "annotations": _maybe(st.dictionaries(st.sampled_from(["a", "b/c"]), st.sampled_from(["x", "1"]), max_size=2)),
    },
)


@st.composite
def workloads(draw: st.DrawFn, index: int) -> list[dict[str, Any]]:
    """A Pod and the Deployment and CronJob carrying the same pod template."""
    spec = _clean(draw(pod_specs))
    replicas = spec.pop("replicas_hint", 1)
    meta = _clean(draw(metadata))
    name = f"w{index}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-pod", "namespace": "alice", **meta},
        "spec": spec,
    }
    template = {"metadata": meta, "spec": spec}
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{name}-deploy", "namespace": "alice"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
    }
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": f"{name}-cron", "namespace": "alice"},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}},
    }
    return [pod, deploy, cron]


# ---------------------------------------------------------------- programs

_CONTAINER_PREDICATES = [
    "has(c.securityContext) && c.securityContext.?privileged.orValue(false) == false",
    "c.?securityContext.?allowPrivilegeEscalation.orValue(true) == false",
    "c.?securityContext.?capabilities.?drop.orValue([]).exists(d, d == 'ALL')",
    "c.image.startsWith('ghcr.io/stratops/')",
    "image(c.image).registry() == 'ghcr.io'",
    "parseImageReference(c.image).tag() != 'latest'",
    "isImage(c.image)",
    "c.name.matches('^[a-z]+$')",
    "c.?resources.?limits.?cpu.orValue('0') != '0'",
    "quantity(c.?resources.?limits.?memory.orValue('0')).compareTo(quantity('1Gi')) <= 0",
    "isQuantity(c.?resources.?requests.?cpu.orValue('x'))",
    "c.?ports.orValue([]).all(p, p.?hostPort.orValue(0) == 0)",
    "c.?ports.orValue([]).all(p, p.containerPort > 1000.0)",
    "c.?ports.orValue([]).all(p, p.containerPort < 9000)",
    "size(c.?env.orValue([])) <= 1",
    "c.?env.orValue([]).map(e, e.name).indexOf('B') < 0",
    "c.?securityContext.?runAsUser.orValue(1) != 0",
    "c.resources.orValue({}).size() >= 0",
    "c.?securityContext.orValue({}) == null || true",
    "c.image.split(':').size() == 2",
    "c.image.lowerAscii() == c.image",
    "regex.extract(c.image, '[0-9]+').orValue('') != '1'",
    "c.image.findAll('[a-z]+').size() > 1",
]
_POD_PREDICATES = [
    "object.spec.?hostNetwork.orValue(false) == false",
    "!has(object.spec.hostNetwork) || object.spec.hostNetwork == false",
    "object.spec.?automountServiceAccountToken.orValue(true) == false",
    "object.spec.?volumes.orValue([]).all(v, !has(v.hostPath))",
    "object.spec.?volumes.orValue([]).map(v, v.name).indexOf('h') == -1",
    "object.metadata.?labels[?'app'].orValue('') != ''",
    "'stratops.io/tenant' in object.metadata.?labels.orValue({})",
    "object.metadata.?annotations.orValue({}).all(k, v, k != 'a' || v == 'x')",
    "object.metadata.?labels.orValue({}).transformMap(k, v, v.size()).all(k, n, n >= 0)",
    "object.spec.containers.all(i, c, i >= 0 && c.name != '')",
    "object.spec.containers.transformList(i, c, c.name).size() == size(object.spec.containers)",
    "size(object.spec.containers) < 3",
    "object.spec.containers.exists_one(c, c.name == 'app')",
    "object.spec.containers.map(c, c.image).filter(i, i.contains('nginx')).size() == 0",
    "sets.contains(['app', 'web', 'sidecar', 'init', 'db', 'x'], object.spec.containers.map(c, c.name))",
    "object.spec.?securityContext.?runAsNonRoot.orValue(false)"
    " || object.spec.containers.all(c, c.?securityContext.?runAsNonRoot.orValue(false))",
    "object.spec.?hostPID.orValue(false) == false",
    "object.metadata.labels.orValue({}).size() < 3",
    "object.spec.containers.map(c, c.?resources.?limits.?cpu.orValue('0')).all(q, isQuantity(q))",
    "math.round(2.5) == 3.0",
    "object.spec.containers.size() >= 1.0",
    "object.spec.?volumes.orValue([]).size() + 1 > 0.5",
]
_COMBINATORS = [
    "object.spec.containers.all(c, {p})",
    "object.spec.containers.exists(c, {p})",
    "(object.spec.containers + object.spec.?initContainers.orValue([])).all(c, {p})",
    "cel.bind(cs, object.spec.containers, cs.all(c, {p}))",
    "object.spec.?initContainers.orValue([]).all(c, {p})",
]


@st.composite
def programs(draw: st.DrawFn) -> str:
    """One boolean validation expression."""
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return draw(st.sampled_from(_POD_PREDICATES))
    combinator = draw(st.sampled_from(_COMBINATORS))
    predicate = draw(st.sampled_from(_CONTAINER_PREDICATES))
    if shape == 3:
        other = draw(st.sampled_from(_CONTAINER_PREDICATES))
        predicate = f"({predicate}) {draw(st.sampled_from(['&&', '||']))} ({other})"
    expr = combinator.replace("{p}", predicate)
    if shape == 2:
        expr = f"({expr}) {draw(st.sampled_from(['&&', '||']))} ({draw(st.sampled_from(_POD_PREDICATES))})"
    return expr


# ---------------------------------------------------------------- batches


def draw_cases(n: int, seed: int | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """`n` programs and `n` workloads (3 objects each) from hypothesis; every program is evaluated
    on every object, so a batch holds 3 n² cases. No seed: derandomized (the same cases each run)."""
    expressions: list[str] = []
    objects: list[dict[str, Any]] = []

    @settings(
        max_examples=n,
        derandomize=seed is None,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(programs(), st.data())
    def collect(expression: str, data: st.DataObject) -> None:
        expressions.append(expression)
        objects.extend(data.draw(workloads(len(objects) // 3)))

    if seed is not None:
        collect = hypothesis_seed(seed)(collect)
    collect()
    return expressions, objects


def policy_document(name: str, expression: str) -> dict[str, Any]:
    return {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "ValidatingPolicy",
        "metadata": {"name": name},
        "spec": {
            "validationActions": ["Deny"],
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["pods"],
                    }
                ]
            },
            "validations": [{"expression": expression, "message": "denied"}],
        },
    }


def write_batch(folder: Path, expressions: list[str], objects: list[dict[str, Any]]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    policies = folder / "policies.yaml"
    policies.write_text(
        yaml.safe_dump_all([policy_document(f"p{i}", e) for i, e in enumerate(expressions)], sort_keys=False)
    )
    resources = folder / "resources.yaml"
    resources.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return policies, resources


Key = tuple[str, str]  # (policy, "Kind/namespace/name")


def kyverno_results(kyverno: Path, policies: Path, resources: Path, values: Path | None = None) -> dict[Key, str]:
    """`kyverno apply` on a batch; results from its policy report (JSON)."""
    extra = ["--values-file", str(values)] if values else []
    proc = subprocess.run(
        [str(kyverno), "apply", str(policies), "--resource", str(resources), "--policy-report"]
        + ["--output-format", "json", *extra],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.stdout.find("{") < 0:
        raise AssertionError(f"kyverno apply printed no report:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return parse_report(proc.stdout)


def parse_report(stdout: str) -> dict[Key, str]:
    """Results of the policy report(s) `kyverno apply --policy-report --output-format json` prints."""
    out: dict[Key, str] = {}
    decoder = json.JSONDecoder()
    pos = stdout.find("{")
    while pos >= 0:
        report, end = decoder.raw_decode(stdout, pos)
        for r in report.get("results") or []:
            for res in r.get("resources") or []:
                out[(r["policy"], f"{res['kind']}/{res.get('namespace', '')}/{res['name']}")] = r["result"]
        pos = stdout.find("{", end)
    return out


def engine_results(policies: Path, resources: Path) -> dict[Key, str]:
    """The offline engine on the same files, loaded as the Kyverno CLI loads them."""
    pset = load_policies([policies], numbers_as_float=True)
    out: dict[Key, str] = {}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "alice"}}
    for obj in yaml.safe_load_all(resources.read_text()):
        meta = obj["metadata"]
        for r in pset.evaluate(obj, namespace):
            out[(r.policy, f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}")] = r.status
    return out


def compare(kyverno: Path, folder: Path, expressions: list[str], objects: list[dict[str, Any]]) -> list[str]:
    """Disagreements (one line each) between kyverno apply and the engine on one batch."""
    policies, resources = write_batch(folder, expressions, objects)
    want, got = kyverno_results(kyverno, policies, resources), engine_results(policies, resources)
    lines = []
    for key in sorted(set(want) | set(got)):
        if want.get(key) != got.get(key):
            index = int(key[0][1:])
            lines.append(f"{key[0]} on {key[1]}: kyverno {want.get(key)}, engine {got.get(key)}: {expressions[index]}")
    return lines
