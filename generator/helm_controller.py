"""Turn a built HelmRelease into rendered objects, the way Flux's helm-controller does.

Values: every `valuesFrom` entry in order (later wins), then inline `spec.values`
on top; maps merge recursively, lists and scalars are replaced whole. A
`targetPath` entry is honoured only with `literal: true` (Helm `--set` parsing
of a non-literal value is not reproduced; such a folder is refused by name).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from . import helm, source_controller
from .errors import Problem, UserError
from .yamlio import load_helm_values


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing merge: maps recurse, anything else replaces."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def compose_values(release: dict[str, Any], objects: list[dict[str, Any]], origin: str) -> dict[str, Any]:
    namespace = release["metadata"].get("namespace", "default")
    by_ref = {(o["kind"], o["metadata"].get("namespace", "default"), o["metadata"]["name"]): o for o in objects}
    values: dict[str, Any] = {}
    for index, ref in enumerate(release["spec"].get("valuesFrom", [])):
        where = f"{origin}: HelmRelease {release['metadata']['name']} spec.valuesFrom[{index}]"
        text = _referenced_value(ref, by_ref, namespace, where)
        if text is None:
            continue
        values = merge(values, _as_values(ref, text, where))
    return merge(values, release["spec"].get("values") or {})


def _referenced_value(ref: dict[str, Any], by_ref: dict, namespace: str, where: str) -> str | None:
    kind, name, key = ref.get("kind"), ref.get("name"), ref.get("valuesKey", "values.yaml")
    if kind not in ("ConfigMap", "Secret"):
        raise UserError("unsupported HelmRelease values source", [Problem(where, f"kind {kind!r}")])
    obj = by_ref.get((kind, namespace, name))
    data = (obj or {}).get("data", {})
    if obj is None or key not in data:
        if ref.get("optional"):
            return None
        missing = f"{kind} {namespace}/{name}" if obj is None else f"key {key!r} in {kind} {name}"
        raise UserError("HelmRelease values source is missing", [Problem(where, f"{missing} not found")])
    return data[key]


def _as_values(ref: dict[str, Any], text: str, where: str) -> dict[str, Any]:
    target = ref.get("targetPath")
    if target:
        if not ref.get("literal"):
            raise UserError(
                "targetPath without literal: true is not reproduced offline",
                [Problem(where, f"targetPath {target!r}", "set literal: true")],
            )
        return _nest(target.split("."), text)
    try:
        parsed = load_helm_values(text)
    except yaml.YAMLError as exc:
        raise UserError("HelmRelease values are not YAML", [Problem(where, str(exc))]) from None
    if not isinstance(parsed, dict):
        raise UserError("HelmRelease values must be a map", [Problem(where, f"got {type(parsed).__name__}")])
    return parsed


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    return {path[0]: value} if len(path) == 1 else {path[0]: _nest(path[1:], value)}


def render_release(
    release: dict[str, Any], objects: list[dict[str, Any]], chart_root: Path, origin: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (values, rendered objects) for one HelmRelease built from a fleet folder."""
    chart_ref = release["spec"]["chart"]["spec"]["chart"]
    chart_dir = (chart_root / chart_ref).resolve()
    if not chart_dir.is_relative_to(chart_root.resolve()) or not (chart_dir / "Chart.yaml").is_file():
        raise UserError(
            "HelmRelease chart not found in the fleet repo",
            [Problem(origin, f"chart {chart_ref!r}", "charts live under charts/ in the fleet repo")],
        )
    values = compose_values(release, objects, origin)
    meta = release["metadata"]
    name = release["spec"].get("releaseName") or meta["name"]
    packaged = source_controller.packaged_chart(chart_dir, release["spec"]["chart"]["spec"], chart_root, origin)
    rendered = helm.template(packaged, name, meta.get("namespace", "default"), values)
    for obj in rendered:
        obj.setdefault("metadata", {}).setdefault("namespace", meta.get("namespace", "default"))
    return values, rendered
