"""Differences in rendered Kubernetes objects (not only in files), as unified YAML diffs."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from .render import dump_yaml


@dataclass(frozen=True)
class ObjectDiff:
    key: str
    status: str  # added | removed | changed
    text: str


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}"


def diff_objects(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[ObjectDiff]:
    before = {object_key(o): o for o in old}
    after = {object_key(o): o for o in new}
    out = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        status = "added" if a is None else "removed" if b is None else "changed"
        out.append(ObjectDiff(key, status, text_diff(_yaml(a), _yaml(b), key)))
    return out


def text_diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile=f"a/{name}", tofile=f"b/{name}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _yaml(obj: dict[str, Any] | None) -> str:
    return dump_yaml(obj) if obj is not None else ""
