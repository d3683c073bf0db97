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

from . import crds
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
        return crds.validator(api_version, kind)  # a third-party kind the chart renders (PodMonitor), or None
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
    return [Problem(f"{ref} {_path(e)}", e.message) for e in errors] + label_problems(obj)


# The API server's label syntax (apimachinery validation.IsQualifiedName / IsValidLabelValue); the OpenAPI
# schemas say only "string", so a label such as `helm.sh/chart: x-0.1.0+abc` passes them and is refused on apply.
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def label_problems(obj: dict[str, Any]) -> list[Problem]:
    """Invalid label keys and values anywhere in the object (metadata.labels, pod templates, matchLabels)."""
    ref = object_ref(obj)
    return [Problem(f"{ref} {where}", what) for where, what in _walk_labels(obj, "")]


def _walk_labels(node: Any, path: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    items = enumerate(node) if isinstance(node, list) else node.items() if isinstance(node, dict) else ()
    for key, value in items:
        here = f"{path}[{key}]" if isinstance(node, list) else f"{path}.{key}"
        is_labels = key == "matchLabels" or (key == "labels" and path.endswith("metadata"))
        if is_labels and isinstance(value, dict):
            found += [(here, message) for message in _bad_labels(value)]
        else:
            found += _walk_labels(value, here)
    return found


def _bad_labels(labels: dict[str, Any]) -> list[str]:
    out = []
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (
            len(name) > 63
            or not _LABEL_NAME.fullmatch(name)
            or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)))
        ):
            out.append(f"label key {key!r} is not a valid qualified name")
        text = "" if value is None else str(value)
        if len(text) > 63 or (text and not _LABEL_NAME.fullmatch(text)):
            out.append(
                f"label {key}: value {text!r} must be at most 63 characters of letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit"
            )
    return out


def _path(error: jsonschema.ValidationError) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "."
