"""`stratops init --cluster`: a complete Flux layout that validates offline against the shipped schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator import actions, flux, kubeschema, layout
from generator.fleet import Fleet
from generator.fleet_source import FleetSource
from generator.policy import load_policies
from generator.tenants import TENANT_LABEL, tenant_files
from tests.gitops.gitops_helpers import run
from tests.support import AUTHOR


def _objects(files: dict[str, bytes]) -> list[tuple[str, dict]]:
    out = []
    for path, data in sorted(files.items()):
        if path.startswith(("clusters/", "infrastructure/")) and path.endswith(".yaml"):
            out += [(path, d) for d in yaml.safe_load_all(data) if d]
    return out


def test_cluster_kustomizations_chain_in_order_with_prune_and_health():
    files = layout.fleet_files("prod")
    docs = {p.split("/")[-1]: d for p, d in _objects(files) if p.startswith("clusters/prod/")}
    assert set(docs) == {"infrastructure.yaml", "policies.yaml", "strategies.yaml"}
    assert "dependsOn" not in docs["infrastructure.yaml"]["spec"]
    assert docs["policies.yaml"]["spec"]["dependsOn"] == [{"name": "infrastructure"}]
    assert docs["strategies.yaml"]["spec"]["dependsOn"] == [{"name": "policies"}]
    for doc in docs.values():
        assert doc["spec"]["prune"] is True and doc["spec"]["timeout"] and doc["spec"]["interval"]
    health = docs["infrastructure.yaml"]["spec"]["healthChecks"]
    assert {h["name"] for h in health} == {"market-feed", "signal-sink"}
    assert docs["strategies.yaml"]["spec"]["wait"] is True


def test_everything_init_writes_validates_against_flux_and_kubernetes_schemas():
    objects = _objects(layout.fleet_files("prod"))
    kinds = set()
    for path, obj in objects:
        if obj["apiVersion"].startswith("kustomize.config.k8s.io"):
            continue
        problems = flux.validate(obj) if flux.is_flux(obj) else kubeschema.validate(obj)
        assert problems == [], (path, problems)
        kinds.add(obj["kind"])
    assert {"Kustomization", "Namespace", "Deployment", "Service", "NetworkPolicy"} <= kinds


def test_feed_and_sink_pass_the_tenant_policies():
    """Our own policies would admit the system pods even in a tenant namespace."""
    policies = load_policies([Path(actions.__file__).parent / "policies"])
    tenant_ns = yaml.safe_load(
        tenant_files("t", "4", "8Gi", 10, "2", "4Gi", FleetSource("https://git.example.com/f.git"))["namespace.yaml"]
    )
    deployments = [o for _, o in _objects(layout.fleet_files("prod")) if o["kind"] == "Deployment"]
    assert [d["spec"]["template"]["spec"]["containers"][0]["command"][:2] for d in deployments] == [
        ["stratops", "feed"],
        ["stratops", "sink"],
    ]
    for deployment in deployments:
        obj = {**deployment, "metadata": {**deployment["metadata"], "namespace": "t", "labels": {TENANT_LABEL: "t"}}}
        obj["spec"]["template"]["metadata"]["labels"][TENANT_LABEL] = "t"
        results = policies.evaluate(obj, tenant_ns)
        assert results and all(r.status in ("pass", "skip") for r in results), [
            (r.policy, r.status, r.message) for r in results if r.status not in ("pass", "skip")
        ]


def test_helmrelease_template_validates_and_carries_the_remediation_defaults(fleet: Fleet, spec_dir: Path):
    from tests.support import write_spec

    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir)), AUTHOR)
    release = yaml.safe_load(fleet.read_file("strategies/alice/momentum-btc/helmrelease.yaml"))
    release["metadata"]["namespace"] = "alice"
    assert flux.validate(release) == []
    spec = release["spec"]
    assert spec["install"]["remediation"]["retries"] > 0
    assert spec["upgrade"]["remediation"] == {"retries": 3, "strategy": "rollback", "remediateLastFailure": True}
    assert spec["driftDetection"]["mode"] == "enabled"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.update(prune="yes"), "spec.prune: 'yes' is not of type 'boolean'"),
        (lambda s: s.update(interval="ten minutes"), "spec.interval: 'ten minutes' does not match"),
        (lambda s: s.update(colour="red"), "unknown field"),
        (lambda s: s.pop("sourceRef"), "'sourceRef' is a required property"),
    ],
)
def test_flux_schema_rejects_hand_edits(edit, expected):
    doc = yaml.safe_load(layout.fleet_files("prod")["clusters/prod/strategies.yaml"])
    edit(doc["spec"])
    problems = flux.validate(doc)
    assert any(expected in f"{p.where}: {p.what}" for p in problems), problems


def test_unknown_flux_version_is_named():
    problems = flux.validate({"apiVersion": "helm.toolkit.fluxcd.io/v2beta1", "kind": "HelmRelease", "metadata": {}})
    assert "no Flux 2.9 schema for helm.toolkit.fluxcd.io/v2beta1 HelmRelease" in problems[0].what


def test_init_cli_writes_hook_and_ci_example(tmp_path: Path):
    code, out = run("init", str(tmp_path / "f"), "--cluster", "prod-eu", "--author", "A <a@example.com>")
    assert code == 0, out
    hook = tmp_path / "f/.githooks/pre-commit"
    assert hook.stat().st_mode & 0o111 and "stratops check --changed-since HEAD" in hook.read_text()
    workflow = yaml.safe_load((tmp_path / "f/.github/workflows/stratops-check.yaml").read_text())
    assert "stratops check" in str(workflow["jobs"]["check"]["steps"])
    assert (tmp_path / "f/clusters/prod-eu/strategies.yaml").is_file()
    code, out = run("init", str(tmp_path / "g"), "--cluster", "Prod!", "--author", "A <a@example.com>")
    assert code == 2 and "invalid cluster" in out


def test_the_system_sink_serves_metrics_on_a_port_scrapers_may_reach():
    from executor.commands import sink_command

    objects = [d for p, d in _objects(layout.fleet_files("prod")) if p.endswith("signal-sink.yaml")]
    container = next(d for d in objects if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    argv = container["command"]
    assert argv[:2] == ["stratops", "sink"]
    params = sink_command.make_context("sink", argv[2:]).params  # the real CLI accepts the args
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert params["metrics_port"] == ports["metrics"]
    policies = [d for p, d in _objects(layout.fleet_files("prod")) if p.endswith("networkpolicy.yaml")]
    sink_policy = next(d for d in policies if d["metadata"]["name"] == "signal-sink-from-tenants")
    open_rules = [r for r in sink_policy["spec"]["ingress"] if "from" not in r]
    assert [p["port"] for r in open_rules for p in r["ports"]] == ["metrics"]  # the ZeroMQ port stays tenants-only
