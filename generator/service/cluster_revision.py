"""Which revision of a strategy the cluster runs: the commit whose render the live HelmRelease's spec is.

With `reconcileStrategy: ChartVersion` no object Flux writes names the fleet commit a release came from: the
chart version is Chart.yaml's, helm-controller's config digests hash the merged values, and the `strategies`
Kustomization's revision is the whole fleet's (set before the apply is health-checked, and moved by any
strategy's commit). The strategy's folder, though, builds (kustomize) to one HelmRelease whose `valuesFrom`
names carry the content hashes of its values and code: the live spec being the one rendered at a commit tells
that commit. Commits that render the same are told apart by nothing, and need not be: the newest is named, so
the strategy's revision on main is named whenever what runs is what main says.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import PurePosixPath
from typing import Any

from .. import kustomize
from ..errors import UserError
from ..fleet import Fleet

HISTORY = 20  # older revisions looked at to name the one running while the newest is not taken up yet
CACHE_SIZE = 4096

_renders: OrderedDict[tuple[str, str, str], dict[str, Any] | None] = OrderedDict()
_lock = threading.Lock()


def applied_revision(fleet: Fleet, folder: PurePosixPath, live_spec: dict[str, Any] | None) -> str | None:
    """The newest of the folder's last commits on main whose rendered HelmRelease spec the live one is, or None."""
    if not live_spec:
        return None
    newest = fleet.history(folder, limit=1)
    if not newest or matches(rendered_spec(fleet, folder, newest[0].sha), live_spec):
        return newest[0].sha if newest else None  # the common case, synced: no walk further back
    older = fleet.history(folder, limit=HISTORY)[1:]
    return next((c.sha for c in older if matches(rendered_spec(fleet, folder, c.sha), live_spec)), None)


def rendered_spec(fleet: Fleet, folder: PurePosixPath, sha: str) -> dict[str, Any] | None:
    """The HelmRelease spec kustomize builds from the folder at commit `sha` (cached: a commit never changes)."""
    key = (str(fleet.path), str(folder), sha)
    with _lock:
        if key in _renders:
            _renders.move_to_end(key)
            return _renders[key]
    spec = _render(fleet, folder, sha)
    with _lock:
        _renders[key] = spec
        if len(_renders) > CACHE_SIZE:
            _renders.popitem(last=False)
    return spec


def matches(rendered: Any, live: Any) -> bool:
    """Whether the live spec is the rendered one: every rendered field has its value there.

    Fields only the live spec has are the API server's defaults from the CRD schema (`chart.spec.version: '*'`);
    a field the render stopped having is gone from the live spec once applied, as kustomize-controller applies
    server-side and prunes the fields it no longer sets. Lists compare item by item, in order.
    """
    if isinstance(rendered, dict):
        return isinstance(live, dict) and all(k in live and matches(v, live[k]) for k, v in rendered.items())
    if isinstance(rendered, list):
        return isinstance(live, list) and len(rendered) == len(live) and all(map(matches, rendered, live))
    return rendered == live


def _render(fleet: Fleet, folder: PurePosixPath, sha: str) -> dict[str, Any] | None:
    files = fleet.read_folder(folder, sha)
    if files is None:
        return None
    try:
        objects = kustomize.build(files, str(folder))
    except UserError:  # a folder this commit broke: nothing the cluster can be running
        return None
    return next((o.get("spec") for o in objects if o.get("kind") == "HelmRelease"), None)
