"""Build a strategy folder's kustomization the way kustomize (in Flux's kustomize-controller) does.

Only what stratops folders use is supported — local `resources`, `namespace`,
`configMapGenerator` (files and literals, hash suffix), `generatorOptions` and
`configurations` with `nameReference` — and anything else is refused by name,
so a hand-edited folder is never built differently from the cluster.
The name hash reproduces kustomize's `hasher.ConfigMapHash` (tests compare with
the real kustomize that `make components` builds).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import Problem, UserError
from .yamlio import load_all, load_one

KUSTOMIZATION_FILE = "kustomization.yaml"
_SUPPORTED = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "configMapGenerator",
    "generatorOptions",
    "configurations",
}


def build(files: dict[str, bytes], origin: str) -> list[dict[str, Any]]:
    """Return the objects `kustomize build` would output for a folder given as {name: content}."""
    kust = _document(files, KUSTOMIZATION_FILE, origin)
    if not isinstance(kust, dict):
        raise _error(origin, KUSTOMIZATION_FILE, "is not a mapping")
    unknown = sorted(set(kust) - _SUPPORTED)
    if unknown:
        raise _error(
            origin,
            KUSTOMIZATION_FILE,
            f"unsupported field(s) {', '.join(unknown)}",
            f"stratops folders use only: {', '.join(sorted(_SUPPORTED))}",
        )
    namespace = kust.get("namespace")
    objects = [obj for name in kust.get("resources", []) for obj in _resources(files, name, origin)]
    renames: dict[str, str] = {}
    options = kust.get("generatorOptions", {})
    for gen in kust.get("configMapGenerator", []):
        cm, original = _configmap(files, gen, options, origin)
        renames[original] = cm["metadata"]["name"]
        objects.append(cm)
    if namespace:
        for obj in objects:
            obj.setdefault("metadata", {})["namespace"] = namespace
    for name in kust.get("configurations", []):
        _apply_name_references(_document(files, name, origin), objects, renames, origin)
    return objects


def configmap_hash(cm: dict[str, Any]) -> str:
    """kustomize's ConfigMap name suffix: sha256 of a JSON encoding, 10 hex chars, some letters swapped.

    kustomize looks the name up as the single key "metadata/name", finds nothing
    and hashes an empty name; reproduce that, or every suffix would differ.
    """
    encoded: dict[str, Any] = {"kind": "ConfigMap", "name": "", "data": cm.get("data", {})}
    if cm.get("binaryData"):
        encoded["binaryData"] = cm["binaryData"]
    digest = hashlib.sha256(_go_json(encoded).encode()).hexdigest()
    return digest[:10].translate(str.maketrans("013ae", "ghkmt"))


def _go_json(value: Any) -> str:
    """encoding/json.Marshal output: sorted keys, no spaces, UTF-8, HTML-sensitive characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _document(files: dict[str, bytes], name: str, origin: str) -> Any:
    data = _file(files, name, origin)
    return load_one(data.decode("utf-8", errors="strict"), f"{origin}/{name}")


def _file(files: dict[str, bytes], name: str, origin: str) -> bytes:
    if not isinstance(name, str) or "/" in name or name.startswith(".") or name not in files:
        raise _error(
            origin, str(name), "is not a file of this folder", "a strategy folder refers only to its own files"
        )
    return files[name]


def _resources(files: dict[str, bytes], name: str, origin: str) -> list[dict[str, Any]]:
    docs = load_all(_file(files, name, origin).decode(), f"{origin}/{name}")
    bad = [d for d in docs if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d]
    if bad:
        raise _error(origin, name, "holds a document that is not a Kubernetes object")
    return docs


def _configmap(
    files: dict[str, bytes], gen: dict[str, Any], options: dict[str, Any], origin: str
) -> tuple[dict[str, Any], str]:
    name = gen.get("name")
    if not isinstance(name, str) or not name:
        raise _error(origin, KUSTOMIZATION_FILE, "a configMapGenerator entry has no name")
    data: dict[str, str] = {}
    for entry in gen.get("files", []):
        key, _, source = entry.partition("=") if "=" in entry else (entry, "", entry)
        try:
            data[key] = _file(files, source, origin).decode("utf-8")
        except UnicodeDecodeError:
            raise _error(origin, source, "is not UTF-8 text") from None
    for literal in gen.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    merged = {**options, **gen.get("options", {})}
    for field in ("labels", "annotations"):
        if merged.get(field):
            cm["metadata"][field] = dict(merged[field])
    if not merged.get("disableNameSuffixHash"):
        cm["metadata"]["name"] = f"{name}-{configmap_hash(cm)}"
    return cm, name


def _apply_name_references(config: Any, objects: list[dict[str, Any]], renames: dict[str, str], origin: str) -> None:
    refs = config.get("nameReference", []) if isinstance(config, dict) else []
    for ref in refs:
        if ref.get("kind") != "ConfigMap":
            continue
        for spec in ref.get("fieldSpecs", []):
            for obj in objects:
                if obj.get("kind") == spec.get("kind"):
                    _rename_at(obj, spec["path"].split("/"), renames)


def _rename_at(node: Any, path: list[str], renames: dict[str, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _rename_at(item, path, renames)
        return
    if not isinstance(node, dict) or path[0] not in node:
        return
    if len(path) == 1:
        if isinstance(node[path[0]], str) and node[path[0]] in renames:
            node[path[0]] = renames[node[path[0]]]
        return
    _rename_at(node[path[0]], path[1:], renames)


def _error(origin: str, name: str, what: str, fix: str = "") -> UserError:
    return UserError(f"cannot build {origin}", [Problem(f"{origin}/{name}", what, fix)])
