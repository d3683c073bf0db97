"""What the real cluster refuses, against what `stratops check` predicted on the same commit.

Hand-made commits to the fleet (as a reviewer might merge them, not through `stratops deploy`) each break one
rule: Kyverno's admission controller, running out of cluster behind the API server's validating webhook, refuses
an upgrade that breaks a policy; kustomize- and helm-controller, locked down as in Flux's multi-tenancy guide,
refuse a tenant's reference to flux-system's source and apply a release without an identity as the namespace's
`default` account. `git revert` then brings every release back to Ready.

The tests use two strategies of their own (the examples stay untouched for the other tests) and hold the plane's
fleet-head lock from a breaking commit until the cluster is Ready again after its revert, so the tests that read
the state of the whole fleet (on the other xdist worker) never see it broken on purpose.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from generator.cluster import components, controlplane
from generator.cluster.kube import Kube, condition, is_ready
from generator.fleet import Fleet
from tests.cluster.plane import TENANT, Plane, shared_plane, stratops
from tests.gitops.gitops_helpers import git
from tests.support import write_spec

pytestmark = pytest.mark.timeout(900)
PROBES = ("hand-edit-a", "hand-edit-b")
FOREIGN_IMAGE = "docker.io/evil/executor"
REVIEWER = ("-c", "user.name=Rita Reviewer", "-c", "user.email=rita@example.com")
VPOL = ("policies.kyverno.io/v1", "ValidatingPolicy")
WEBHOOKS = ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")


@pytest.fixture(scope="module")
def plane() -> Plane:
    if components.missing((components.KYVERNO,)):
        message = "Kyverno's admission controller is not built: run `make components`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return shared_plane()


@pytest.fixture(scope="module")
def probes(plane: Plane, tmp_path_factory) -> tuple[str, ...]:
    """Two strategies deployed with `stratops deploy` and Ready: the ones the hand-made commits break."""
    specs = tmp_path_factory.mktemp("probes")
    for name in PROBES:
        spec = write_spec(specs / name, name=name, tenant=TENANT, extra="")
        spec.write_text(spec.read_text().replace("cpu: 250m, memory: 256Mi", "cpu: 100m, memory: 128Mi"))
        stratops("deploy", str(spec), "--repo", str(plane.fleet), "--no-push")
    plane.reconcile()
    plane.wait("the probe strategies Ready", lambda: all(_release_ready(plane.kube(), n) for n in PROBES))
    return PROBES


def test_kyverno_refuses_a_hand_made_commit_as_check_predicted(plane: Plane, probes, tmp_path: Path):
    name = probes[0]
    kube = plane.kube()
    _assert_kyverno_enforces(plane, kube)
    generation = kube.get(*controlplane.HELMRELEASE, name, TENANT)["metadata"]["generation"]

    def foreign_image() -> None:
        path = plane.fleet / "strategies" / TENANT / name / "values.yaml"
        header, body = path.read_text().split("\n", 1)
        values = json.loads(body)
        values["image"] = {"repository": FOREIGN_IMAGE}
        path.write_text(f"{header}\n{json.dumps(values, indent=2)}\n")

    with plane.fleet_head():  # until Ready again: the other tests never see the fleet broken on purpose
        broken = _commit_by_hand(plane, foreign_image, f"{name}: pull the executor from elsewhere")
        try:
            # The prediction, on that very commit: one error, the policy and the object Kyverno will name.
            (finding,) = _check_at(plane, broken, tmp_path)
            assert finding["severity"] == "error" and finding["stage"] == "policy", finding
            assert finding["object"] == f"Deployment/{TENANT}/{name}", finding
            policy, message = finding["message"].split(": ", 1)
            assert policy == "restrict-image-registries" and FOREIGN_IMAGE in message

            plane.reconcile()
            refusal = _wait_for(
                plane, "helm-controller to report Kyverno's refusal", lambda: _upgrade_refusal(kube, name, generation)
            )
            assert "admission webhook" in refusal, refusal
            assert f"object {TENANT}/{name} apps/v1, Kind=Deployment" in refusal, refusal
            assert f"denied the request: Policy {policy} failed: {message}" in refusal, refusal
            assert _image(kube, name).startswith("ghcr.io/stratops/executor:")  # still the last good release
        finally:
            reverted = _revert(plane, broken)
        plane.reconcile()
        plane.wait(
            "the release Ready again after git revert", lambda: _ready_after(plane, name, generation + 1, reverted)
        )
        assert _image(kube, name).startswith("ghcr.io/stratops/executor:")


def test_the_lockdown_refuses_what_check_warned_about(plane: Plane, probes, tmp_path: Path):
    across, anonymous = probes
    kube = plane.kube()
    state = controlplane.State.load(plane.state)
    assert state.lockdown
    for controller, flags in controlplane.LOCKDOWN_FLAGS.items():
        argv = Path(f"/proc/{state.pids[controller]}/cmdline").read_bytes().decode().split("\0")
        assert set(flags) <= set(argv), (controller, argv)
    generations = {n: kube.get(*controlplane.HELMRELEASE, n, TENANT)["metadata"]["generation"] for n in probes}
    log = state.log("helm-controller")
    log_offset = log.stat().st_size

    def edit_releases() -> None:
        # the chart from flux-system's GitRepository, as fleets written before tenants had their own source
        path = plane.fleet / "strategies" / TENANT / across / "helmrelease.yaml"
        text = path.read_text()
        path.write_text(text.replace("name: stratops-fleet", "name: flux-system\n        namespace: flux-system"))
        # no identity of its own
        path = plane.fleet / "strategies" / TENANT / anonymous / "helmrelease.yaml"
        release = yaml.safe_load(path.read_text())
        del release["spec"]["serviceAccountName"]
        path.write_text(yaml.safe_dump(release, sort_keys=False))

    with plane.fleet_head():  # until Ready again: the other tests never see the fleet broken on purpose
        broken = _commit_by_hand(plane, edit_releases, "strategies: a shared chart source, one identity less")
        try:
            findings = {f["object"]: f for f in _check_at(plane, broken, tmp_path)}
            assert set(findings) == {f"HelmRelease/{TENANT}/{across}", f"HelmRelease/{TENANT}/{anonymous}"}, findings
            cross = findings[f"HelmRelease/{TENANT}/{across}"]
            assert cross["severity"] == "warning" and "--no-cross-namespace-refs" in cross["message"], cross
            assert "GitRepository flux-system/flux-system" in cross["message"], cross
            identity = findings[f"HelmRelease/{TENANT}/{anonymous}"]
            assert identity["severity"] == "warning" and f"ServiceAccount {TENANT}/default" in identity["message"]

            plane.reconcile()
            # --default-service-account: the release runs as demo/default, which may not even read its own history
            forbidden = _wait_for(
                plane,
                "helm-controller to act as the namespace's default account",
                lambda: _ready_message(kube, anonymous, generations[anonymous] + 1, "False"),
            )
            assert f'User "system:serviceaccount:{TENANT}:default"' in forbidden and "forbidden" in forbidden
            # --no-cross-namespace-refs: helm-controller refuses to make the HelmChart in flux-system. It says so in its
            # log only: the HelmRelease keeps the status of its last generation.
            chart = f"{controlplane.FLUX_NAMESPACE}/{TENANT}-{across}"
            expected = f"cross-namespace references are not allowed: cannot access HelmChart {chart}"
            _wait_for(
                plane,
                "helm-controller to refuse the cross-namespace source",
                lambda: _logged(log, log_offset, expected),
            )
            release = kube.get(*controlplane.HELMRELEASE, across, TENANT)
            assert release["status"]["observedGeneration"] < release["metadata"]["generation"]
            assert kube.get("source.toolkit.fluxcd.io/v1", "HelmChart", f"{TENANT}-{across}", "flux-system") is None
        finally:
            reverted = _revert(plane, broken)
        plane.reconcile()
        for name in probes:
            plane.wait(f"{name} Ready again after git revert", lambda n=name: _ready_after(plane, n, 0, reverted))


def _wait_for(plane: Plane, what: str, probe: Callable[[], str | bool | None]):
    """Wait as plane.wait does; returns what PROBE returned when it first returned something."""
    seen: list = [None]
    plane.wait(what, lambda: bool(seen.append(probe()) or seen[-1]))
    return seen[-1]


# --- the fleet, by hand ------------------------------------------------------------------------


def _commit_by_hand(plane: Plane, edit: Callable[[], None], message: str) -> str:
    """EDIT the work tree and commit it with plain git, under the lock every stratops writer takes."""
    with Fleet(plane.fleet).lock():
        edit()
        git(plane.fleet, "add", "-A")
        git(plane.fleet, *REVIEWER, "commit", "-qm", message)
        return git(plane.fleet, "rev-parse", "HEAD").strip()


def _revert(plane: Plane, sha: str) -> str:
    with Fleet(plane.fleet).lock():
        git(plane.fleet, *REVIEWER, "revert", "--no-edit", sha)
        return git(plane.fleet, "rev-parse", "HEAD").strip()


def _check_at(plane: Plane, sha: str, tmp_path: Path) -> list[dict]:
    """`stratops check` on the tree of commit SHA (the fleet's head may move on meanwhile)."""
    tree = tmp_path / f"at-{sha[:12]}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", sha], cwd=plane.fleet, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    report = stratops("check", "--json", str(tree), check=False)
    return json.loads(report.stdout)["findings"]


# --- what the cluster says ---------------------------------------------------------------------


def _assert_kyverno_enforces(plane: Plane, kube: Kube) -> None:
    """Kyverno is the API server's validating webhook for pods and their controllers in tenant namespaces, with
    failurePolicy Fail, and every fleet policy is there to deny (not audit), with its webhook configured."""
    state = controlplane.State.load(plane.state)
    assert state.running().get(components.KYVERNO), "Kyverno's admission controller is not running"
    names = sorted(p.name for p in (plane.fleet / "policies").iterdir() if p.is_dir())
    assert names, "the fleet has no policies"

    def policies_ready() -> bool:
        found = {p["metadata"]["name"]: p for p in kube.list(*VPOL)}
        return set(names) <= set(found) and all(
            ((found[n].get("status") or {}).get("conditionStatus") or {}).get("ready") for n in names
        )

    plane.wait("Kyverno to mark every fleet policy ready", policies_ready)
    for policy in kube.list(*VPOL):
        assert policy["spec"]["validationActions"] == ["Deny"], policy["metadata"]["name"]
        configured = condition({"status": policy["status"]["conditionStatus"]}, "WebhookConfigured")
        assert configured["status"] == "True", configured
    config = kube.get(*WEBHOOKS, "kyverno-resource-validating-webhook-cfg")
    hooks = [h for h in config["webhooks"] if "/restrict-image-registries" in h["clientConfig"]["url"]]
    assert hooks, config["webhooks"]
    for hook in hooks:
        assert hook["clientConfig"]["url"].startswith(f"https://127.0.0.1:{state.ports['kyverno']}/vpol/")
        assert hook["failurePolicy"] == "Fail"
        assert {"deployments", "pods"} <= {r for rule in hook["rules"] for r in rule["resources"]}
        assert hook["namespaceSelector"]["matchExpressions"] == [{"key": "stratops.io/tenant", "operator": "Exists"}]


def _upgrade_refusal(kube: Kube, name: str, generation: int) -> str | None:
    """The message of the failed upgrade of a generation after GENERATION, once helm-controller reports one."""
    release = kube.get(*controlplane.HELMRELEASE, name, TENANT)
    if release["metadata"]["generation"] <= generation:
        return None
    released = condition(release, "Released") or {}
    if released.get("status") == "False" and released.get("reason") == "UpgradeFailed":
        return released["message"]
    return None


def _ready_message(kube: Kube, name: str, generation: int, status: str) -> str | None:
    """Ready's message once it has STATUS at GENERATION or later (helm-controller may still retry, so the
    observed generation can lag behind)."""
    release = kube.get(*controlplane.HELMRELEASE, name, TENANT)
    ready = condition(release) or {}
    at = release["metadata"]["generation"] >= generation
    return ready.get("message") if at and ready.get("status") == status else None


def _logged(log: Path, offset: int, text: str) -> bool:
    with open(log, "rb") as handle:
        handle.seek(offset)
        return text.encode() in handle.read()


def _release_ready(kube: Kube, name: str) -> bool:
    return is_ready(kube.get(*controlplane.HELMRELEASE, name, TENANT))


def _ready_after(plane: Plane, name: str, generation: int, revision: str) -> bool:
    """NAME is Ready at a generation above GENERATION, and `strategies` Ready at REVISION or a later commit."""
    kube = plane.kube()
    release = kube.get(*controlplane.HELMRELEASE, name, TENANT)
    strategies = kube.get(*controlplane.KUSTOMIZE, "strategies", controlplane.FLUX_NAMESPACE)
    applied = (strategies.get("status") or {}).get("lastAppliedRevision", "").rpartition(":")[2]
    return bool(
        is_ready(release)
        and release["metadata"]["generation"] > generation
        and is_ready(strategies)
        and applied
        and _descends(plane.fleet, applied, revision)
    )


def _descends(repo: Path, sha: str, ancestor: str) -> bool:
    run = subprocess.run(["git", "merge-base", "--is-ancestor", ancestor, sha], cwd=repo, capture_output=True)
    return run.returncode == 0


def _image(kube: Kube, name: str) -> str:
    deployment = kube.get("apps/v1", "Deployment", name, TENANT)
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "executor")["image"]
