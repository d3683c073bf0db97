"""Tenants: namespace, quota, limits, network; deploys over quota are refused with the numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator import actions, flux, kubeschema, tenants
from generator.errors import UserError
from generator.fleet import Fleet
from tests.gitops.gitops_helpers import run
from tests.support import AUTHOR, repo_fingerprint, write_spec


def _deploy(fleet: Fleet, spec_dir: Path, name: str, cpu: str = "250m", memory: str = "256Mi") -> actions.Outcome:
    spec = write_spec(spec_dir / name, name=name)
    spec.write_text(spec.read_text().replace("cpu: 250m, memory: 256Mi", f"cpu: {cpu}, memory: {memory}"))
    return actions.deploy(fleet, actions.load_strategy(fleet, spec), AUTHOR)


def test_add_writes_namespace_quota_limits_and_network_policies(fleet: Fleet):
    outcome = tenants.add_tenant(fleet, "alice", "4", "8Gi", 50, AUTHOR)
    assert outcome.commit and fleet.history("infrastructure/tenants/alice")[0].trailers["Tenant"] == "alice"
    folder = fleet.read_folder("infrastructure/tenants/alice")
    docs = [d for name in sorted(folder) if name != "kustomization.yaml" for d in yaml.safe_load_all(folder[name])]
    for doc in docs:
        assert (flux.validate(doc) if flux.is_flux(doc) else kubeschema.validate(doc)) == [], doc
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    ns = by_kind["Namespace"][0]["metadata"]
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["labels"]["stratops.io/tenant"] == "alice"
    assert ns["annotations"] == {
        "stratops.io/max-cpu": "2",
        "stratops.io/max-memory": "4Gi",
        "stratops.io/max-strategies": "50",
        "stratops.io/review-approvals": "1",  # the default review rules: one approval by any other user
        "stratops.io/review-approvers": "*",
    }
    assert by_kind["ResourceQuota"][0]["spec"]["hard"]["requests.cpu"] == "4"
    assert by_kind["LimitRange"][0]["spec"]["limits"][0]["max"] == {"cpu": "2", "memory": "4Gi"}
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind["NetworkPolicy"]}
    assert policies["default-deny-all"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ports = [p["port"] for rule in policies["allow-feed-sink-dns"]["egress"] for p in rule["ports"]]
    assert ports == [5556, 5557, 53, 53]
    # The spec check reads the caps of the new namespace.
    assert tenants.tenant_caps(fleet, "alice").max_cpu == "2"


def test_small_tenant_caps_default_to_its_quota(fleet: Fleet):
    tenants.add_tenant(fleet, "bob", "500m", "1Gi", 3, AUTHOR)
    assert tenants.tenant_caps(fleet, "bob").max_cpu == "500m"
    assert tenants.tenant_caps(fleet, "bob").max_memory == "1Gi"


def test_deploy_over_cpu_quota_is_refused_with_the_numbers(fleet: Fleet, spec_dir: Path):
    tenants.add_tenant(fleet, "alice", "1", "8Gi", 10, AUTHOR)
    _deploy(fleet, spec_dir, "one", cpu="500m")
    _deploy(fleet, spec_dir, "two", cpu="250m")
    before = repo_fingerprint(fleet.path)
    with pytest.raises(UserError) as err:
        _deploy(fleet, spec_dir, "three", cpu="500m")
    text = err.value.render()
    assert "would exceed the quota of tenant alice" in text
    assert "750m used by 2 other strategies + 500m for three = 1250m > quota 1" in text
    assert repo_fingerprint(fleet.path) == before
    # Redeploying an existing strategy counts its new request, not both.
    assert _deploy(fleet, spec_dir, "two", cpu="500m").commit


def test_deploy_over_memory_quota_and_count(fleet: Fleet, spec_dir: Path):
    tenants.add_tenant(fleet, "alice", "4", "512Mi", 1, AUTHOR)
    _deploy(fleet, spec_dir, "one", memory="256Mi")
    with pytest.raises(UserError) as err:
        _deploy(fleet, spec_dir, "two", memory="512Mi")
    text = err.value.render()
    assert "1 strategies deployed + two = 2 > max-strategies 1" in text
    assert "256Mi used by 1 other strategies + 512Mi for two = 768Mi > quota 512Mi" in text


def test_list_reports_usage(fleet: Fleet, spec_dir: Path):
    tenants.add_tenant(fleet, "alice", "4", "8Gi", 5, AUTHOR)
    tenants.add_tenant(fleet, "bob", "2", "2Gi", 2, AUTHOR)
    _deploy(fleet, spec_dir, "one", cpu="300m", memory="300Mi")
    rows = {r["name"]: r for r in tenants.list_tenants(fleet)}
    assert (rows["alice"]["strategies"], rows["alice"]["used_cpu"], rows["alice"]["used_memory"]) == (
        1,
        "300m",
        "300Mi",
    )
    assert (rows["bob"]["strategies"], rows["bob"]["cpu"], rows["bob"]["max_strategies"]) == (0, "2", 2)
    code, out = run("tenant", "list", "--repo", str(fleet.path))
    assert code == 0 and "alice\tstrategies 1/5\tcpu 300m/4" in out


def test_remove_refuses_while_strategies_exist_unless_forced(fleet: Fleet, spec_dir: Path):
    tenants.add_tenant(fleet, "alice", "4", "8Gi", 5, AUTHOR)
    _deploy(fleet, spec_dir, "one")
    code, out = run("tenant", "remove", "alice", "--repo", str(fleet.path), "--author", "A <a@example.com>")
    assert code == 2 and "tenant alice still has 1 strategies" in out and "--force" in out
    assert fleet.read_folder("infrastructure/tenants/alice") is not None
    code, out = run("tenant", "remove", "alice", "--force", "--repo", str(fleet.path), "--author", "A <a@b.c>")
    assert code == 0, out
    assert fleet.read_folder("infrastructure/tenants/alice") is None
    assert fleet.read_folder("strategies/alice/one") is None
    assert [t["name"] for t in tenants.list_tenants(fleet)] == ["bob"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["Alice", "--cpu", "1", "--memory", "1Gi"], "invalid tenant"),
        (["alice", "--cpu", "lots", "--memory", "1Gi"], "--cpu: 'lots' is not a Kubernetes quantity"),
        (["alice", "--cpu", "1", "--memory", "1Gi", "--max-strategies", "0"], "--max-strategies"),
        (["alice", "--cpu", "1", "--memory", "1Gi", "--max-strategy-cpu", "2"], "more than the whole quota 1"),
        (["alice", "--cpu", "1m", "--memory", "1Gi"], "--cpu: 1m is less than one strategy needs at the least (10m)"),
        (["alice", "--cpu", "-1", "--memory", "1Gi"], "--cpu: -1 is not a positive amount"),
        (["alice", "--cpu", "0", "--memory", "1Gi"], "--cpu: 0 is not a positive amount"),
        (["kube-system", "--cpu", "1", "--memory", "1Gi"], "reserved tenant name"),
        (["x/../y", "--cpu", "1", "--memory", "1Gi"], "invalid tenant"),
    ],
)
def test_bad_tenant_input_exits_2_and_changes_nothing(fleet: Fleet, args: list[str], expected: str):
    before = repo_fingerprint(fleet.path)
    code, out = run("tenant", "add", *args, "--repo", str(fleet.path), "--author", "A <a@example.com>")
    assert code == 2 and expected in out, out
    assert repo_fingerprint(fleet.path) == before


def test_remove_unknown_tenant(fleet: Fleet):
    code, out = run("tenant", "remove", "ghost", "--repo", str(fleet.path), "--author", "A <a@example.com>")
    assert code == 2 and "no tenant ghost" in out


def test_a_bad_memory_blames_only_the_flag_given(fleet: Fleet):
    before = repo_fingerprint(fleet.path)
    code, out = run("tenant", "add", "t", "--cpu", "4", "--memory", "8GB", "--repo", str(fleet.path))
    assert code == 2 and "--memory: '8GB' is not a Kubernetes quantity" in out, out
    assert "--max-strategy-memory" not in out and "--max-strategy-cpu" not in out
    assert repo_fingerprint(fleet.path) == before


def test_deploy_to_a_tenant_never_added_is_refused(fleet: Fleet, spec_dir: Path):
    before = repo_fingerprint(fleet.path)
    spec = write_spec(spec_dir, tenant="carol")
    code, out = run("deploy", str(spec), "--repo", str(fleet.path), "--author", "A <a@example.com>")
    assert code == 2 and "no tenant carol in the fleet" in out, out
    assert "stratops tenant add carol" in out
    assert repo_fingerprint(fleet.path) == before
    run("tenant", "add", "carol", "--cpu", "1", "--memory", "1Gi", "--repo", str(fleet.path), "--author", "A <a@b.c>")
    code, out = run("deploy", str(spec), "--repo", str(fleet.path), "--author", "A <a@example.com>")
    assert code == 0, out


def test_shrinking_a_quota_below_what_is_used_is_refused_with_the_numbers(fleet: Fleet, spec_dir: Path):
    tenants.add_tenant(fleet, "alice", "4", "8Gi", 5, AUTHOR, "2", "4Gi")
    _deploy(fleet, spec_dir, "one", cpu="1500m", memory="1Gi")
    _deploy(fleet, spec_dir, "two", cpu="500m", memory="512Mi")
    before = repo_fingerprint(fleet.path)
    args = ["alice", "--cpu", "1", "--memory", "1Gi", "--max-strategies", "1", "--max-strategy-cpu", "1"]
    code, out = run("tenant", "add", *args, "--repo", str(fleet.path), "--author", "A <a@example.com>")
    assert code == 2 and "the new quota of tenant alice is below what its strategies use" in out, out
    assert "--cpu: 1 < 2000m that its 2 strategies request" in out
    assert "--memory: 1Gi < 1536Mi that its 2 strategies request" in out
    assert "--max-strategies: 1 < the 2 strategies it runs" in out
    assert "--max-strategy-cpu: 1 is less than one (1500m) request" in out
    assert repo_fingerprint(fleet.path) == before
    args = ["alice", "--cpu", "2", "--memory", "1536Mi", "--max-strategies", "2", "--repo", str(fleet.path)]
    code, out = run("tenant", "add", *args, "--author", "A <a@example.com>")
    assert code == 0, out  # exactly what is used still fits
