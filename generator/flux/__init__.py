"""Offline validation of Flux objects against the shipped Flux CRD schemas.

Schemas: Flux v2.5.1 CRDs (HelmRelease helm.toolkit.fluxcd.io/v2, Kustomization
kustomize.toolkit.fluxcd.io/v1, GitRepository source.toolkit.fluxcd.io/v1), strict:
unknown fields are errors. `python -m generator.flux.regenerate` rebuilds them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from ..errors import Problem
from ..jsonschemas import Draft202012
from ..kubeschema import object_ref

FLUX_VERSION = "2.5.1"
SCHEMA_DIR = Path(__file__).parent / "schemas"
SCHEMAS = {
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"): "helmrelease-helm-v2.json",
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): "kustomization-kustomize-v1.json",
    ("source.toolkit.fluxcd.io/v1", "GitRepository"): "gitrepository-source-v1.json",
}


def is_flux(obj: dict[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).split("/")[0].endswith(".toolkit.fluxcd.io")


@cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    name = SCHEMAS.get((api_version, kind))
    if name is None:
        return None
    return Draft202012(json.loads((SCHEMA_DIR / name).read_text()))


def validate(obj: dict[str, Any]) -> list[Problem]:
    """Every schema violation of a Flux object; a Flux kind or version without a shipped schema is one too."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    validator = _validator(api_version, kind)
    ref = object_ref(obj)
    if validator is None:
        known = ", ".join(f"{k} {a}" for a, k in SCHEMAS)
        return [Problem(ref, f"no Flux {FLUX_VERSION} schema for {api_version} {kind}", f"use one of: {known}")]
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [Problem(f"{ref} {_path(e)}", _message(e)) for e in errors]


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"unknown field: {error.message}"
    return error.message


def _path(error: jsonschema.ValidationError) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "."
