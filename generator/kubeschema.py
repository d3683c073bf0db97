"""Offline validation of Kubernetes objects against the official OpenAPI-derived JSON schemas.

The schemas come from `kubernetes-validate` (strict variant: unknown fields are
errors). Validators are built once per kind and cached: building one costs far
more than using it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

from .errors import Problem
from .jsonschemas import Draft202012

KUBERNETES_VERSION = "1.35.0"
_SCHEMA_ROOT = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"


def object_ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind', '?')}/{ns}{meta.get('name', '?')}"


@cache
def _definitions() -> Resource:
    return Resource.from_contents(json.loads((_SCHEMA_ROOT / "_definitions.json").read_text()))


@cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _SCHEMA_ROOT / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    registry = _definitions() @ (Resource.from_contents(schema) @ Registry())
    return Draft202012(schema, registry=registry)


def has_schema(obj: dict[str, Any]) -> bool:
    return _validator(str(obj.get("apiVersion", "")), str(obj.get("kind", ""))) is not None


def validate(obj: dict[str, Any]) -> list[Problem]:
    """Every schema violation of one object; an unknown kind is a problem too."""
    validator = _validator(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    ref = object_ref(obj)
    if validator is None:
        return [
            Problem(ref, f"no Kubernetes {KUBERNETES_VERSION} schema for {obj.get('apiVersion')} {obj.get('kind')}")
        ]
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [Problem(f"{ref} {_path(e)}", e.message) for e in errors]


def _path(error: jsonschema.ValidationError) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "."
