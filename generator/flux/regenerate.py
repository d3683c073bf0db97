"""Regenerate the shipped Flux JSON schemas (maintainers only; not used at run time).

The schemas are derived from the Flux CRDs' openAPIV3Schema as generated into the
`cloudcoil-models-fluxcd` package (its version is the Flux release). Run:

    pip install --target /tmp/cc cloudcoil-models-fluxcd==2.5.1.0
    PYTHONPATH=/tmp/cc python -m generator.flux.regenerate

The output is made strict the way `kubeconform -strict` reads CRDs: unknown fields
are errors and `null` is not accepted where the CRD wants a value.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from . import SCHEMA_DIR, SCHEMAS

_MODELS = {
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"): ("cloudcoil.models.fluxcd.helm.v2", "HelmRelease"),
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): ("cloudcoil.models.fluxcd.kustomize.v1", "Kustomization"),
    ("source.toolkit.fluxcd.io/v1", "GitRepository"): ("cloudcoil.models.fluxcd.source.v1", "GitRepository"),
}


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _strict(v) for k, v in node.items() if k not in ("title", "default")}
    options = node.get("anyOf")
    if options and any(o == {"type": "null"} for o in options):
        rest = [o for o in options if o != {"type": "null"}]
        node.pop("anyOf")
        node |= rest[0] if len(rest) == 1 else {"anyOf": rest}
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    return node


def main() -> None:
    import importlib

    version = metadata.version("cloudcoil-models-fluxcd")
    for (api_version, kind), (module, cls) in _MODELS.items():
        model = getattr(importlib.import_module(module), cls)
        schema = _strict(model.model_json_schema(by_alias=True, mode="validation"))
        schema["properties"].pop("status", None)
        schema["properties"]["apiVersion"] = {"const": api_version}
        schema["properties"]["kind"] = {"const": kind}
        schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
        schema["$comment"] = f"Flux CRD schema, from cloudcoil-models-fluxcd {version}"
        path = Path(SCHEMA_DIR) / SCHEMAS[(api_version, kind)]
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
