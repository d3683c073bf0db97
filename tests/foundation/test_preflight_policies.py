"""Hand-edited strategy folders that the cluster's policies would refuse are refused by the preflight."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
import yaml

from generator import actions
from generator.fleet import Fleet
from generator.render import folder_files
from generator.spec import parse_spec
from tests.support import MOMENTUM

SPEC = (
    "apiVersion: stratops.io/v1\nkind: Strategy\nmetadata: {name: momentum-btc, tenant: alice}\n"
    "spec:\n  code: {inline: " + yaml.safe_dump(MOMENTUM, default_style='"').strip() + ", class: Momentum}\n"
    '  subscriptions: ["trades.BTC-USD"]\n  resources: {cpu: 250m, memory: 256Mi}\n'
)
FOLDER = PurePosixPath("strategies/alice/momentum-btc")


def pod(**spec_fields) -> dict:
    container = {
        "name": "x",
        "image": "ghcr.io/stratops/executor:1",
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    for key, value in spec_fields.pop("container", {}).items():
        container[key] = value
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "extra", "labels": {"stratops.io/tenant": "alice"}},
        "spec": {"automountServiceAccountToken": False, "containers": [container], **spec_fields},
    }


def edit_values(files: dict[str, bytes], change) -> None:
    values = yaml.safe_load(files["values.yaml"])
    change(values)
    files["values.yaml"] = yaml.safe_dump(values).encode()


def add_manifest(files: dict[str, bytes], obj: dict) -> None:
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    kustomization["resources"].append("extra.yaml")
    files["kustomization.yaml"] = yaml.safe_dump(kustomization).encode()
    files["extra.yaml"] = yaml.safe_dump(obj).encode()


HAND_EDITS = {
    "foreign registry": (
        lambda f: edit_values(f, lambda v: v.update(image={"repository": "docker.io/evil/miner"})),
        "restrict-image-registries",
    ),
    "over the caps": (
        lambda f: edit_values(f, lambda v: v.update(resources={"cpu": "64", "memory": "512Gi"})),
        "require-resources-within-caps",
    ),
    "privileged pod": (
        lambda f: add_manifest(f, pod(container={"securityContext": {"privileged": True}})),
        "disallow-privilege-escalation",
    ),
    "host network": (lambda f: add_manifest(f, pod(hostNetwork=True)), "disallow-host-access"),
    "no limits": (lambda f: add_manifest(f, pod(container={"resources": {}})), "require-resources-within-caps"),
    "hostPath volume": (
        lambda f: add_manifest(f, pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}])),
        "restrict-volume-types",
    ),
}


@pytest.mark.parametrize("case", HAND_EDITS, ids=list(HAND_EDITS))
def test_hand_edited_folder_is_refused_by_policy(fleet: Fleet, case: str):
    edit, policy = HAND_EDITS[case]
    files = folder_files(parse_spec(SPEC))
    assert actions.preflight(fleet, FOLDER, dict(files), "alice").ok  # the untouched folder passes
    edit(files)
    report = actions.preflight(fleet, FOLDER, files, "alice")
    refused = [f for f in report.errors if f.stage == "policy"]
    assert any(f.where.startswith(policy) for f in refused), [str(f) for f in report.findings]
