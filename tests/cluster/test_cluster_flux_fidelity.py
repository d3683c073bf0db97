"""What stratops predicts for a fleet against what the real source-, kustomize- and helm-controller did, on the
shared control plane (tests/cluster/plane.py): chart versions, values, the chart source, and references.

The three examples, as the plane deployed them: their stored Helm releases equal the prediction, field for field.
Then one strategy, `y` with params `{y: n, on: off}`, goes through: a deploy (stratops), then a hand-made commit
that adds a Secret with `stringData` and a `targetPath` with an escaped dot to its valuesFrom. After each, the
Helm release helm-controller stored (values and manifest, before API-server defaulting) equals stratops'
prediction, and the other strategies' releases were not upgraded.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest
import yaml

from generator.cluster import controlplane
from generator.cluster.kube import is_ready
from generator.manifests import render_folder
from tests.cluster.plane import STRATEGIES, TENANT, Plane, shared_plane, stratops
from tests.gitops.gitops_helpers import git

# One worker, in file order: the second test edits the folder the first one deploys.
pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("flux-fidelity")]
NAME = "y"
PARAMS = {"y": "n", "on": "off", "big": 1e20}


@pytest.fixture(scope="session")
def plane() -> Plane:
    return shared_plane()


def _releases(plane: Plane) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in plane.kube().list(*controlplane.HELMRELEASE, namespace=TENANT)}


def _stored_release(plane: Plane, name: str) -> dict:
    """The newest Helm release record helm-controller stored (Secret sh.helm.release.v1.<name>.v<N>)."""
    secrets = [
        s
        for s in plane.kube().list("v1", "Secret", namespace=TENANT)
        if s["metadata"]["name"].startswith(f"sh.helm.release.v1.{name}.v")
    ]
    newest = max(secrets, key=lambda s: int(s["metadata"]["name"].rsplit(".v", 1)[1]))
    blob = base64.b64decode(base64.b64decode(newest["data"]["release"]))
    return json.loads(gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob)


def _predicted(plane: Plane, name: str):
    folder = plane.fleet / "strategies" / TENANT / name
    return render_folder({p.name: p.read_bytes() for p in folder.iterdir()}, str(folder), plane.fleet)


def _same_objects(stored: dict, rendered: list[dict]) -> None:
    theirs = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(stored["manifest"]) if o}
    ours = {}
    for obj in rendered:
        obj = json.loads(json.dumps(obj))
        if obj["metadata"].get("namespace") == TENANT and "namespace" not in theirs.get(
            (obj["kind"], obj["metadata"]["name"]), {}
        ).get("metadata", {}):
            obj["metadata"].pop("namespace")  # the renderer sets it, as the API server will; Helm's manifest has none
        ours[(obj["kind"], obj["metadata"]["name"])] = obj
    assert ours == theirs


def _wait_upgraded(plane: Plane, name: str, generation_before: int) -> dict:
    def done() -> bool:
        release = _releases(plane).get(name)
        return bool(
            release
            and release["metadata"]["generation"] > generation_before
            and release["status"].get("observedGeneration") == release["metadata"]["generation"]
            and is_ready(release)
        )

    plane.reconcile()
    plane.wait(f"HelmRelease {name} Ready at its new generation", done)
    return _releases(plane)[name]


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_example_runs_exactly_the_objects_stratops_predicted(plane: Plane, name: str):
    """Field for field: the values and manifest helm-controller stored for each example (deployed once by the
    plane, never edited after) equal what `diff`, `check` and the local runtime render for its folder."""
    release = _releases(plane)[name]
    assert is_ready(release) and release["status"].get("observedGeneration") == release["metadata"]["generation"]
    stored, predicted = _stored_release(plane, name), _predicted(plane, name)
    assert stored["config"] == json.loads(json.dumps(predicted.values[name]))
    _same_objects(stored, predicted.objects)


def test_a_commit_upgrades_only_its_release_and_helm_gets_the_predicted_values(plane: Plane, tmp_path: Path):
    before = _releases(plane)
    spec = tmp_path / "y.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "stratops.io/v1",
                "kind": "Strategy",
                "metadata": {"name": NAME, "tenant": TENANT},
                "spec": {
                    "code": {
                        "inline": "from executor import Strategy\n\n\nclass Y(Strategy):\n    pass\n",
                        "class": "Y",
                    },
                    "subscriptions": ["trades.BTC-USD"],
                    "params": PARAMS,
                    "resources": {"cpu": "100m", "memory": "128Mi"},
                },
            }
        )
    )
    stratops("deploy", str(spec), "--repo", str(plane.fleet), "--no-push")
    _wait_upgraded(plane, NAME, 0)

    # Item: one commit, one upgrade. The other releases were not re-attempted.
    after = _releases(plane)
    for name in STRATEGIES:
        assert after[name]["status"].get("lastAttemptedRevision") == before[name]["status"].get("lastAttemptedRevision")
        assert len(after[name]["status"].get("history") or []) == len(before[name]["status"].get("history") or [])

    # Item: values every YAML reader reads alike; chart label and objects as stratops rendered them.
    stored, predicted = _stored_release(plane, NAME), _predicted(plane, NAME)
    assert stored["config"] == json.loads(json.dumps(predicted.values[NAME]))
    assert stored["config"]["params"] == PARAMS and stored["config"]["strategy"]["name"] == NAME
    _same_objects(stored, predicted.objects)
    deployment = plane.kube().get("apps/v1", "Deployment", NAME, TENANT)
    label = deployment["spec"]["template"]["metadata"]["labels"]["helm.sh/chart"]
    assert "+" not in label and label == predicted.workload()["spec"]["template"]["metadata"]["labels"]["helm.sh/chart"]


def test_hand_written_values_from_secret_and_escaped_target_path(plane: Plane):
    folder = plane.fleet / "strategies" / TENANT / NAME
    assert (folder / "helmrelease.yaml").is_file(), "the deploy test (the one before) did not deploy the strategy"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "y-extra"},
        "data": {"values.yaml": base64.b64encode(b"params:\n  fromData: 1\n").decode()},
        "stringData": {"values.yaml": "params:\n  fromStringData: 'yes'\n", "dotted": "x\\,y"},
    }
    (folder / "secret.yaml").write_text(yaml.safe_dump(secret))
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    kustomization["resources"].append("secret.yaml")
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    release = yaml.safe_load((folder / "helmrelease.yaml").read_text())
    release["spec"]["valuesFrom"] += [
        {"kind": "Secret", "name": "y-extra"},
        {"kind": "Secret", "name": "y-extra", "valuesKey": "dotted", "targetPath": "params.a\\.b"},
    ]
    (folder / "helmrelease.yaml").write_text(yaml.safe_dump(release))
    git(plane.fleet, "add", "-A")
    git(plane.fleet, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "hand-written valuesFrom")
    generation = _releases(plane)[NAME]["metadata"]["generation"]
    _wait_upgraded(plane, NAME, generation)
    stored, predicted = _stored_release(plane, NAME), _predicted(plane, NAME)
    assert stored["config"] == json.loads(json.dumps(predicted.values[NAME]))
    assert stored["config"]["params"]["fromStringData"] == "yes" and "fromData" not in stored["config"]["params"]
    assert stored["config"]["params"]["a.b"] == "x,y"
    _same_objects(stored, predicted.objects)


def test_tenants_reconcile_with_their_own_identity_and_source(plane: Plane):
    kube = plane.kube()
    source = kube.get(*controlplane.GITREPOSITORY, "stratops-fleet", TENANT)
    assert is_ready(source) and source["spec"]["url"].startswith("http://127.0.0.1:")
    for name in STRATEGIES:
        release = kube.get(*controlplane.HELMRELEASE, name, TENANT)
        assert release["spec"]["serviceAccountName"] == "stratops-reconciler"
        assert release["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "stratops-fleet"}
        chart = kube.get("source.toolkit.fluxcd.io/v1", "HelmChart", f"{TENANT}-{name}", TENANT)
        chart_yaml = yaml.safe_load((plane.fleet / "charts/strategy-executor/Chart.yaml").read_text())
        assert chart["status"]["artifact"]["revision"] == chart_yaml["version"]  # ChartVersion: no +<sha>
    with plane.fleet_head():
        report = stratops("check", str(plane.fleet), check=False)
    assert report.returncode == 0, report.stdout + report.stderr
