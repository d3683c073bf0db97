"""Turn a built HelmRelease into rendered objects, the way Flux's helm-controller does.

Values (fluxcd/pkg chartutil ChartValuesFromReferences, helm-controller v1.6):
every `valuesFrom` entry in order, maps merged recursively, lists and scalars
replaced whole. A ConfigMap's `data` or a Secret's `data` (base64, with
`stringData` merged over it as the API server stores it) is read as YAML the
way Helm reads it. An entry with a `targetPath` first merges the inline
`spec.values` into the result, then sets the path with Helm's `--set` parser
(`literal: true`: the value verbatim; a value wrapped in quotes: as a string);
inline `spec.values` merge on top at the end.
"""

from __future__ import annotations

import base64
import binascii
import copy
from pathlib import Path
from typing import Any

import yaml

from . import helm, source_controller, strvals
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
    inline = release["spec"].get("values") or {}
    values: dict[str, Any] = {}
    for index, ref in enumerate(release["spec"].get("valuesFrom", [])):
        where = f"{origin}: HelmRelease {release['metadata']['name']} spec.valuesFrom[{index}]"
        data = _referenced_value(ref, by_ref, namespace, where)
        if data is None:
            continue
        if ref.get("targetPath"):
            values = merge(values, inline)
            _set_path(values, ref, data.decode("utf-8", errors="replace"), where)
        else:
            values = merge(values, _as_values(data, where))
    return merge(values, inline)


def _referenced_value(ref: dict[str, Any], by_ref: dict, namespace: str, where: str) -> bytes | None:
    kind, name, key = ref.get("kind"), ref.get("name"), ref.get("valuesKey") or "values.yaml"
    if kind not in ("ConfigMap", "Secret"):
        raise UserError("unsupported HelmRelease values source", [Problem(where, f"kind {kind!r}")])
    obj = by_ref.get((kind, namespace, name))
    data = _data(obj, where) if obj is not None else {}
    if obj is None or key not in data:
        if ref.get("optional"):
            return None
        missing = f"{kind} {namespace}/{name}" if obj is None else f"key {key!r} in {kind} {name}"
        raise UserError("HelmRelease values source is missing", [Problem(where, f"{missing} not found")])
    return data[key]


def _data(obj: dict[str, Any], where: str) -> dict[str, bytes]:
    """The object's data as stored: a Secret's `data` decoded, its `stringData` written over it."""
    if obj.get("kind") == "ConfigMap":
        return {str(k): str(v).encode() for k, v in (obj.get("data") or {}).items()}
    data = {}
    for key, value in (obj.get("data") or {}).items():
        try:
            data[str(key)] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise UserError(
                "Secret data is not base64",
                [
                    Problem(
                        where, f"Secret {obj['metadata'].get('name')} data.{key}", "base64-encode it or use stringData"
                    )
                ],
            ) from None
    data |= {str(k): str(v).encode() for k, v in (obj.get("stringData") or {}).items()}
    return data


_QUOTES = "'\""


def _set_path(values: dict[str, Any], ref: dict[str, Any], text: str, where: str) -> None:
    """chartutil.ReplacePathValue / ReplacePathLiteralValue: `<targetPath>=<value>` through strvals."""
    path = ref["targetPath"]
    try:
        if ref.get("literal"):
            escaped = text.replace("\\", "\\\\")
            for char in ",[]{}":
                escaped = escaped.replace(char, "\\" + char)
            strvals.parse_into(f"{path}={escaped}", values, strings=True)
        elif len(text) >= 1 and text[0] == text[-1] and text[0] in _QUOTES:
            strvals.parse_into(f"{path}={text.strip(_QUOTES)}", values, strings=True)
        else:
            strvals.parse_into(f"{path}={text}", values)
    except strvals.StrvalsError as exc:
        raise UserError(
            "HelmRelease valuesFrom targetPath cannot be set", [Problem(where, f"targetPath {path!r}: {exc}")]
        ) from None


def _as_values(data: bytes, where: str) -> dict[str, Any]:
    try:
        parsed = load_helm_values(data.decode("utf-8"), where)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError("HelmRelease values are not YAML", [Problem(where, str(exc))]) from None
    except UserError as exc:
        raise UserError("HelmRelease values are not YAML", exc.problems) from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise UserError("HelmRelease values must be a map", [Problem(where, f"got {type(parsed).__name__}")])
    return parsed


def template_release(
    release: dict[str, Any], values: dict[str, Any], chart_root: Path, origin: str
) -> list[dict[str, Any]]:
    """The objects helm-controller would install: `helm template` of the packaged chart, post-rendered."""
    meta = release["metadata"]
    name = release["spec"].get("releaseName") or meta["name"]
    chart_dir = _chart_dir(release, chart_root, origin)
    packaged = source_controller.packaged_chart(chart_dir, release["spec"]["chart"]["spec"], chart_root, origin)
    rendered = helm.template(packaged, name, meta.get("namespace", "default"), values)
    namespace = meta.get("namespace", "default")
    for obj in rendered:
        _post_render(obj, release, name=meta["name"], namespace=namespace)
        obj["metadata"].setdefault("namespace", namespace)
    return rendered


def _chart_dir(release: dict[str, Any], chart_root: Path, origin: str) -> Path:
    chart_ref = release["spec"]["chart"]["spec"]["chart"]
    chart_dir = (chart_root / chart_ref).resolve()
    if not chart_dir.is_relative_to(chart_root.resolve()) or not (chart_dir / "Chart.yaml").is_file():
        raise UserError(
            "HelmRelease chart not found in the fleet repo",
            [Problem(origin, f"chart {chart_ref!r}", "charts live under charts/ in the fleet repo")],
        )
    if release["spec"].get("postRenderers"):
        raise UserError(
            "HelmRelease postRenderers are not reproduced offline",
            [
                Problem(
                    origin, f"HelmRelease {release['metadata']['name']} spec.postRenderers", "change the chart instead"
                )
            ],
        )
    return chart_dir


ORIGIN_GROUP = "helm.toolkit.fluxcd.io"


def _post_render(obj: dict[str, Any], release: dict[str, Any], name: str, namespace: str) -> None:
    """helm-controller's post-renderers (internal/postrender): spec.commonMetadata labels and annotations, then
    the origin labels `helm.toolkit.fluxcd.io/{name,namespace}` on every object's metadata (they win)."""
    metadata = obj.setdefault("metadata", {})
    common = release["spec"].get("commonMetadata") or {}
    for field, extra in (("labels", common.get("labels")), ("annotations", common.get("annotations"))):
        if extra:
            metadata[field] = {**(metadata.get(field) or {}), **extra}
    origin = {f"{ORIGIN_GROUP}/name": name, f"{ORIGIN_GROUP}/namespace": namespace}
    metadata["labels"] = {**(metadata.get("labels") or {}), **origin}
