"""Tenants in the fleet repo: their namespace (labels, caps), quota, limits, network, and the policies.

A tenant is the folder infrastructure/tenants/<tenant>/: namespace.yaml (Pod
Security Admission `restricted`, the tenant label, and the caps as annotations:
`stratops.io/max-cpu` and `stratops.io/max-memory` per strategy — read by the spec
check and the cluster policies — and `stratops.io/max-strategies`),
resourcequota.yaml (the tenant's total CPU and memory), limitrange.yaml,
networkpolicy.yaml (deny everything but egress to the feed, the sink and DNS),
and what Flux's multi-tenancy lockdown needs (`--no-cross-namespace-refs`,
`--default-service-account`): reconciler.yaml, the ServiceAccount the tenant's
HelmReleases run as with a RoleBinding to the `admin` ClusterRole in the namespace
only, and source.yaml, a GitRepository of the fleet repo (charts only) in the
namespace, which the HelmReleases take their chart from.
A deploy is refused when the tenant's strategies would exceed the quota or the count.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import git
import yaml

from . import fleet as fleet_mod
from . import layout
from .errors import Problem, UserError
from .fleet import MAIN_BRANCH, Fleet
from .fleet_source import FleetSource, fleet_source
from .policy import PolicySet, load_policies
from .render import SPEC_FILE, STRATEGIES_DIR
from .review_rules import ReviewRules, rules_of
from .spec import Caps, quantity
from .yamlio import load_one

if TYPE_CHECKING:
    from .actions import Outcome

TENANT_LABEL = "stratops.io/tenant"
MAX_CPU = "stratops.io/max-cpu"
MAX_MEMORY = "stratops.io/max-memory"
MAX_STRATEGIES = "stratops.io/max-strategies"
QUOTA_NAME = "tenant-quota"
QUOTA_FILE = "resourcequota.yaml"
RECONCILER = "stratops-reconciler"  # the ServiceAccount a tenant's HelmReleases are applied as
CHART_SOURCE = "stratops-fleet"  # the tenant's GitRepository of the fleet repo


def tenant_dir(tenant: str) -> PurePosixPath:
    return PurePosixPath(layout.TENANTS_DIR, tenant)


def namespace_path(tenant: str) -> str:
    return f"{tenant_dir(tenant)}/namespace.yaml"


def default_namespace(tenant: str, caps: Caps | None = None) -> dict[str, Any]:
    """A tenant namespace as `stratops tenant add` writes it, with the default caps."""
    caps = caps or Caps()
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": tenant,
            "labels": {TENANT_LABEL: tenant, "pod-security.kubernetes.io/enforce": "restricted"},
            "annotations": {MAX_CPU: caps.max_cpu, MAX_MEMORY: caps.max_memory},
        },
    }


def tenant_namespace(fleet: Fleet, tenant: str, rev: str = MAIN_BRANCH) -> dict[str, Any]:
    data = fleet.read_file(namespace_path(tenant), rev)
    if data is None:
        return default_namespace(tenant)
    doc = load_one(data.decode(), namespace_path(tenant))
    return doc if isinstance(doc, dict) else default_namespace(tenant)


def tenant_caps(fleet: Fleet, tenant: str) -> Caps:
    annotations = (tenant_namespace(fleet, tenant).get("metadata") or {}).get("annotations") or {}
    defaults = Caps()
    return Caps(
        max_cpu=str(annotations.get(MAX_CPU, defaults.max_cpu)),
        max_memory=str(annotations.get(MAX_MEMORY, defaults.max_memory)),
    )


def review_rules(fleet: Fleet, tenant: str, rev: str = MAIN_BRANCH) -> ReviewRules:
    """How many approvals a review of `tenant` needs and from whom (generator.review_rules)."""
    return rules_of(tenant_namespace(fleet, tenant, rev))


def fleet_policies(fleet: Fleet, rev: str = MAIN_BRANCH):
    """The fleet's policies/ as a loaded PolicySet (None if the fleet has none)."""
    root = fleet_mod.materialize(fleet, "policies", rev)
    return _load_policies(str(root / "policies")) if root else None


@lru_cache(maxsize=8)
def _load_policies(directory: str) -> PolicySet:
    """Keyed by the materialized tree's path, which names its git tree id: a cache hit is the same content."""
    return load_policies([Path(directory)])


# --- tenant add / list / remove ---------------------------------------------------------


def add_tenant(
    fleet: Fleet,
    name: str,
    cpu: str,
    memory: str,
    max_strategies: int,
    author: git.Actor,
    max_strategy_cpu: str | None = None,
    max_strategy_memory: str | None = None,
    push: bool = True,
    rules: ReviewRules | None = None,
) -> Outcome:
    """Create (or change) a tenant: one commit writing infrastructure/tenants/<name>/.

    `rules` are its review rules; None keeps those it has (a new tenant: the default rules).
    """
    from .actions import check_label

    check_label(name, "tenant")
    _check_amounts(cpu, memory, max_strategies, max_strategy_cpu, max_strategy_memory)
    defaults = Caps()
    per_cpu = max_strategy_cpu or _smaller(cpu, defaults.max_cpu)
    per_memory = max_strategy_memory or _smaller(memory, defaults.max_memory)
    _check_usage(fleet, name, cpu, memory, max_strategies, per_cpu, per_memory)
    if name == layout.SYSTEM_NAMESPACE or name.startswith("kube-") or name in ("default", layout.FLUX_NAMESPACE):
        raise UserError("reserved tenant name", [Problem("tenant", name, "pick a name that is not a system namespace")])
    source = known_source(fleet)
    current = fleet.read_folder(tenant_dir(name))
    rules = rules or review_rules(fleet, name)
    files = tenant_files(name, cpu, memory, max_strategies, per_cpu, per_memory, source, rules)
    verb = "change" if current else "add"
    body = f"Quota cpu={cpu} memory={memory}, at most {max_strategies} strategies of cpu={per_cpu} memory={per_memory}."
    body += f" Reviews need {rules.describe()}."

    outcome = _commit(fleet, name, files, author, f"tenant {verb} {name}", body, push)
    if source is None:
        outcome.warnings.append(NO_SOURCE_YET)
    return outcome


def set_review_rules(
    fleet: Fleet,
    name: str,
    author: git.Actor,
    approvals: int | None = None,
    approvers: tuple[str, ...] | None | str = "keep",
    push: bool = True,
) -> Outcome:
    """Change a tenant's review rules only (its namespace's annotations), in one commit."""
    from .actions import check_label

    check_label(name, "tenant")
    files = fleet.read_folder(tenant_dir(name))
    if files is None or "namespace.yaml" not in files:
        raise UserError(f"no tenant {name}", [Problem("tenant", name, "add it first with `stratops tenant add`")])
    current = review_rules(fleet, name)
    rules = ReviewRules(
        current.approvals if approvals is None else approvals,
        current.approvers if approvers == "keep" else approvers,  # type: ignore[arg-type]
    )
    namespace = tenant_namespace(fleet, name)
    metadata = namespace.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **rules.annotations()}
    header = files["namespace.yaml"].split(b"\n", 1)[0].decode() + "\n"
    changed = {**files, "namespace.yaml": (header + layout.dump_yaml(namespace)).encode()}
    body = f"Reviews need {rules.describe()}."
    return _commit(fleet, name, changed, author, f"tenant review-rules {name}", body, push)


def remove_tenant(fleet: Fleet, name: str, author: git.Actor, force: bool = False, push: bool = True) -> Outcome:
    """Remove a tenant; refused while it has strategies, unless `force` (which stops them in the same commit)."""
    from .actions import check_label

    check_label(name, "tenant")
    if fleet.read_folder(tenant_dir(name)) is None:
        raise UserError(f"no tenant {name}", [Problem("tenant", name, "see `stratops tenant list`")])
    strategies = fleet.list_folders(f"{STRATEGIES_DIR}/{name}", 1)
    if strategies and not force:
        names = ", ".join(f.name for f in strategies)
        raise UserError(
            f"tenant {name} still has {len(strategies)} strategies",
            [Problem("tenant", f"{name} runs {names}", "stop them first, or pass --force to remove them too")],
        )
    body = "Tenant removed" + (f" with its strategies: {', '.join(f.name for f in strategies)}." if strategies else ".")
    changes: dict[PurePosixPath, dict[str, bytes] | None] = {f: None for f in strategies}
    return _commit(fleet, name, None, author, f"tenant remove {name}", body, push, changes)


def list_tenants(fleet: Fleet, rev: str = MAIN_BRANCH) -> list[dict[str, Any]]:
    rows = []
    for folder in fleet.list_folders(layout.TENANTS_DIR, 1, rev):
        quota = tenant_quota(fleet, folder.name, rev)
        annotations = (tenant_namespace(fleet, folder.name, rev).get("metadata") or {}).get("annotations") or {}
        used_cpu, used_memory, count = _usage(fleet, folder.name, rev)
        rows.append(
            {
                "name": folder.name,
                "cpu": quota.get("requests.cpu"),
                "memory": quota.get("requests.memory"),
                "max_strategies": _int(annotations.get(MAX_STRATEGIES)),
                "max_strategy_cpu": annotations.get(MAX_CPU),
                "max_strategy_memory": annotations.get(MAX_MEMORY),
                "strategies": count,
                "used_cpu": cpu_text(used_cpu),
                "used_memory": memory_text(used_memory),
                "review": rules_of(tenant_namespace(fleet, folder.name, rev)).as_json(),
            }
        )
    return rows


NO_SOURCE_YET = (
    "No chart source yet: where Flux fetches the fleet repo from is unknown. Flux bootstrap (or "
    "`stratops cluster up`) adds it to every tenant; or give it: `stratops init --source-url`."
)


def known_source(fleet: Fleet) -> FleetSource | None:
    try:
        return fleet_source(fleet)
    except UserError:
        return None


def with_chart_source(files: dict[str, bytes], source: FleetSource) -> dict[str, bytes]:
    """A tenant folder's files with its chart source (source.yaml) set to `source`."""
    header = files.get("namespace.yaml", b"").split(b"\n", 1)[0].decode() + "\n"
    out = dict(files)
    out["source.yaml"] = (header + layout.dump_yaml(_chart_source(source))).encode()
    kust = yaml.safe_load(files["kustomization.yaml"]) if "kustomization.yaml" in files else None
    if isinstance(kust, dict) and "source.yaml" not in (kust.get("resources") or []):
        out["kustomization.yaml"] = layout.kustomization(
            [*kust.get("resources", []), "source.yaml"], kust.get("namespace")
        )
    return out


def chart_source_changes(fleet: Fleet, source: FleetSource) -> dict[PurePosixPath, dict[str, bytes]]:
    """Every tenant folder whose chart source differs from `source`, rewritten (for flux bootstrap's commit)."""
    changes = {}
    for folder in fleet.list_folders(layout.TENANTS_DIR, 1):
        files = fleet.read_folder(folder) or {}
        updated = with_chart_source(files, source)
        if updated != files:
            changes[folder] = updated
    return changes


def tenant_files(
    name: str,
    cpu: str,
    memory: str,
    max_strategies: int,
    per_cpu: str,
    per_memory: str,
    source: FleetSource | None,
    rules: ReviewRules | None = None,
) -> dict[str, bytes]:
    """The tenant's folder; without a known `source` (Flux not bootstrapped yet) no source.yaml."""
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {TENANT_LABEL: name, "toolkit.fluxcd.io/tenant": name, **layout.RESTRICTED_PSA},
            "annotations": {
                MAX_CPU: per_cpu,
                MAX_MEMORY: per_memory,
                MAX_STRATEGIES: str(max_strategies),
                **(rules or ReviewRules()).annotations(),
            },
        },
    }
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME},
        "spec": {
            "hard": {
                "requests.cpu": cpu,
                "limits.cpu": cpu,
                "requests.memory": memory,
                "limits.memory": memory,
                # Strategies run one pod each and redeploy with Recreate, so pods never exceed strategies.
                "pods": str(max_strategies),
                "persistentvolumeclaims": str(max_strategies),
            }
        },
    }
    floor = Caps()
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "tenant-limits"},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "max": {"cpu": per_cpu, "memory": per_memory},
                    "min": {"cpu": floor.min_cpu, "memory": floor.min_memory},
                    "default": {"cpu": floor.min_cpu, "memory": floor.min_memory},
                    "defaultRequest": {"cpu": floor.min_cpu, "memory": floor.min_memory},
                }
            ]
        },
    }
    header = f"# Tenant {name}: written by `stratops tenant add`.\n"
    files = {
        "kustomization.yaml": layout.kustomization(
            ["namespace.yaml", QUOTA_FILE, "limitrange.yaml", "networkpolicy.yaml", "reconciler.yaml"], name
        ),
        "reconciler.yaml": layout.dump_all(_reconciler(name), header),
        "namespace.yaml": (header + layout.dump_yaml(namespace)).encode(),
        QUOTA_FILE: (header + layout.dump_yaml(quota)).encode(),
        "limitrange.yaml": (header + layout.dump_yaml(limits)).encode(),
        "networkpolicy.yaml": layout.dump_all(_network_policies(), header),
    }
    return with_chart_source(files, source) if source else files


def _reconciler(name: str) -> list[dict[str, Any]]:
    """The identity helm-controller applies the tenant's releases as: admin of this namespace, nothing else."""
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": RECONCILER}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": RECONCILER},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": RECONCILER, "namespace": name}],
    }
    return [account, binding]


def _chart_source(source: FleetSource) -> dict[str, Any]:
    """The fleet repo as a source in the tenant's namespace; only charts/ goes into its artifact."""
    spec: dict[str, Any] = {
        "interval": "10m",
        "url": source.url,
        "ref": {"branch": MAIN_BRANCH},
        "ignore": "/*\n!/charts/\n",
    }
    if source.secret:
        spec["secretRef"] = {"name": source.secret}
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": CHART_SOURCE},
        "spec": spec,
    }


def _network_policies() -> list[dict[str, Any]]:
    """Deny all traffic in the namespace, then allow egress to the feed, the sink and cluster DNS."""
    system = {"kubernetes.io/metadata.name": layout.SYSTEM_NAMESPACE}
    egress = [
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": system},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": c["name"]}},
                }
            ],
            "ports": [{"port": c["port"], "protocol": "TCP"}],
        }
        for c in (layout.FEED, layout.SINK)
    ]
    egress.append(
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    )
    deny = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    allow = {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress}
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": n}, "spec": spec}
        for n, spec in (("default-deny-all", deny), ("allow-feed-sink-dns", allow))
    ]


def _commit(
    fleet: Fleet,
    name: str,
    files: dict[str, bytes] | None,
    author: git.Actor,
    subject: str,
    body: str,
    push: bool,
    extra: dict[PurePosixPath, dict[str, bytes] | None] | None = None,
) -> Outcome:
    from .actions import Outcome, push_outcome

    message = f"{subject}\n\n{body}\n\nTenant: {name}\nAction: {subject.split()[1]}-tenant\n"
    with fleet.lock():
        sha = fleet.commit_folders({tenant_dir(name): files, **(extra or {})}, message, author)
    outcome = Outcome(
        "tenant", name, sha, message=subject if sha else f"tenant {name} already matches; nothing to commit"
    )
    return push_outcome(fleet, outcome, push) if sha else outcome


# --- quota --------------------------------------------------------------------------------


def tenant_quota(fleet: Fleet, tenant: str, rev: str = MAIN_BRANCH) -> dict[str, str]:
    """The tenant's ResourceQuota `hard` amounts ({} when the tenant has no quota file)."""
    data = fleet.read_file(f"{tenant_dir(tenant)}/{QUOTA_FILE}", rev)
    doc = load_one(data.decode(), f"{tenant_dir(tenant)}/{QUOTA_FILE}") if data else None
    hard = ((doc or {}).get("spec") or {}).get("hard") if isinstance(doc, dict) else None
    return {str(k): str(v) for k, v in (hard or {}).items()}


def require_tenant(fleet: Fleet, tenant: str, rev: str = MAIN_BRANCH) -> None:
    """A strategy goes only to a tenant the fleet defines: its namespace, quota and policies must exist."""
    if fleet.read_file(namespace_path(tenant), rev) is None:
        raise UserError(
            f"no tenant {tenant} in the fleet",
            [
                Problem(
                    "metadata.tenant",
                    f"{tenant!r} was never added (no {tenant_dir(tenant)}/): its namespace would not exist",
                    f"add it first: `stratops tenant add {tenant} --cpu 4 --memory 8Gi`",
                )
            ],
        )


def quota_problems(
    fleet: Fleet, tenant: str, name: str, resources: dict[str, Any], rev: str = MAIN_BRANCH
) -> list[Problem]:
    """Would deploying `name` with `resources` take the tenant over its quota or strategy count?"""
    quota = tenant_quota(fleet, tenant, rev)
    annotations = (tenant_namespace(fleet, tenant, rev).get("metadata") or {}).get("annotations") or {}
    limit = _int(annotations.get(MAX_STRATEGIES))
    if not quota and limit is None:
        return []  # a tenant never added with `stratops tenant add` has no quota to keep
    cpu, memory, count = _usage(fleet, tenant, rev, skip=name)
    problems = []
    if limit is not None and count + 1 > limit:
        problems.append(
            Problem(
                f"tenant {tenant}",
                f"{count} strategies deployed + {name} = {count + 1} > max-strategies {limit}",
                "stop a strategy or raise the limit with `stratops tenant add`",
            )
        )
    new_cpu, new_memory = quantity(str(resources.get("cpu", "0"))), quantity(str(resources.get("memory", "0")))
    for key, used, new, text in (
        ("requests.cpu", cpu, new_cpu, cpu_text),
        ("requests.memory", memory, new_memory, memory_text),
    ):
        hard = quantity(quota[key]) if key in quota else None
        if hard is not None and new is not None and used + new > hard:
            problems.append(
                Problem(
                    f"tenant {tenant} ResourceQuota {key}",
                    f"{text(used)} used by {count} other strategies + {text(new)} for {name} = "
                    f"{text(used + new)} > quota {quota[key]}",
                    "ask for less, stop a strategy, or raise the quota with `stratops tenant add`",
                )
            )
    return problems


def _usage(fleet: Fleet, tenant: str, rev: str, skip: str | None = None) -> tuple[Decimal, Decimal, int]:
    """Sum of CPU and memory requests and the number of the tenant's strategies (except `skip`)."""
    cpu = memory = Decimal(0)
    count = 0
    for folder in fleet.list_folders(f"{STRATEGIES_DIR}/{tenant}", 1, rev):
        if folder.name == skip:
            continue
        count += 1
        data = fleet.read_file(f"{folder}/{SPEC_FILE}", rev)
        doc = load_one(data.decode(), f"{folder}/{SPEC_FILE}") if data else None
        res = ((doc or {}).get("spec") or {}).get("resources") or {} if isinstance(doc, dict) else {}
        cpu += quantity(str(res.get("cpu", "0"))) or 0
        memory += quantity(str(res.get("memory", "0"))) or 0
    return cpu, memory, count


def _check_amounts(cpu: str, memory: str, max_strategies: int, per_cpu: str | None, per_memory: str | None) -> None:
    """The flags as given: only a flag the user passed is blamed (the per-strategy caps default to the quota)."""
    floor = Caps()
    problems = []
    for flag, value, least, example in (
        ("--cpu", cpu, floor.min_cpu, "4 or 500m"),
        ("--memory", memory, floor.min_memory, "8Gi or 512Mi"),
        ("--max-strategy-cpu", per_cpu, floor.min_cpu, "2 or 500m"),
        ("--max-strategy-memory", per_memory, floor.min_memory, "4Gi or 512Mi"),
    ):
        amount = None if value is None else quantity(value)
        if value is None:
            continue
        if amount is None:
            problems.append(Problem(flag, f"{value!r} is not a Kubernetes quantity", f"write e.g. {example}"))
        elif amount <= 0:
            problems.append(Problem(flag, f"{value} is not a positive amount", f"write e.g. {example}"))
        elif amount < quantity(least):
            problems.append(
                Problem(
                    flag, f"{value} is less than one strategy needs at the least ({least})", f"give at least {least}"
                )
            )
    if not problems:
        for flag, per, total in (("--max-strategy-cpu", per_cpu, cpu), ("--max-strategy-memory", per_memory, memory)):
            if per is not None and quantity(per) > quantity(total):
                problems.append(Problem(flag, f"{per} is more than the whole quota {total}", f"give at most {total}"))
    if not isinstance(max_strategies, int) or max_strategies < 1:
        problems.append(Problem("--max-strategies", repr(max_strategies), "give a whole number of at least 1"))
    if problems:
        raise UserError("invalid tenant quota", problems)


def _check_usage(
    fleet: Fleet, tenant: str, cpu: str, memory: str, max_strategies: int, per_cpu: str, per_memory: str
) -> None:
    """A changed quota must still hold what the tenant's strategies use: nothing is taken away silently."""
    used_cpu, used_memory, count = _usage(fleet, tenant, MAIN_BRANCH)
    if not count:
        return
    problems = []
    for flag, used, limit, text in (("--cpu", used_cpu, cpu, cpu_text), ("--memory", used_memory, memory, memory_text)):
        if used > quantity(limit):
            problems.append(
                Problem(
                    flag, f"{limit} < {text(used)} that its {count} strategies request", f"give at least {text(used)}"
                )
            )
    if count > max_strategies:
        problems.append(
            Problem("--max-strategies", f"{max_strategies} < the {count} strategies it runs", f"give at least {count}")
        )
    for flag, key, cap, text in (
        ("--max-strategy-cpu", "cpu", per_cpu, cpu_text),
        ("--max-strategy-memory", "memory", per_memory, memory_text),
    ):
        over = [(n, amount) for n, amount in _requests(fleet, tenant, key) if amount > quantity(cap)]
        if over:
            names = ", ".join(f"{n} ({text(amount)})" for n, amount in over)
            problems.append(Problem(flag, f"{cap} is less than {names} request", "lower those strategies first"))
    if problems:
        raise UserError(f"the new quota of tenant {tenant} is below what its strategies use", problems)


def _requests(fleet: Fleet, tenant: str, key: str) -> list[tuple[str, Decimal]]:
    """(strategy, amount of `key` it requests) for each strategy of the tenant on main."""
    out = []
    for folder in fleet.list_folders(f"{STRATEGIES_DIR}/{tenant}", 1):
        data = fleet.read_file(f"{folder}/{SPEC_FILE}")
        doc = load_one(data.decode(), f"{folder}/{SPEC_FILE}") if data else None
        res = ((doc or {}).get("spec") or {}).get("resources") or {} if isinstance(doc, dict) else {}
        out.append((folder.name, quantity(str(res.get(key, "0"))) or Decimal(0)))
    return out


def _smaller(a: str, b: str) -> str:
    qa, qb = quantity(a), quantity(b)
    return a if qa is None or qb is None or qa <= qb else b


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def cpu_text(amount: Decimal) -> str:
    return f"{(amount * 1000).normalize():f}m"


def memory_text(amount: Decimal) -> str:
    return f"{(amount / 2**20).quantize(Decimal('0.01')).normalize():f}Mi"
