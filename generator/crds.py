"""Schemas of the third-party kinds the chart can render: the prometheus-operator PodMonitor.

`stratops check` and the preflight validate a rendered PodMonitor (monitoring.coreos.com/v1) against a
strict JSON schema shipped in generator/schemas/, generated from the CRD of the pinned prometheus-operator
module (its zip carries example/prometheus-operator-crd/*.yaml). Strict as the Flux schemas are
(generator.flux.regenerate.strict): unknown fields are errors, `status` is left out.

    python -m generator.crds fetch          # the pinned CRD from the Go module proxy into .tools/crds (make crds)
    python -m generator.crds regenerate     # the shipped schema from the fetched CRD (maintainers)

The tests hold the shipped schema against the fetched CRD and validate the chart's PodMonitor with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from .jsonschemas import Draft202012

MODULE, VERSION = "github.com/prometheus-operator/prometheus-operator", "v0.85.0"
# (apiVersion, kind) -> (CRD file in the module, shipped schema file)
KINDS = {
    ("monitoring.coreos.com/v1", "PodMonitor"): (
        "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
        "podmonitor-monitoring-v1.json",
    ),
}
SCHEMA_DIR = Path(__file__).parent / "schemas"
TOOLS_DIR = Path(__file__).resolve().parents[1] / ".tools" / "crds"


def crd_path(kind: str, tools: Path = TOOLS_DIR) -> Path:
    """Where `fetch` puts the CRD of `kind` (PodMonitor)."""
    for (_, known), (member, _) in KINDS.items():
        if known == kind:
            return tools / Path(member).name
    raise KeyError(kind)


@cache
def validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """A validator of a known third-party kind; None for any other."""
    entry = KINDS.get((api_version, kind))
    if entry is None:
        return None
    return Draft202012(json.loads((SCHEMA_DIR / entry[1]).read_text()))


def schema_from_crd(crd: dict[str, Any], version: str) -> dict[str, Any]:
    """The strict JSON schema of one served version of a CRD (the shipped files are this, written out)."""
    from .flux.regenerate import strict  # maintainers' tool; not imported at run time

    served = next(v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served"))
    schema = strict(served["schema"]["openAPIV3Schema"])
    schema["properties"].pop("status", None)
    schema["properties"]["apiVersion"] = {"const": f"{crd['spec']['group']}/{version}"}
    schema["properties"]["kind"] = {"const": crd["spec"]["names"]["kind"]}
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$comment"] = f"CRD {crd['metadata']['name']} {version}, from {MODULE}@{VERSION}"
    return schema


def fetch(tools: Path = TOOLS_DIR) -> list[Path]:
    """Download the pinned module through the Go module proxy and copy its CRD files into `tools`."""
    run = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{VERSION}"], capture_output=True, text=True, check=False
    )
    info = json.loads(run.stdout or "{}")
    if run.returncode != 0 or "Dir" not in info:
        raise SystemExit(f"go mod download {MODULE}@{VERSION} failed: {info.get('Error') or run.stderr.strip()}")
    tools.mkdir(parents=True, exist_ok=True)
    out = []
    for member, _ in KINDS.values():
        target = tools / Path(member).name
        shutil.copyfile(Path(info["Dir"]) / member, target)
        target.chmod(0o644)  # the module cache is read-only
        out.append(target)
    return out


def regenerate(tools: Path = TOOLS_DIR) -> None:
    import yaml

    for (api_version, kind), (member, schema_file) in KINDS.items():
        crd = yaml.safe_load((tools / Path(member).name).read_text())
        schema = schema_from_crd(crd, api_version.split("/")[1])
        (SCHEMA_DIR / schema_file).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"wrote {schema_file} ({kind})")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else TOOLS_DIR
    if command == "fetch":
        for path in fetch(target):
            print(f"fetched {path}")
    elif command == "regenerate":
        regenerate(target)
    else:
        raise SystemExit("usage: python -m generator.crds fetch|regenerate [FOLDER]")
