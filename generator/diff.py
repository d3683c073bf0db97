"""Differences in rendered Kubernetes objects (not only in files), as unified YAML diffs."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import yaml

_HASH_SUFFIX = re.compile(r"-[0-9a-z]{10}$")
# A changed line that only follows another change: a checksum annotation, a digest, a generated name's hash.
_DERIVED_LINE = re.compile(
    r"^[+-]\s*(checksum/[\w.-]+\s*:.*|[\w.-]*digest[\w.-]*\s*:.*|name\s*:\s*\S+-[0-9a-z]{10})\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class ObjectDiff:
    key: str
    status: str  # added | removed | changed
    text: str


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}"


def _pair_key(obj: dict[str, Any]) -> str:
    """Generated ConfigMaps get a new hash suffix on every change: pair them by their base name."""
    key = object_key(obj)
    return _HASH_SUFFIX.sub("-*", key) if obj.get("kind") == "ConfigMap" else key


def diff_objects(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[ObjectDiff]:
    before = {_pair_key(o): o for o in old}
    after = {_pair_key(o): o for o in new}
    out = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        status = "added" if a is None else "removed" if b is None else "changed"
        out.append(ObjectDiff(key, status, _substance_first(text_diff(_yaml(a), _yaml(b), key))))
    return sorted(out, key=lambda d: _derived(d.text))  # stable: by key within each group


def _hunks(text: str) -> tuple[str, list[str]]:
    parts = re.split(r"(?m)^(?=@@ )", text)
    return parts[0], parts[1:]


def _derived(hunk: str) -> bool:
    """Every changed line of the hunk (or diff) is a checksum, digest or hashed name: the change is elsewhere."""
    changed = [ln for ln in hunk.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return bool(changed) and all(_DERIVED_LINE.match(ln) for ln in changed)


def _substance_first(text: str) -> str:
    """Hunks that change parameters or code before those that change only checksums or hashed names."""
    header, hunks = _hunks(text)
    return header + "".join(sorted(hunks, key=_derived))


def text_diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"a/{name}", tofile=f"b/{name}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class _ReviewDumper(yaml.SafeDumper):
    """Multi-line strings (code, embedded JSON and YAML) as blocks, so a diff shows the changed line."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReviewDumper.add_representer(str, _str)


def _yaml(obj: dict[str, Any] | None) -> str:
    if obj is None:
        return ""
    return yaml.dump(obj, Dumper=_ReviewDumper, sort_keys=False, allow_unicode=True, width=120)
