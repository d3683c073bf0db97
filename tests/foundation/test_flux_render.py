"""The local renderer reproduces what Flux produces: kustomize names and hashes, and code byte-identical in the pod."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from generator.assets import PACKAGE_DIR
from generator.kustomize import build, configmap_hash
from generator.manifests import render_folder
from generator.render import folder_files
from generator.spec import parse_spec
from tests import needs
from tests.foundation.test_spec import spec_text

# Everything that Helm --set parsing, YAML or JSON could mangle.
NASTY = (
    "from executor import Strategy\n\n\nclass Momentum(Strategy):\n"
    '    """commas, a,b=c, braces {x: [1, 2]}, quotes \'single\' "double", backslashes \\\\ \\n \\t"""\n'
    '    TEXT = "naïve café 日本語 🚀 <&> \\u2028"\n'
    "    PATH = r'C:\\temp\\new'\n"
    "    YAML = '--- !!python/object:os.system\\nkey: value # not a comment'\n"
    "    TABS = '\\t\\ttrailing spaces   '\n"
)


def nasty_strategy():
    return parse_spec(spec_text(spec__code={"inline": NASTY + "\t# tab-indented comment \r\n", "class": "Momentum"}))


def chart_root() -> Path:
    """A fleet-like root holding charts/strategy-executor."""
    return PACKAGE_DIR.parent


def test_code_arrives_in_the_pod_byte_identical():
    strategy = nasty_strategy()
    rendered = render_folder(folder_files(strategy), "strategies/alice/momentum-btc", chart_root())
    deployment = rendered.workload()
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "code")
    code_cm = next(
        o
        for o in rendered.all_objects()
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == volume["configMap"]["name"]
    )
    mounted = code_cm["data"][volume["configMap"]["items"][0]["path"]]
    assert mounted.encode() == strategy.source.encode()
    # The pod restarts when the code changes: its digest is in the pod template.
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["stratops.io/code-sha256"] == strategy.code_sha256


def test_values_key_is_never_declared_twice():
    files = folder_files(nasty_strategy())
    release = next(o for o in build(files, "x") if o["kind"] == "HelmRelease")
    assert "values" not in release["spec"]  # nothing inline: every key comes from exactly one source
    values_file = yaml.safe_load(files["values.yaml"])
    targeted = [ref for ref in release["spec"]["valuesFrom"] if "targetPath" in ref]
    assert [(r["targetPath"], r["literal"]) for r in targeted] == [("code.source", True)]
    assert "source" not in values_file["code"]


def test_hash_matches_a_known_kustomize_output():
    # `kustomize build` of configMapGenerator {name: x, files: [a.txt]} with a.txt = "hello\n"
    assert configmap_hash({"metadata": {"name": "x"}, "data": {"a.txt": "hello\n"}}) == "7bbhf79gm2"


def test_build_equals_kustomize(tmp_path: Path):
    kustomize = str(needs.component("kustomize"))
    files = folder_files(nasty_strategy())
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = subprocess.run([kustomize, "build", str(tmp_path)], capture_output=True, check=True).stdout
    theirs = sorted(yaml.safe_load_all(out), key=lambda o: (o["kind"], o["metadata"]["name"]))
    mine = sorted(build(files, "x"), key=lambda o: (o["kind"], o["metadata"]["name"]))
    assert mine == theirs


def test_unsupported_kustomize_fields_are_refused_by_name():
    files = folder_files(nasty_strategy())
    files["kustomization.yaml"] += b"patches:\n  - path: evil.yaml\n"
    with pytest.raises(Exception, match="cannot build x") as info:
        build(files, "x")
    assert "unsupported field(s) patches" in str(info.value.problems[0])


def test_kustomization_cannot_reach_outside_its_folder():
    files = folder_files(nasty_strategy())
    files["kustomization.yaml"] = files["kustomization.yaml"].replace(b"- helmrelease.yaml", b"- ../../../etc/x.yaml")
    with pytest.raises(Exception, match="cannot build x") as info:
        build(files, "x")
    assert "is not a file of this folder" in str(info.value.problems[0])


def test_everything_the_pod_mounts_belongs_to_the_helm_release():
    """A rollback (upgrade.remediation) reinstalls the old release's manifest: the ConfigMaps the old Deployment
    mounts must be in that manifest, not kustomize-generated objects that `prune: true` deleted on the redeploy."""
    old, new = nasty_strategy(), parse_spec(spec_text(spec__code={"inline": NASTY + "# v2\n", "class": "Momentum"}))
    manifests = {}
    for strategy in (old, new):
        rendered = render_folder(folder_files(strategy), "strategies/alice/momentum-btc", chart_root())
        pod = rendered.workload()["spec"]["template"]["spec"]
        mounted = {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
        helm_owned = {o["metadata"]["name"] for o in rendered.objects if o["kind"] == "ConfigMap"}
        assert mounted and mounted <= helm_owned, (mounted, helm_owned)
        manifests[strategy.source] = {o["metadata"]["name"]: o for o in rendered.objects if o["kind"] == "ConfigMap"}
    # The old release's own manifest carries the old code: rolling back restores it byte for byte.
    old_code = manifests[old.source]["momentum-btc-code"]["data"][old.code_file]
    assert old_code == old.source != manifests[new.source]["momentum-btc-code"]["data"][new.code_file]


def test_helm_controller_post_renderers_label_every_object():
    files = folder_files(nasty_strategy())
    files["helmrelease.yaml"] += b"  commonMetadata:\n    labels: {team: quant}\n    annotations: {owner: ann}\n"
    rendered = render_folder(files, "strategies/alice/momentum-btc", chart_root())
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        assert labels["helm.toolkit.fluxcd.io/name"] == "momentum-btc" and labels["team"] == "quant"
        assert (
            labels["helm.toolkit.fluxcd.io/namespace"] == "alice" and obj["metadata"]["annotations"]["owner"] == "ann"
        )
    files["helmrelease.yaml"] += b"  postRenderers:\n    - kustomize: {patches: []}\n"
    with pytest.raises(Exception, match="postRenderers are not reproduced"):
        render_folder(files, "strategies/alice/momentum-btc", chart_root())
