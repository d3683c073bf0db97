"""What the real cluster refuses, against what `stratops check` predicted on the same commit.

One hand-made commit to the fleet (as a reviewer might merge it, not through `stratops deploy`) breaks three
strategies' folders, one rule each: Kyverno's admission controller, behind the API server's validating webhook,
refuses the upgrade of one that pulls its image from a foreign registry; helm-controller, locked down as in Flux's
multi-tenancy guide, refuses another's chart source in flux-system and applies the third, which names no
ServiceAccount, as its namespace's `default` account. `git revert` then brings every release back to Ready.

The commit and its revert happen once per test run, in the `refusals` fixture (one cycle for all, to keep the
test short; shared by the xdist workers through the run folder); each test asserts one part of what was seen.
The three strategies are the tests' own (the examples stay untouched for the other tests), and the fixture holds
the plane's fleet-head lock from the breaking commit until the cluster is Ready again, so tests that read the
whole fleet's state never see it broken on purpose.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
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
# a foreign image (Kyverno), a chart source in flux-system (--no-cross-namespace-refs), no ServiceAccount
# (--default-service-account)
PROBES = FOREIGN, ACROSS, ANONYMOUS = ("hand-edit-image", "hand-edit-source", "hand-edit-identity")
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


@dataclass
class Refusals:
    """What `stratops check` said on the hand-made commit, and what the cluster did with it and its revert."""

    findings: dict[str, dict]  # by object, e.g. Deployment/demo/hand-edit-image
    kyverno: str  # helm-controller's message for the refused upgrade
    image_meanwhile: str  # the Deployment's image while the upgrade was refused
    anonymous: str  # Ready's message of the release without a ServiceAccount
    across: dict  # the HelmRelease with the cross-namespace source, once helm-controller logged its refusal
    chart_in_flux_system: dict | None  # the HelmChart helm-controller would have made in flux-system
    generations: dict[str, int]  # before the commit
    reverted: str


@pytest.fixture(scope="module")
def refusals(plane: Plane, tmp_path_factory) -> Refusals:
    """Once per test run: the first worker to get here breaks and reverts, the other reads what it saw."""
    done, failed = plane.folder / "refusals.json", plane.folder / "refusals-failed.txt"
    with open(plane.folder / "refusals.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            pytest.fail("the hand-made commit's cycle failed on the other worker:\n" + failed.read_text())
        if done.exists():
            return Refusals(**json.loads(done.read_text()))
        try:
            seen = _break_and_revert(plane, tmp_path_factory)
        except BaseException as exc:
            failed.write_text(str(exc))
            raise
        done.write_text(json.dumps(asdict(seen)))
        return seen


def _break_and_revert(plane: Plane, tmp_path_factory) -> Refusals:
    specs = tmp_path_factory.mktemp("probes")
    for name in PROBES:
        spec = write_spec(specs / name, name=name, tenant=TENANT)
        spec.write_text(spec.read_text().replace("cpu: 250m, memory: 256Mi", "cpu: 100m, memory: 128Mi"))
        stratops("deploy", str(spec), "--repo", str(plane.fleet), "--no-push")
    plane.reconcile()
    kube = plane.kube()
    plane.wait("the probe strategies Ready", lambda: all(_release_ready(kube, n) for n in PROBES))
    generations = {n: kube.get(*controlplane.HELMRELEASE, n, TENANT)["metadata"]["generation"] for n in PROBES}
    log = controlplane.State.load(plane.state).log("helm-controller")
    log_offset = log.stat().st_size
    refused_chart = f"{controlplane.FLUX_NAMESPACE}/{TENANT}-{ACROSS}"

    with plane.fleet_head():  # until Ready again: the other tests never see the fleet broken on purpose
        broken = _commit_by_hand(plane, _break_three_strategies, "strategies: hand-made edits")
        plane.reconcile()
        try:
            findings = {f["object"]: f for f in _check_at(plane, broken, tmp_path_factory.mktemp("check"))}
            kyverno = _wait_for(
                plane, "Kyverno's refusal", lambda: _upgrade_refusal(kube, FOREIGN, generations[FOREIGN])
            )
            image_meanwhile = _image(kube, FOREIGN)
            anonymous = _wait_for(
                plane,
                "helm-controller to act as the namespace's default account",
                lambda: _ready_message(kube, ANONYMOUS, generations[ANONYMOUS] + 1, "False"),
            )
            expected = f"cross-namespace references are not allowed: cannot access HelmChart {refused_chart}"
            _wait_for(plane, "helm-controller to refuse the chart source", lambda: _logged(log, log_offset, expected))
            across = kube.get(*controlplane.HELMRELEASE, ACROSS, TENANT)
            chart = kube.get("source.toolkit.fluxcd.io/v1", "HelmChart", *reversed(refused_chart.split("/")))
        finally:
            reverted = _revert(plane, broken)
        plane.reconcile()
        for name in PROBES:
            plane.wait(
                f"{name} Ready again after git revert",
                lambda n=name: _ready_after(plane, n, generations[n] + 1, reverted),
            )
    return Refusals(findings, kyverno, image_meanwhile, anonymous, across, chart, generations, reverted)


def _break_three_strategies(plane: Plane) -> None:
    folder = plane.fleet / "strategies" / TENANT
    path = folder / FOREIGN / "values.yaml"
    header, body = path.read_text().split("\n", 1)
    values = json.loads(body)
    values["image"] = {"repository": FOREIGN_IMAGE}
    path.write_text(f"{header}\n{json.dumps(values, indent=2)}\n")
    # the chart from flux-system's GitRepository, as fleets written before tenants had their own source
    path = folder / ACROSS / "helmrelease.yaml"
    path.write_text(
        path.read_text().replace("name: stratops-fleet", "name: flux-system\n        namespace: flux-system")
    )
    path = folder / ANONYMOUS / "helmrelease.yaml"
    release = yaml.safe_load(path.read_text())
    del release["spec"]["serviceAccountName"]
    path.write_text(yaml.safe_dump(release, sort_keys=False))


def test_kyverno_is_the_api_servers_enforcing_webhook(plane: Plane):
    """Kyverno is the API server's validating webhook for pods and their controllers in tenant namespaces, with
    failurePolicy Fail, and every fleet policy is there to deny (not audit), Ready, with its webhook configured."""
    kube = plane.kube()
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


def test_the_controllers_run_locked_down(plane: Plane):
    state = controlplane.State.load(plane.state)
    assert state.lockdown
    for controller, flags in controlplane.LOCKDOWN_FLAGS.items():
        argv = Path(f"/proc/{state.pids[controller]}/cmdline").read_bytes().decode().split("\0")
        assert set(flags) <= set(argv), (controller, argv)
    sync = plane.kube().get(*controlplane.KUSTOMIZE, "flux-system", controlplane.FLUX_NAMESPACE)
    assert sync["spec"]["serviceAccountName"] == "kustomize-controller"


def test_check_predicted_exactly_the_three_refusals(refusals: Refusals):
    expected = {f"Deployment/{TENANT}/{FOREIGN}", f"HelmRelease/{TENANT}/{ACROSS}", f"HelmRelease/{TENANT}/{ANONYMOUS}"}
    assert set(refusals.findings) == expected, refusals.findings


def test_kyverno_refuses_the_upgrade_check_predicted(refusals: Refusals):
    finding = refusals.findings[f"Deployment/{TENANT}/{FOREIGN}"]
    assert finding["severity"] == "error" and finding["stage"] == "policy", finding
    policy, message = finding["message"].split(": ", 1)
    assert policy == "restrict-image-registries" and FOREIGN_IMAGE in message
    # helm-controller's failed upgrade names the object, the webhook, and Kyverno's verdict word for word
    assert "admission webhook" in refusals.kyverno, refusals.kyverno
    assert f"object {TENANT}/{FOREIGN} apps/v1, Kind=Deployment" in refusals.kyverno, refusals.kyverno
    assert f"denied the request: Policy {policy} failed: {message}" in refusals.kyverno, refusals.kyverno
    assert refusals.image_meanwhile.startswith("ghcr.io/stratops/executor:")  # the last good release runs on


def test_a_chart_source_in_flux_system_is_refused_as_check_warned(refusals: Refusals):
    finding = refusals.findings[f"HelmRelease/{TENANT}/{ACROSS}"]
    assert finding["severity"] == "warning" and "--no-cross-namespace-refs" in finding["message"], finding
    assert "spec.chart.spec.sourceRef: GitRepository flux-system/flux-system" in finding["message"], finding
    # helm-controller refused it in its log (see the fixture) and made no HelmChart in flux-system; the
    # HelmRelease keeps the status of its previous generation
    assert refusals.chart_in_flux_system is None
    assert refusals.across["status"]["observedGeneration"] < refusals.across["metadata"]["generation"]


def test_a_release_without_identity_runs_as_default_as_check_warned(refusals: Refusals):
    finding = refusals.findings[f"HelmRelease/{TENANT}/{ANONYMOUS}"]
    assert finding["severity"] == "warning" and f"ServiceAccount {TENANT}/default" in finding["message"], finding
    assert f'User "system:serviceaccount:{TENANT}:default"' in refusals.anonymous, refusals.anonymous
    assert "forbidden" in refusals.anonymous, refusals.anonymous


def test_git_revert_brings_every_release_back(plane: Plane, refusals: Refusals):
    kube = plane.kube()
    for name in PROBES:  # the fixture waited for this; it holds now
        assert _ready_after(plane, name, refusals.generations[name] + 1, refusals.reverted)
    assert _image(kube, FOREIGN).startswith("ghcr.io/stratops/executor:")
    across = kube.get(*controlplane.HELMRELEASE, ACROSS, TENANT)
    assert across["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "stratops-fleet"}


def _wait_for(plane: Plane, what: str, probe: Callable[[], str | bool | None]):
    """Wait as plane.wait does; returns what PROBE returned when it first returned something."""
    seen: list = [None]
    plane.wait(what, lambda: bool(seen.append(probe()) or seen[-1]))
    return seen[-1]


# --- the fleet, by hand ------------------------------------------------------------------------


def _commit_by_hand(plane: Plane, edit: Callable[[Plane], None], message: str) -> str:
    """EDIT the work tree and commit it with plain git, under the lock every stratops writer takes."""
    with Fleet(plane.fleet).lock():
        edit(plane)
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
