"""Regenerate the shipped Flux JSON schemas from the real CRDs (maintainers only; not used at run time).

The CRDs are read from the controllers' own Go modules at the pinned versions
(`config/crd/bases/*.yaml`, shipped in the module zips): `go mod download -json
<module>@<version>` puts them in Go's module cache. Run (Go and the module proxy needed):

    python -m generator.flux.regenerate

Every served version of every CRD becomes one strict JSON schema: unknown fields
are errors (unless the CRD preserves them), `x-kubernetes-int-or-string` is an
integer or a string, `nullable` admits null, `status` is left out. The CRDs'
`x-kubernetes-validations` (CEL rules) are kept in place; `generator.flux`
evaluates them. When the repo pins the controllers it builds (tools/go/<name>/go.mod),
those versions must equal the ones here.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from . import COMPONENTS, INDEX_FILE, SCHEMA_DIR

_TOOLS_GO = Path(__file__).resolve().parents[2] / "tools" / "go"


def module_dir(module: str, version: str) -> Path:
    run = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True, check=False
    )
    info = json.loads(run.stdout or "{}")
    if run.returncode != 0 or "Dir" not in info:
        raise SystemExit(f"go mod download {module}@{version} failed: {info.get('Error') or run.stderr.strip()}")
    return Path(info["Dir"])


def pinned_version(name: str, module: str) -> str | None:
    """The version tools/go/<name>/go.mod builds, if the repo builds that controller."""
    go_mod = _TOOLS_GO / name / "go.mod"
    if not go_mod.is_file():
        return None
    match = re.search(rf"^\s*{re.escape(module)} (v\S+)", go_mod.read_text(), re.M)
    return match.group(1) if match else None


def strict(node: Any) -> Any:
    """A CRD openAPIV3Schema node -> JSON Schema (Draft 2020-12), strict about unknown fields."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items() if k not in ("description", "default", "nullable")}
    for key in ("properties", "patternProperties"):
        if key in node:
            out[key] = {name: strict(sub) for name, sub in node[key].items()}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def schema_for(crd: dict[str, Any], version: dict[str, Any], source: str) -> dict[str, Any]:
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"].pop("status", None)
    schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
    schema["properties"]["kind"] = {"const": kind}
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$comment"] = f"Flux CRD {crd['metadata']['name']} {version['name']}, from {source}"
    return schema


def main() -> None:
    index: dict[str, Any] = {"components": {}, "schemas": {}}
    SCHEMA_DIR.mkdir(exist_ok=True)
    for old in SCHEMA_DIR.glob("*.json"):
        old.unlink()
    for name, (module, version) in COMPONENTS.items():
        pinned = pinned_version(name, module)
        if pinned and pinned != version:
            raise SystemExit(f"{name}: generator/flux pins {version} but tools/go/{name}/go.mod builds {pinned}")
        index["components"][name] = version
        for path in sorted((module_dir(module, version) / "config" / "crd" / "bases").glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            for ver in crd["spec"]["versions"]:
                if not ver.get("served"):
                    continue
                kind, group = crd["spec"]["names"]["kind"], crd["spec"]["group"]
                file = f"{kind.lower()}-{group.split('.')[0]}-{ver['name']}.json"
                schema = schema_for(crd, ver, f"{module}@{version} config/crd/bases/{path.name}")
                (SCHEMA_DIR / file).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                index["schemas"][f"{group}/{ver['name']} {kind}"] = file
                print(f"wrote {file}")
    (SCHEMA_DIR / INDEX_FILE).write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
