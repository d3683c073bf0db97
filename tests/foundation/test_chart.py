"""The chart, rendered by the real helm binary and checked against the Kubernetes schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator import helm, kubeschema
from generator.assets import CHART_DIR
from generator.render import values_for
from generator.spec import parse_spec
from tests.foundation.test_spec import spec_text


def rendered(values: dict) -> dict[str, dict]:
    objects = helm.template(CHART_DIR, "momentum-btc", "alice", values)
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


def test_helm_lint_strict_passes():
    assert "0 chart(s) failed" in helm.lint(CHART_DIR)


def test_lint_strict_with_fleet_values(tmp_path: Path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(values_for(parse_spec(spec_text()))))
    assert "0 chart(s) failed" in helm.lint(CHART_DIR, values)


@pytest.mark.parametrize("persistent", [False, True])
def test_every_object_passes_the_kubernetes_schemas(persistent: bool):
    values = values_for(parse_spec(spec_text(spec__state={"persistent": persistent, "size": "2Gi"})))
    objects = rendered(values)
    assert ("PersistentVolumeClaim/momentum-btc-state" in objects) is persistent
    for obj in objects.values():
        assert kubeschema.validate(obj) == [], obj["kind"]


def test_deployment_is_locked_down():
    values = values_for(parse_spec(spec_text()))
    deployment = rendered(values)["Deployment/momentum-btc"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and sc["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] == container["resources"]["limits"] == {"cpu": "250m", "memory": "256Mi"}
    assert {
        p["httpGet"]["path"]
        for p in (container["startupProbe"], container["livenessProbe"], container["readinessProbe"])
    } == {"/startupz", "/livez", "/readyz"}
    assert container["lifecycle"]["preStop"]["httpGet"]["path"] == "/drainz"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/opt/stratops/code"]["readOnly"] and mounts["/etc/stratops"]["readOnly"]


def test_config_change_rolls_the_pod():
    first = rendered(values_for(parse_spec(spec_text())))["Deployment/momentum-btc"]
    second = rendered(values_for(parse_spec(spec_text(spec__params={"window": 21}))))["Deployment/momentum-btc"]
    key = "checksum/config"
    assert (
        first["spec"]["template"]["metadata"]["annotations"][key]
        != second["spec"]["template"]["metadata"]["annotations"][key]
    )


def test_network_policy_allows_only_feed_sink_and_dns():
    policy = rendered(values_for(parse_spec(spec_text())))["NetworkPolicy/momentum-btc"]
    ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"])
    assert ports == [53, 53, 5556, 5557]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_executor_config_carries_the_spec():
    import json

    config = rendered(values_for(parse_spec(spec_text())))["ConfigMap/momentum-btc-config"]
    data = json.loads(config["data"]["executor.json"])
    assert data["code"] == {
        "dir": "/opt/stratops/code",
        "file": "strategy.py",
        "class": "Momentum",
        "sha256": parse_spec(spec_text()).code_sha256,
    }
    assert data["params"] == {"window": 20} and data["subscriptions"] == ["trades.BTC-USD"]


def test_values_schema_rejects_foreign_fields():
    values = values_for(parse_spec(spec_text()))
    values["securityContext"] = {"privileged": True}
    with pytest.raises(helm.HelmError, match="helm template failed"):
        rendered(values)


def test_runtime_class_is_opt_in_and_validated():
    values = values_for(parse_spec(spec_text()))
    assert "runtimeClassName" not in rendered(values)["Deployment/momentum-btc"]["spec"]["template"]["spec"]
    pod = rendered({**values, "runtimeClassName": "gvisor"})["Deployment/momentum-btc"]["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "gvisor"
    with pytest.raises(helm.HelmError, match="runtimeClassName"):
        rendered({**values, "runtimeClassName": "gVisor; rm -rf /"})
