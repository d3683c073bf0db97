"""Flux's multi-tenancy lockdown (`--no-cross-namespace-refs`, `--default-service-account`): every tenant has
its own reconciler identity and chart source, and no object of the fleet reaches into another namespace."""

from __future__ import annotations

from pathlib import Path

import yaml

from generator import actions, tenants
from generator.check import check_repo
from generator.fleet import Fleet
from generator.fleet_source import FleetSource
from tests.gitops.gitops_helpers import git, run
from tests.support import AUTHOR, FLEET_URL, write_spec


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _every_object(root: Path) -> list[tuple[dict, str]]:
    out = []
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith((".", "charts/", "policies/")) or "kustomization" in path.name:
            continue
        out += [(d, rel) for d in _docs(path) if isinstance(d, dict) and "kind" in d]
    return out


def test_tenant_add_writes_the_reconciler_and_the_chart_source(fleet: Fleet, spec_dir: Path):
    tenants.add_tenant(fleet, "alice", "2", "4Gi", 10, AUTHOR)
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir / "one", name="one")), AUTHOR)
    folder = fleet.path / "infrastructure/tenants/alice"
    account, binding = _docs(folder / "reconciler.yaml")
    assert account == {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "stratops-reconciler"}}
    assert binding["kind"] == "RoleBinding"  # namespaced: admin of alice only, never a ClusterRoleBinding
    assert binding["roleRef"]["name"] == "admin"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "stratops-reconciler", "namespace": "alice"}]
    (source,) = _docs(folder / "source.yaml")
    assert source["kind"] == "GitRepository" and source["spec"]["url"] == FLEET_URL
    assert "reconciler.yaml" in yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]

    release = _docs(fleet.path / "strategies/alice/one/helmrelease.yaml")[0]
    assert release["spec"]["serviceAccountName"] == "stratops-reconciler"
    assert release["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "stratops-fleet"}
    # Nothing names another namespace; every Flux object has an identity under --default-service-account.
    for obj, rel in _every_object(fleet.path):
        spec = obj.get("spec") or {}
        for ref in (spec.get("sourceRef"), (spec.get("chart") or {}).get("spec", {}).get("sourceRef")):
            assert not (ref or {}).get("namespace"), (rel, ref)
        if obj["kind"] in ("Kustomization", "HelmRelease") and ".toolkit.fluxcd.io/" in obj["apiVersion"]:
            assert spec.get("serviceAccountName"), rel
    report = check_repo(fleet.path)
    assert report.findings == [], [str(f) for f in report.findings]


def test_check_warns_about_cross_namespace_references(fleet: Fleet, spec_dir: Path):
    tenants.add_tenant(fleet, "alice", "2", "4Gi", 10, AUTHOR)
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir / "one", name="one")), AUTHOR)
    path = fleet.path / "strategies/alice/one/helmrelease.yaml"
    path.write_text(
        path.read_text().replace("name: stratops-fleet", "name: flux-system\n        namespace: flux-system")
    )
    path.write_text(path.read_text().replace("serviceAccountName: stratops-reconciler", "serviceAccountName: ghost"))
    findings = [str(f) for f in check_repo(fleet.path).findings]
    assert any("--no-cross-namespace-refs" in f and "HelmRelease/alice/one" in f for f in findings), findings
    assert any("spec.serviceAccountName: ServiceAccount alice/ghost does not exist" in f for f in findings), findings
    path.write_text(path.read_text().replace("serviceAccountName: ghost", ""))
    (finding,) = [f for f in check_repo(fleet.path).findings if "spec.serviceAccountName" in str(f)]
    assert finding.severity == "warning" and "HelmRelease/alice/one" in str(finding)
    assert "--default-service-account=default" in str(finding) and "alice/default" in str(finding)


def test_the_source_url_comes_from_flux_bootstrap_first(tmp_path: Path):
    fleet = actions.init(tmp_path / "f", "prod", AUTHOR, "git@github.com:acme/fleet.git")
    assert "url: ssh://git@github.com/acme/fleet.git" in (fleet.path / "stratops.yaml").read_text()
    sync = fleet.path / "clusters/prod/flux-system/gotk-sync.yaml"
    sync.parent.mkdir()
    sync.write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
        "metadata: {name: flux-system, namespace: flux-system}\n"
        "spec: {interval: 1m, url: 'ssh://git@github.com/acme/fleet', ref: {branch: main},"
        " secretRef: {name: flux-system}}\n"
    )
    git(fleet.path, "add", "-A")
    git(fleet.path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "flux bootstrap")
    tenants.add_tenant(fleet, "alice", "2", "4Gi", 10, AUTHOR)
    (source,) = _docs(fleet.path / "infrastructure/tenants/alice/source.yaml")
    assert source["spec"]["url"] == "ssh://git@github.com/acme/fleet"
    assert source["spec"]["secretRef"] == {"name": "flux-system"}  # copy it into the namespace (docs/cluster.md)


def test_without_a_source_url_the_source_comes_with_the_bootstrap(tmp_path: Path):
    fleet = actions.init(tmp_path / "f", "prod", AUTHOR)
    outcome = tenants.add_tenant(fleet, "alice", "2", "4Gi", 10, AUTHOR)
    assert outcome.commit and outcome.warnings == [tenants.NO_SOURCE_YET]
    folder = fleet.read_folder("infrastructure/tenants/alice")
    assert "source.yaml" not in folder and b"source.yaml" not in folder["kustomization.yaml"]
    # What `flux bootstrap` / `stratops cluster up` commits alongside its sync manifests:
    (changed,) = tenants.chart_source_changes(fleet, FleetSource("http://127.0.0.1:8080/fleet.git")).values()
    (source,) = yaml.safe_load_all(changed["source.yaml"])
    assert source["spec"]["url"] == "http://127.0.0.1:8080/fleet.git" and "secretRef" not in source["spec"]
    assert "source.yaml" in yaml.safe_load(changed["kustomization.yaml"])["resources"]
    code, out = run("init", str(tmp_path / "g"), "--source-url", "/local/path", "--author", "A <a@b.c>")
    assert code == 2 and "not a URL Flux can fetch" in out
