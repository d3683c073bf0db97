"""`stratops check` knows what the real Flux CRDs forbid (schemas and CEL rules, generated from the pinned
controllers' own modules) and the references between objects; the docs' own recipes pass it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from generator import actions, flux, tenants
from generator.check import check_repo
from generator.fleet import Fleet
from generator.flux import regenerate
from tests import needs
from tests.support import AUTHOR, write_spec

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def repo(fleet: Fleet, spec_dir: Path) -> Path:
    tenants.add_tenant(fleet, "alice", "2", "4Gi", 10, AUTHOR)
    for name in ("one", "two"):
        actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir / name, name=name)), AUTHOR)
    return fleet.path


def _edit(path: Path, change) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))


def _errors(root: Path) -> list[str]:
    return [str(f) for f in check_repo(root).errors]


def test_cross_object_mistakes_are_named(repo: Path):
    one, two = repo / "strategies/alice/one/helmrelease.yaml", repo / "strategies/alice/two/helmrelease.yaml"
    source = yaml.safe_load(one.read_text())["spec"]["chart"]["spec"]["sourceRef"]

    def typo_and_escape(doc):
        doc["spec"]["chart"]["spec"]["sourceRef"]["name"] = "fleet-typo"
        doc["spec"]["targetNamespace"] = "kube-system"
        doc["spec"]["dependsOn"] = [{"name": "three"}]

    _edit(one, typo_and_escape)
    _edit(two, lambda d: d["spec"].update(chartRef={"kind": "OCIRepository", "name": "chart"}))
    _edit(repo / "clusters/local/policies.yaml", lambda d: d["spec"]["sourceRef"].update(name="flux-sytem"))
    lines = _errors(repo)
    expected = [
        ("strategies/alice/one/helmrelease.yaml", "HelmRelease/alice/one", "spec.chart.spec.sourceRef", "fleet-typo"),
        ("HelmRelease/alice/one", "spec.targetNamespace: 'kube-system' escapes the tenant namespace 'alice'"),
        ("HelmRelease/alice/one", "spec.dependsOn[0]: HelmRelease alice/three does not exist"),
        ("HelmRelease/alice/two", "either chart or chartRef must be set"),
        ("HelmRelease/alice/two", "spec.chartRef: OCIRepository alice/chart does not exist"),
        ("clusters/local/policies.yaml", "Kustomization/flux-system/policies", "GitRepository flux-system/flux-sytem"),
    ]
    for parts in expected:
        assert any(all(p in line for p in parts) for line in lines), (parts, lines)
    assert source["kind"] == "GitRepository"


def test_crd_cel_rules_are_evaluated():
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "x", "namespace": "alice"},
        "spec": {
            "interval": "10m",
            "chartRef": {"kind": "OCIRepository", "name": "c"},
            "upgrade": {"strategy": {"name": "RemediateOnFailure", "retryInterval": "1m"}},
        },
    }
    assert [p.what for p in flux.validate(release)] == [".retryInterval can only be set when .name is 'RetryOnFailure'"]
    release["spec"]["upgrade"]["strategy"]["name"] = "RetryOnFailure"
    assert flux.validate(release) == []
    repo = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "c", "namespace": "alice"},
        "spec": {
            "interval": "1h",
            "url": "https://example.com/x.git",
            "provider": "generic",
            "serviceAccountName": "a",
        },
    }
    assert [p.what for p in flux.validate(repo)] == [
        "serviceAccountName can only be set when provider is 'azure' or 'aws'"
    ]


def _doc_files(page: Path) -> dict[str, str]:
    """The YAML blocks of a docs page whose first line names a fleet file (`# infrastructure/...`)."""
    blocks = re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)
    files = {}
    for block in blocks:
        text = "\n".join(line.removeprefix("   ") for line in block.splitlines()) + "\n"
        first = text.splitlines()[0]
        if first.startswith("# ") and "/" in first and first.endswith(".yaml"):
            files[first[2:].strip()] = text
    return files


def test_the_docs_kyverno_recipe_passes_check(repo: Path):
    files = _doc_files(DOCS / "cluster.md")
    assert {p for p in files if p.startswith("infrastructure/kyverno/")} == {
        f"infrastructure/kyverno/{n}.yaml" for n in ("kustomization", "namespace", "repository", "release")
    }
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    report = check_repo(repo)
    assert report.findings == [], [str(f) for f in report.findings]
    assert "infrastructure/kyverno/release.yaml" in report.checked


def test_every_flux_kind_the_docs_name_has_a_schema():
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    named = set(
        re.findall(r"\b(HelmRepository|OCIRepository|GitRepository|HelmRelease|Kustomization|HelmChart)\b", text)
    )
    kinds = {kind for _, kind in flux.schemas()}
    assert named <= kinds and {"HelmRepository", "OCIRepository"} <= kinds


def test_shipped_schemas_are_the_pinned_crds():
    """Regenerated from the controllers' modules (Go's module cache), the schemas equal the shipped ones."""
    needs.tool("go", "install Go 1.26 (`make components` needs it too)")
    index = json.loads((flux.SCHEMA_DIR / flux.INDEX_FILE).read_text())
    assert index["components"] == {name: version for name, (_, version) in flux.COMPONENTS.items()}
    for name, (module, version) in flux.COMPONENTS.items():
        bases = regenerate.module_dir(module, version) / "config" / "crd" / "bases"
        pinned = regenerate.pinned_version(name, module)
        assert pinned in (None, version), f"tools/go/{name} builds {pinned}, the schemas are from {version}"
        for path in sorted(bases.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            for ver in crd["spec"]["versions"]:
                key = (f"{crd['spec']['group']}/{ver['name']}", crd["spec"]["names"]["kind"])
                shipped = json.loads((flux.SCHEMA_DIR / flux.schemas()[key]).read_text())
                source = f"{module}@{version} config/crd/bases/{path.name}"
                assert regenerate.schema_for(crd, ver, source) == shipped, key
