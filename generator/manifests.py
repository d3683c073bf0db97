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
from .errors import UserError
from .helm import HelmMissing
from .helm_controller import compose_values, template_release


@dataclass
class Rendered:
    """One folder rendered: the kustomize output and, per HelmRelease, its values and objects.

    `failed` names the HelmReleases whose values or chart could not be rendered (their problems are in
    `problems`); only `render_each` returns such a partial rendering.
    """

    built: list[dict[str, Any]]
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    problems: list[UserError] = field(default_factory=list)

    def all_objects(self) -> list[dict[str, Any]]:
        """What Flux applies (kustomize output) plus what helm-controller installs."""
        return self.built + self.objects

    def workload(self) -> dict[str, Any] | None:
        return next((o for o in self.objects if o.get("kind") == "Deployment"), None)


def render_folder(files: dict[str, bytes], origin: str, chart_root: Path) -> Rendered:
    """Render a folder given as {file name: content}; raises UserError naming the file and object."""
    rendered = render_each(files, origin, chart_root)
    if rendered.problems:
        raise rendered.problems[0]
    return rendered


def render_each(files: dict[str, bytes], origin: str, chart_root: Path) -> Rendered:
    """Render as much as renders: a HelmRelease that fails is noted in `failed` and `problems`, the others
    render all the same. A folder kustomize cannot build raises UserError (nothing else can be rendered)."""
    built = kustomize.build(files, origin)
    rendered = Rendered(built=built)
    for release in (o for o in built if o.get("kind") == "HelmRelease"):
        name = release["metadata"]["name"]
        try:
            rendered.values[name] = compose_values(release, built, origin)
            rendered.objects += template_release(release, rendered.values[name], chart_root, origin)
        except HelmMissing:
            raise  # a problem of this machine, not of the folder
        except UserError as exc:
            rendered.failed.append(name)
            rendered.problems.append(exc)
    return rendered
