"""values.yaml means the same to every YAML reader: Helm's (YAML 1.1, where `y` and `off` are booleans)
reads exactly what stratops wrote and predicted — checked with the real `helm template -f values.yaml`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import helm
from generator.assets import CHART_DIR
from generator.manifests import render_folder
from generator.render import dump_yaml, folder_files, values_for
from generator.spec import parse_spec
from generator.yamlio import load_helm_values, portable_json
from tests.foundation.test_spec import spec_text

PARAMS = {
    "y": "n",
    "on": "off",
    "yes": ["no", "Y", "N", "true", "~", "null", ""],
    "numbers": {"big": 1e20, "small": 1e-5, "int": 12, "octal-looking": "0o17", "go-float": "1e3"},
    "date": "2024-01-01",
    "sexagesimal": "1:30",
}


def _strategy():
    return parse_spec(spec_text(metadata__name="y", spec__params=PARAMS))


def _helm_reads(values_file: Path) -> dict:
    """The executor config the real helm renders from a values file, read as Helm reads YAML."""
    out = subprocess.run(
        [helm.helm_executable(), "template", "y", str(CHART_DIR), "--namespace", "alice", "-f", str(values_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    config = next(d for d in yaml.safe_load_all(out.stdout) if d and d["metadata"]["name"] == "y-config")
    return json.loads(config["data"]["executor.json"])


def test_helm_reads_values_yaml_as_written(tmp_path: Path):
    strategy = _strategy()
    files = folder_files(strategy)
    (tmp_path / "values.yaml").write_bytes(files["values.yaml"])
    config = _helm_reads(tmp_path / "values.yaml")
    assert config["params"] == PARAMS
    assert config["strategy"] == {"name": "y", "tenant": "alice"}
    # What stratops predicts for the fleet folder is what Helm rendered.
    rendered = render_folder(files, "strategies/alice/y", CHART_DIR.parent.parent)
    ours = next(o for o in rendered.objects if o["metadata"]["name"] == "y-config")
    assert json.loads(ours["data"]["executor.json"]) == config


def test_the_emulation_reads_yaml_as_helm_does(tmp_path: Path):
    """Plain YAML (as a hand-written values ConfigMap might hold) read by stratops' Helm loader equals what
    the real helm makes of it: `{y: n}` is `{"true": false}` there."""
    values = values_for(_strategy())
    plain = yaml.safe_dump(values)  # PyYAML leaves y, n, 1e3-like strings bare where YAML 1.1 takes them
    (tmp_path / "values.yaml").write_text(plain)
    predicted = load_helm_values(plain)
    assert predicted["params"]["true"] is False and predicted["params"]["numbers"]["go-float"] == 1000.0
    assert predicted["strategy"]["name"] is True  # the values schema then refuses it, as Helm does
    predicted["strategy"]["name"] = "y"
    (tmp_path / "fixed.yaml").write_text(portable_json(predicted))
    assert _helm_reads(tmp_path / "fixed.yaml")["params"] == predicted["params"]


@pytest.mark.parametrize("value", ["y", "n", "Y", "N", "yes", "off", "0o17", "1e3", "null", "~", "2024-01-01"])
def test_every_written_yaml_string_stays_a_string(value: str):
    """The fleet's other files (a tenant or strategy may be named `y`) read the same in YAML 1.1 and 1.2."""
    doc = {"metadata": {"name": value, "labels": {value: value}}, "items": [value]}
    written = dump_yaml(doc)
    assert load_helm_values(written) == yaml.safe_load(written) == doc
