"""Offline validation of Flux objects against the shipped Flux CRD schemas, CEL rules included.

The schemas are generated from the CRDs in the controllers' own Go modules at the
versions below (`python -m generator.flux.regenerate`), one per served version of
every kind: HelmRelease, Kustomization, GitRepository, HelmRepository, OCIRepository,
HelmChart, Bucket, ExternalArtifact. Strict: unknown fields are errors. The CRDs'
`x-kubernetes-validations` rules (e.g. "either chart or chartRef must be set") are
evaluated with the project's CEL runtime, as the API server would on create;
transition rules (those reading `oldSelf`) need an old object and are skipped.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from cel_expr_python import cel
from cel_expr_python.ext import ext_strings

from ..errors import Problem
from ..jsonschemas import Draft202012
from ..kubeschema import object_ref

# The controllers whose CRDs the schemas come from: the versions the project builds and runs
# (tools/go/<name>/go.mod; Flux 2.9 line). regenerate.py refuses a mismatch.
COMPONENTS = {
    "source-controller": ("github.com/fluxcd/source-controller", "v1.9.3"),
    "kustomize-controller": ("github.com/fluxcd/kustomize-controller", "v1.9.6"),
    "helm-controller": ("github.com/fluxcd/helm-controller", "v1.6.4"),
}
FLUX_VERSION = "2.9"
SCHEMA_DIR = Path(__file__).parent / "schemas"
INDEX_FILE = "index.json"


def is_flux(obj: dict[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).split("/")[0].endswith(".toolkit.fluxcd.io")


@cache
def schemas() -> dict[tuple[str, str], str]:
    """(apiVersion, kind) -> schema file name."""
    index = json.loads((SCHEMA_DIR / INDEX_FILE).read_text())
    return {tuple(key.split(" ", 1)): file for key, file in index["schemas"].items()}


@cache
def _schema(api_version: str, kind: str) -> dict[str, Any] | None:
    name = schemas().get((api_version, kind))
    return json.loads((SCHEMA_DIR / name).read_text()) if name else None


@cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    schema = _schema(api_version, kind)
    return Draft202012(schema) if schema else None


def validate(obj: dict[str, Any]) -> list[Problem]:
    """Every schema violation and failed CEL rule of a Flux object; a kind without a shipped schema is one too."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    validator = _validator(api_version, kind)
    ref = object_ref(obj)
    if validator is None:
        known = ", ".join(f"{k} {a}" for a, k in sorted(schemas()))
        return [Problem(ref, f"no Flux {FLUX_VERSION} schema for {api_version} {kind}", f"use one of: {known}")]
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    problems = [Problem(f"{ref} {_path(e)}", _message(e)) for e in errors]
    if not problems:  # rules assume a well-typed object, as the API server checks types first
        problems = [Problem(f"{ref} {where}", what) for where, what in _rules(_schema(api_version, kind), obj, "")]
    return problems


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"unknown field: {error.message}"
    return error.message


def _path(error: jsonschema.ValidationError) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "."


# --- x-kubernetes-validations ------------------------------------------------------------


@cache
def _environment() -> cel.Env:
    return cel.NewEnv(variables={"self": cel.Type.DYN}, extensions=[ext_strings.ExtStrings()])


@cache
def _program(rule: str) -> Any:
    return _environment().compile(rule)


def _rules(schema: dict[str, Any], value: Any, path: str) -> list[tuple[str, str]]:
    """(path, message) for every CEL rule the value breaks, walking the schema beside the value."""
    found = []
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:
            continue
        result = _program(rule["rule"]).eval(_environment().Activation({"self": value}))
        if result.type() == cel.Type.ERROR or result.plain_value() is not True:
            where = (path + rule.get("fieldPath", "")) or "."
            found.append((where, rule.get("message") or f"failed rule: {rule['rule']}"))
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                found += _rules(sub, item, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += _rules(schema["items"], item, f"{path}[{index}]")
    return found
