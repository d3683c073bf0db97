"""`stratops check`: a fleet repo edited by hand into invalid states has every problem named, with file and object."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import actions, tenants
from generator.check import check_repo
from generator.fleet import Fleet
from tests import needs
from tests.gitops.gitops_helpers import git, run
from tests.support import AUTHOR, write_spec


@pytest.fixture
def repo(fleet: Fleet, spec_dir: Path) -> Path:
    tenants.add_tenant(fleet, "alice", "2", "4Gi", 10, AUTHOR)
    for name in ("one", "two"):
        actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir / name, name=name)), AUTHOR)
    return fleet.path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def _lines(report) -> list[str]:
    return [str(f) for f in report.errors]


def _has(lines: list[str], *parts: str) -> bool:
    return any(all(p in line for p in parts) for line in lines)


def test_clean_repo_has_no_findings(repo: Path):
    report = check_repo(repo)
    assert report.findings == [] and report.ok
    assert "strategies/alice/one" in report.checked and "infrastructure/tenants/alice/namespace.yaml" in report.checked


def test_every_hand_made_problem_is_named(repo: Path):
    one, two = repo / "strategies/alice/one", repo / "strategies/alice/two"
    _edit(repo / "clusters/local/strategies.yaml", "prune: true", "prune: 'yes'")
    _edit(repo / "clusters/local/policies.yaml", "name: infrastructure", "name: infra")
    _edit(one / "helmrelease.yaml", "mode: enabled", "mode: sometimes")
    _edit(two / "values.yaml", '"cpu": "250m"', '"cpu": "3"')
    _edit(repo / "infrastructure/system/market-feed.yaml", "replicas: 1", "replicas: one")
    (repo / "infrastructure/tenants/alice/extra.yaml").write_text("kind: [broken\n")
    _edit(
        repo / "infrastructure/tenants/alice/kustomization.yaml",
        "- networkpolicy.yaml",
        "- networkpolicy.yaml\n- gone.yaml",
    )
    lines = _lines(check_repo(repo))
    assert _has(lines, "[flux]", "clusters/local/strategies.yaml", "Kustomization/flux-system/strategies", "spec.prune")
    assert _has(lines, "[layout]", "clusters/local/policies.yaml", "dependsOn 'infra'")
    assert _has(lines, "[flux]", "strategies/alice/one/helmrelease.yaml", "HelmRelease/alice/one", "sometimes")
    # values over the tenant's per-strategy cap of 2: refused by the values check or the caps policy
    assert _has(lines, "strategies/alice/two", "require-resources-within-caps")
    assert _has(
        lines, "[kubernetes]", "infrastructure/system/market-feed.yaml", "Deployment/stratops-system/market-feed"
    )
    assert _has(lines, "[build]", "infrastructure/tenants/alice/kustomization.yaml", "'gone.yaml' does not exist")
    assert len(lines) >= 6


def test_broken_yaml_and_wrong_folder(repo: Path):
    one = repo / "strategies/alice/one"
    _edit(one / "kustomization.yaml", "resources:", "resources: [\n")
    _edit(repo / "strategies/alice/two/strategy.yaml", "tenant: alice", "tenant: bob")
    lines = _lines(check_repo(repo))
    assert _has(lines, "strategies/alice/one", "kustomization.yaml")
    assert _has(
        lines, "[layout]", "strategies/alice/two/strategy.yaml", "says bob/two but lives in the folder of alice/two"
    )


def test_policy_violation_added_by_hand_is_caught(repo: Path):
    one = repo / "strategies/alice/one"
    (one / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: sneaky}\n"
        "spec:\n  containers:\n  - name: x\n    image: docker.io/evil/miner:latest\n"
    )
    _edit(one / "kustomization.yaml", "- helmrelease.yaml", "- helmrelease.yaml\n  - pod.yaml")
    lines = _lines(check_repo(repo))
    assert _has(lines, "[policy]", "strategies/alice/one", "Pod/alice/sneaky", "restrict-image-registries")
    assert _has(lines, "[policy]", "Pod/alice/sneaky", "require-run-as-non-root")


def test_missing_tenant_namespace_and_quota(repo: Path, fleet: Fleet, spec_dir: Path):
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir / "b", tenant="bob")), AUTHOR)
    shutil.rmtree(repo / "infrastructure/tenants/bob")  # removed by hand: deploy and `tenant remove` refuse it
    _edit(repo / "infrastructure/tenants/alice/resourcequota.yaml", "requests.cpu: '2'", "requests.cpu: 400m")
    lines = _lines(check_repo(repo))
    assert _has(lines, "[layout]", "strategies/bob/momentum-btc", "Namespace/bob", "stratops tenant add bob")
    assert _has(
        lines,
        "[quota]",
        "infrastructure/tenants/alice/resourcequota.yaml",
        "ResourceQuota/alice/tenant-quota",
        "request 500m > quota 400m",
    )


def test_changed_since_checks_only_what_changed(repo: Path):
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "state", "--allow-empty")
    base = git(repo, "rev-parse", "HEAD").strip()
    _edit(repo / "strategies/alice/one/helmrelease.yaml", "mode: enabled", "mode: sometimes")
    full = check_repo(repo, changed_since=base)
    assert [f.file for f in full.errors] == ["strategies/alice/one/helmrelease.yaml"]
    assert "strategies/alice/two" not in full.checked and "strategies/alice/one" in full.checked
    # A change outside strategies/ (chart, policies, infrastructure) checks everything.
    _edit(repo / "infrastructure/system/signal-sink.yaml", "replicas: 1", "replicas: 1\n  paused: maybe")
    lines = _lines(check_repo(repo, changed_since=base))
    assert _has(lines, "signal-sink.yaml", "paused") and _has(lines, "strategies/alice/one/helmrelease.yaml")


def test_cli_exit_codes(repo: Path):
    code, out = run("check", str(repo))
    assert code == 0, out
    _edit(repo / "strategies/alice/one/helmrelease.yaml", "mode: enabled", "mode: sometimes")
    code, out = run("check", str(repo))
    assert code == 1 and "error: [flux] strategies/alice/one/helmrelease.yaml HelmRelease/alice/one" in out
    code, out = run("check", str(repo), "--changed-since", "no-such-rev")
    assert code == 2 and "cannot tell what changed since 'no-such-rev'" in out
    code, out = run("check", str(repo / "nope"))
    assert code == 2


def test_flux_bootstrap_objects_are_validated_too(repo: Path):
    sync = repo / "clusters/local/flux-system/gotk-sync.yaml"
    sync.parent.mkdir()
    sync.write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
        "metadata: {name: flux-system, namespace: flux-system}\n"
        "spec: {interval: 1m, url: 'ssh://git@example.com/fleet', ref: {branch: main}}\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: flux-system, namespace: flux-system}\n"
        "spec: {interval: 10m, path: ./clusters/local, prune: true,\n"
        "       sourceRef: {kind: GitRepository, name: flux-system}}\n"
    )
    assert check_repo(repo).findings == []
    sync.write_text(sync.read_text().replace("ref: {branch: main}", "ref: {branch: main}, depth: 1"))
    lines = _lines(check_repo(repo))
    assert _has(
        lines,
        "[flux]",
        "clusters/local/flux-system/gotk-sync.yaml",
        "GitRepository/flux-system/flux-system",
        "'depth' was unexpected",
    )


@pytest.mark.parametrize("folder", ["infrastructure/system", "infrastructure/tenants/alice", "policies"])
def test_plain_kustomizations_build_like_kustomize(repo: Path, folder: str):
    from generator.check import _Checker

    ours = [o.obj for o in _Checker(repo, None)._build_path(folder)]
    theirs = [d for d in yaml.safe_load_all(_kustomize_build(repo / folder)) if d]
    assert sorted(map(_canonical, ours)) == sorted(map(_canonical, theirs))


def _canonical(obj: dict) -> str:
    """JSON text; blank lines inside strings dropped (go-yaml keeps one more in a folded scalar's indented line)."""
    return re.sub(r"(\\n)+", r"\\n", json.dumps(obj, sort_keys=True))


def _kustomize_build(folder: Path) -> str:
    """The real kustomize (built by `make components`) on FOLDER."""
    kustomize = str(needs.component("kustomize"))
    return subprocess.run([kustomize, "build", str(folder)], capture_output=True, text=True, check=True).stdout


def test_cli_json_findings(repo: Path):
    _edit(repo / "strategies/alice/one/helmrelease.yaml", "mode: enabled", "mode: sometimes")
    code, out = run("check", str(repo), "--json")
    data = json.loads(out[: out.rindex("}") + 1])
    assert code == 1 and data["ok"] is False
    assert [(f["stage"], f["file"], f["object"]) for f in data["findings"]] == [
        ("flux", "strategies/alice/one/helmrelease.yaml", "HelmRelease/alice/one")
    ]


def test_a_folder_helm_cannot_render_still_gets_every_other_check(repo: Path):
    one = repo / "strategies/alice/one"
    _edit(one / "helmrelease.yaml", "chart: ./charts/strategy-executor", "chart: ./charts/gone")  # render fails
    _edit(one / "helmrelease.yaml", "mode: enabled", "mode: sometimes")  # the Flux schema
    _edit(one / "values.yaml", '"cpu": "250m"', '"cpu": "lots"')  # the values schema
    (one / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: sneaky}\n"
        "spec:\n  containers:\n  - name: x\n    image: docker.io/evil/miner:latest\n"
    )
    _edit(one / "kustomization.yaml", "- helmrelease.yaml", "- helmrelease.yaml\n  - pod.yaml")  # the policies
    report = check_repo(repo)
    lines = _lines(report)
    assert _has(lines, "[render]", "strategies/alice/one", "'./charts/gone'")
    assert _has(lines, "[flux]", "strategies/alice/one/helmrelease.yaml", "HelmRelease/alice/one", "sometimes")
    assert _has(lines, "[values]", "strategies/alice/one", "resources.cpu", "lots")
    assert _has(lines, "[policy]", "strategies/alice/one", "Pod/alice/sneaky", "restrict-image-registries")
    # what could not be checked is said, not skipped in silence
    assert any(
        "chart's objects against the Kubernetes schemas and policies not checked" in str(f) for f in report.warnings
    )


def test_a_folder_kustomize_cannot_build_says_what_was_not_checked(repo: Path):
    _edit(repo / "strategies/alice/one/kustomization.yaml", "kind: Kustomization", "kind: Kustomization\nfoo: [bar]")
    _edit(repo / "strategies/alice/two/helmrelease.yaml", "mode: enabled", "mode: sometimes")
    report = check_repo(repo)
    assert _has(_lines(report), "strategies/alice/one/kustomization.yaml")
    assert _has([str(f) for f in report.warnings], "strategies/alice/one", "not checked: they need the kustomize build")
    assert _has(_lines(report), "[flux]", "strategies/alice/two/helmrelease.yaml", "sometimes")


def test_a_folder_without_kustomization_is_checked_and_counted_against_the_quota(repo: Path):
    one = repo / "strategies/alice/one"
    (one / "kustomization.yaml").unlink()
    (one / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: sneaky, namespace: alice}\n"
        "spec:\n  containers:\n  - name: x\n    image: docker.io/evil/miner:latest\n"
    )
    _edit(repo / "infrastructure/tenants/alice/resourcequota.yaml", "requests.cpu: '2'", "requests.cpu: 400m")
    lines = _lines(check_repo(repo))
    assert _has(lines, "[layout]", "strategies/alice/one", "has no kustomization.yaml")
    pod = [line for line in lines if "Pod/alice/sneaky" in line and "restrict-image-registries" in line]
    assert len(pod) == 1 and "strategies/alice/one/pod.yaml" in pod[0]  # checked once, as Flux applies it
    assert _has(lines, "[quota]", "ResourceQuota/alice/tenant-quota", "request 500m > quota 400m")


def test_a_broken_policy_file_keeps_the_others_checking(repo: Path):
    broken = repo / "policies/restrict-image-registries/restrict-image-registries.yaml"
    _edit(broken, "expression: \"['ghcr.io/stratops/']\"", 'expression: "object.spec.("')
    one = repo / "strategies/alice/one"
    (one / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: sneaky}\n"
        "spec:\n  containers:\n  - name: x\n    image: ghcr.io/stratops/x:1\n"
    )
    _edit(one / "kustomization.yaml", "- helmrelease.yaml", "- helmrelease.yaml\n  - pod.yaml")
    lines = _lines(check_repo(repo))
    broken_rel = "policies/restrict-image-registries/restrict-image-registries.yaml"
    assert _has(lines, "[policy]", f"{broken_rel}: policy 'restrict-image-registries'", "no object was checked")
    assert _has(lines, "[policy]", "Pod/alice/sneaky", "require-run-as-non-root")
