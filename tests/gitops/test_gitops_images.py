"""Your own registry: `stratops init --image/--registry/--image-pull-secret` reach the chart, the feed and sink
and the registry policy; and every `stratops` command docs/cluster.md shows parses as written."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import click
import yaml

from generator import actions, layout, tenants
from generator.check import check_repo
from generator.cli import main as cli
from generator.manifests import render_folder
from tests.gitops.gitops_helpers import run
from tests.support import AUTHOR, FLEET_URL, write_spec

DOCS = Path(__file__).resolve().parents[2] / "docs"
IMAGE = "registry.acme.io/team/executor"


def test_own_registry_and_pull_secret_reach_every_pod(tmp_path: Path):
    images = layout.Images(IMAGE, "regcred")
    fleet = actions.init(tmp_path / "fleet", "prod", AUTHOR, FLEET_URL, images=images)
    tenants.add_tenant(fleet, "alice", "2", "4Gi", 10, AUTHOR)
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(tmp_path / "s", name="one")), AUTHOR)
    folder = fleet.path / "strategies/alice/one"
    rendered = render_folder({p.name: p.read_bytes() for p in folder.iterdir()}, "x", fleet.path)
    pod = rendered.workload()["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"].startswith(f"{IMAGE}:")
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    for name in ("market-feed", "signal-sink"):
        deployment = next(yaml.safe_load_all((fleet.path / f"infrastructure/system/{name}.yaml").read_text()))
        spec = deployment["spec"]["template"]["spec"]
        assert spec["containers"][0]["image"].startswith(f"{IMAGE}:") and spec["imagePullSecrets"] == [
            {"name": "regcred"}
        ]
    assert check_repo(fleet.path).findings == []
    # The fleet's policy now allows only registry.acme.io/team/: the old default image is refused.
    values = folder / "values.yaml"
    values.write_text(
        values.read_text().replace('"code": {', '"image": {"repository": "ghcr.io/stratops/executor"},\n  "code": {')
    )
    lines = [str(f) for f in check_repo(fleet.path).errors]
    assert any("restrict-image-registries" in line and "registry.acme.io/team/" in line for line in lines), lines


def test_image_settings_are_validated(tmp_path: Path):
    code, out = run("init", str(tmp_path / "a"), "--image", "Registry/UPPER", "--author", "A <a@b.c>")
    assert code == 2 and "invalid image settings" in out and "--image" in out
    code, out = run(
        "init", str(tmp_path / "b"), "--image", IMAGE, "--registry", "ghcr.io/other/", "--author", "A <a@b.c>"
    )
    assert code == 2 and "would break the registry policy" in out
    assert "allow it too: --registry registry.acme.io/team/" in out
    code, out = run("init", str(tmp_path / "c"), "--image-pull-secret", "Bad_Name", "--author", "A <a@b.c>")
    assert code == 2 and "invalid image pull secret" in out


def _commands(page: Path) -> list[list[str]]:
    """Every `stratops ...` command in the page's sh blocks (continuation lines joined, comments dropped)."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["stratops"]:
                out.append(words[1:])
    return out


def test_every_stratops_command_in_the_cluster_guide_parses():
    commands = _commands(DOCS / "cluster.md")
    assert len(commands) >= 10
    for words in commands:
        group: click.Group = cli
        while isinstance(group, click.Group):
            name, words = words[0], words[1:]
            command = group.get_command(click.Context(group), name)
            assert command is not None, f"stratops: no command {name!r}"
            group = command
        group.make_context(group.name, list(words))  # raises on an unknown option or a missing argument


def test_the_guides_tag_command_finds_the_chart_app_version():
    page = (DOCS / "cluster.md").read_text()
    tag_line = next(line.strip() for line in page.splitlines() if line.strip().startswith("TAG=$("))
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(["sh", "-c", f"{tag_line}; echo $TAG"], cwd=root, capture_output=True, text=True, check=True)
    chart = yaml.safe_load((root / "charts/strategy-executor/Chart.yaml").read_text())
    assert out.stdout.strip() == chart["appVersion"]
