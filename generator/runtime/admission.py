"""What the cluster would run from a commit: each strategy folder rendered and admitted, cached by tree id.

Render exactly as Flux would (generator.manifests via preflight.check_folder: kustomize ->
HelmRelease values -> helm template), then admit as the API server would: values schema,
Kubernetes schemas and the fleet's own policies. A refused folder becomes a Verdict with the
reason; the other folders are unaffected. A folder is rendered again only when its tree, the
chart, the policies or its tenant's namespace changed.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import git

from .. import fleet as fleet_mod
from ..errors import UserError
from ..fleet import Fleet
from ..preflight import check_folder
from ..render import STRATEGIES_DIR
from ..spec import is_dns_label
from ..tenants import fleet_policies, namespace_path, tenant_namespace
from .podspec import PodSpec, PodSpecError, extract


@dataclass(frozen=True)
class Verdict:
    key: str
    pod: PodSpec | None
    error: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Folder:
    key: str
    path: PurePosixPath
    cache_key: tuple[str | None, ...]  # folder tree, chart tree, policies tree, namespace blob


def folders_at(fleet: Fleet, commit: str) -> list[Folder]:
    """Every strategies/<tenant>/<name> folder at a commit, with what its rendering depends on."""
    tree = fleet.repo.commit(commit).tree
    charts, policies = _entry(tree, "charts"), _entry(tree, "policies")
    out = []
    for path in fleet.list_folders(STRATEGIES_DIR, 2, commit):
        tenant, name = path.parts[1], path.parts[2]
        deps = (_entry(tree, str(path)), charts, policies, _entry(tree, namespace_path(tenant)))
        out.append(Folder(f"{tenant}/{name}", path, deps))
    return out


def _entry(tree: git.Tree, path: str) -> str | None:
    try:
        return tree[path].hexsha
    except KeyError:
        return None


class _LockedPolicies:
    """Policy evaluation from several render threads, one at a time (the CEL runtime is not known to be thread-safe)."""

    def __init__(self, policies: Any) -> None:
        self.policies, self.lock = policies, threading.Lock()

    def evaluate(self, obj: dict[str, Any], namespace: dict[str, Any] | None = None, operation: str = "CREATE"):
        with self.lock:
            return self.policies.evaluate(obj, namespace, operation)


class Admission:
    """Renders and admits folders in a thread pool (helm runs as a subprocess, so threads overlap)."""

    def __init__(self, fleet: Fleet, workers: int = 3) -> None:
        self.fleet = fleet
        self.cache: dict[tuple[str | None, ...], Verdict] = {}
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="render")

    def submit(self, commit: str, folders: list[Folder]) -> dict[str, Future[Verdict]]:
        """Start rendering the folders not in the cache; git is read here, in the caller's thread."""
        jobs: dict[str, Future[Verdict]] = {}
        missing = [f for f in folders if f.cache_key not in self.cache]
        if not missing:
            return jobs
        chart_root = fleet_mod.materialize(self.fleet, "charts", commit)
        try:
            policies = fleet_policies(self.fleet, commit)
        except UserError as exc:
            policies, policy_error = None, exc.render()
        except Exception as exc:  # hand-edited policies/ the engine cannot load: refuse every folder, keep running
            policies, policy_error = None, f"the fleet's policies/ cannot be loaded: {type(exc).__name__}: {exc}"
        else:
            policy_error = ""
        locked = _LockedPolicies(policies) if policies is not None else None
        for folder in missing:
            if not all(is_dns_label(part) for part in folder.path.parts[1:]):
                jobs[folder.key] = _done(Verdict(folder.key, None, "folder names must be DNS-1123 labels"))
                continue
            files = self.fleet.read_folder(folder.path, commit) or {}
            try:
                namespace = tenant_namespace(self.fleet, folder.path.parts[1], commit)
            except UserError as exc:
                namespace, policy_error = None, policy_error or exc.render()
            if policy_error or chart_root is None:
                error = policy_error or "the fleet repo has no charts/"
                jobs[folder.key] = _done(Verdict(folder.key, None, f"cannot admit: {error}"))
                continue
            jobs[folder.key] = self.pool.submit(_admit, folder, files, chart_root, namespace, locked)
        return jobs

    def store(self, folder: Folder, verdict: Verdict) -> None:
        self.cache[folder.cache_key] = verdict

    def cached(self, folder: Folder) -> Verdict | None:
        return self.cache.get(folder.cache_key)

    def prune(self, live: list[Folder]) -> None:
        keep = {f.cache_key for f in live}
        for key in [k for k in self.cache if k not in keep]:
            del self.cache[key]

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _done(verdict: Verdict) -> Future[Verdict]:
    future: Future[Verdict] = Future()
    future.set_result(verdict)
    return future


def _admit(folder: Folder, files: dict[str, bytes], chart_root, namespace, policies) -> Verdict:
    try:
        report = check_folder(files, str(folder.path), chart_root, namespace, policies)
    except UserError as exc:
        return Verdict(folder.key, None, exc.render())
    except Exception as exc:  # a folder nobody validated (hand-edited): report it, keep the others running
        return Verdict(folder.key, None, f"render failed: {type(exc).__name__}: {exc}")
    if report.errors or report.rendered is None:
        return Verdict(folder.key, None, "refused: " + "; ".join(str(f) for f in report.errors))
    warnings = tuple(str(w) for w in report.warnings)
    try:
        return Verdict(folder.key, extract(folder.key, report.rendered.all_objects()), warnings=warnings)
    except PodSpecError as exc:
        return Verdict(folder.key, None, f"cannot run locally: {exc}", warnings)
