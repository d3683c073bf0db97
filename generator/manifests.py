"""A strategy folder -> the Kubernetes objects the cluster would run.

kustomize build (generated ConfigMaps, nameReference) -> each HelmRelease's
values as helm-controller composes them -> `helm template` with the fleet's own
chart. Preflight, diff, the local runtime and `check` all render through here,
so what is checked is what runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import kustomize
from .helm_controller import render_release


@dataclass
class Rendered:
    """One folder rendered: the kustomize output and, per HelmRelease, its values and objects."""

    built: list[dict[str, Any]]
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)

    def all_objects(self) -> list[dict[str, Any]]:
        """What Flux applies (kustomize output) plus what helm-controller installs."""
        return self.built + self.objects

    def workload(self) -> dict[str, Any] | None:
        return next((o for o in self.objects if o.get("kind") == "Deployment"), None)


def render_folder(files: dict[str, bytes], origin: str, chart_root: Path) -> Rendered:
    """Render a folder given as {file name: content}; raises UserError naming the file and object."""
    built = kustomize.build(files, origin)
    rendered = Rendered(built=built)
    for release in (o for o in built if o.get("kind") == "HelmRelease"):
        values, objects = render_release(release, built, chart_root, origin)
        rendered.values[release["metadata"]["name"]] = values
        rendered.objects += objects
    return rendered
