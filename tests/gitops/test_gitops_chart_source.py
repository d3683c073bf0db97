"""The chart as source-controller packages it: labels the API server takes, and releases that upgrade only
when their own strategy (or the chart's version) changes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from generator import actions, kubeschema, tenants
from generator.assets import CHART_DIR
from generator.check import check_repo
from generator.fleet import Fleet
from generator.manifests import render_folder
from tests.gitops.gitops_helpers import git
from tests.support import AUTHOR, write_spec

# The chart's content digest per released version: a chart change must come with a new version, or fleets
# (reconcileStrategy ChartVersion) keep the old chart. Change the chart -> bump Chart.yaml -> record it here.
CHART_DIGESTS = {
    "0.2.0": "0950b5bb65150974",
    "0.3.0": "6f8d84b5f8c7504b",
    "0.4.0": "586a090decca471a",
    "0.5.0": "89f92fb6c98232d3",
}


@pytest.fixture
def fleet(fleet: Fleet) -> Fleet:
    tenants.add_tenant(fleet, "alice", "2", "4Gi", 10, AUTHOR)
    return fleet


def _folder(fleet: Fleet, name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (fleet.path / "strategies/alice" / name).iterdir()}


def _deploy(fleet: Fleet, spec_dir: Path, name: str, **spec) -> None:
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir / name, name=name, **spec)), AUTHOR)


def _labels(fleet: Fleet, name: str) -> dict[str, str]:
    rendered = render_folder(_folder(fleet, name), f"strategies/alice/{name}", fleet.path)
    return rendered.workload()["spec"]["template"]["metadata"]["labels"]


def test_helm_chart_label_is_stable_across_commits(fleet: Fleet, spec_dir: Path):
    _deploy(fleet, spec_dir, "one")
    release = yaml.safe_load(_folder(fleet, "one")["helmrelease.yaml"])
    assert release["spec"]["chart"]["spec"]["reconcileStrategy"] == "ChartVersion"
    before = _labels(fleet, "one")
    _deploy(fleet, spec_dir, "two")  # another strategy's commit
    assert _labels(fleet, "one") == before
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert before["helm.sh/chart"] == f"strategy-executor-{chart['version']}"


def test_revision_strategy_renders_the_version_source_controller_packages(fleet: Fleet, spec_dir: Path):
    """A hand-written `reconcileStrategy: Revision` gets `<version>+<sha12>`; the label replaces `+` by `_`."""
    _deploy(fleet, spec_dir, "one")
    path = fleet.path / "strategies/alice/one/helmrelease.yaml"
    path.write_text(path.read_text().replace("reconcileStrategy: ChartVersion", "reconcileStrategy: Revision"))
    git(fleet.path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "revision strategy")
    head = git(fleet.path, "rev-parse", "HEAD").strip()
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    rendered = render_folder(_folder(fleet, "one"), "strategies/alice/one", fleet.path)
    for obj in rendered.objects:
        assert obj["metadata"]["labels"]["helm.sh/chart"] == f"strategy-executor-{chart['version']}_{head[:12]}"
        assert kubeschema.label_problems(obj) == []
    assert check_repo(fleet.path).ok


def test_labels_the_api_server_refuses_are_findings():
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "labels": {"helm.sh/chart": "strategy-executor-0.1.0+0123456789ab"}},
        "spec": {"template": {"metadata": {"labels": {"bad key!": "ok", "long": "x" * 64}}}},
    }
    problems = [f"{p.where}: {p.what}" for p in kubeschema.label_problems(obj)]
    assert len(problems) == 3
    assert (
        "Deployment/x .metadata.labels: label helm.sh/chart: value 'strategy-executor-0.1.0+0123456789ab'"
        in (problems[0])
    )
    assert "'bad key!' is not a valid qualified name" in problems[1] and "'xxxx" in problems[2]


def test_a_chart_edit_without_a_version_bump_is_refused(fleet: Fleet, spec_dir: Path):
    _deploy(fleet, spec_dir, "one")
    base = git(fleet.path, "rev-parse", "HEAD").strip()
    notes = fleet.path / "charts/strategy-executor/templates/NOTES.txt"
    notes.write_text(notes.read_text() + "\nedited\n")
    lines = [str(f) for f in check_repo(fleet.path, changed_since=base).errors]
    assert any("charts/strategy-executor/Chart.yaml" in line and "bump `version`" in line for line in lines), lines
    meta = fleet.path / "charts/strategy-executor/Chart.yaml"
    meta.write_text(re.sub(r"(?m)^version: .*$", "version: 9.0.0", meta.read_text()))
    assert check_repo(fleet.path, changed_since=base).ok


def _chart_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in CHART_DIR.rglob("*") if p.is_file() and p.name != "Chart.yaml"):
        digest.update(path.relative_to(CHART_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def test_chart_changes_come_with_a_new_version():
    version = str(yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["version"])
    assert CHART_DIGESTS.get(version) == _chart_digest(), (
        f"the chart's content changed: bump its version (now {version}) and record {_chart_digest()} for it"
    )
