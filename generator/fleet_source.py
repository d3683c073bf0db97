"""Where Flux fetches the fleet repo from: the URL each tenant's own GitRepository uses.

Under Flux's multi-tenancy lockdown (`--no-cross-namespace-refs`) a tenant's
HelmRelease may only take its chart from a source in its own namespace, so every
tenant gets a GitRepository of the fleet repo. Its URL (and the name of the
Secret with the credentials, if any) is, first found:
1. the `flux-system` GitRepository `flux bootstrap` committed under clusters/;
2. `source` in stratops.yaml (`stratops init --source-url`);
3. the fleet repo's push remote, when it is a URL source-controller can fetch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import layout
from .errors import Problem, UserError
from .fleet import MAIN_BRANCH, MARKER_FILE, Fleet
from .remote import remote_name
from .yamlio import load_all, load_one

_FETCHABLE = re.compile(r"^(https?|ssh)://[^\s]+$")  # the GitRepository CRD's url pattern, without spaces
_SCP_LIKE = re.compile(r"^(?P<user>[\w.-]+)@(?P<host>[\w.-]+):(?P<path>[^/\s][^\s]*)$")


@dataclass(frozen=True)
class FleetSource:
    url: str
    secret: str | None = None  # a Secret of that name must exist in each tenant namespace


def normalize_url(url: str) -> str | None:
    """A URL source-controller accepts, or None; `git@host:org/repo.git` becomes `ssh://git@host/org/repo.git`."""
    url = url.strip()
    scp = _SCP_LIKE.match(url)
    if scp:
        url = f"ssh://{scp['user']}@{scp['host']}/{scp['path']}"
    return url if _FETCHABLE.match(url) else None


def check_url(url: str, option: str = "--source-url") -> str:
    normalized = normalize_url(url)
    if normalized is None:
        raise UserError(
            "not a URL Flux can fetch the fleet repo from",
            [Problem(option, repr(url), "give an https://, http:// or ssh:// URL (or git@host:org/repo.git)")],
        )
    return normalized


def fleet_source(fleet: Fleet, rev: str = MAIN_BRANCH) -> FleetSource:
    found = _bootstrapped(fleet, rev) or _recorded(fleet, rev) or _remote(fleet)
    if found is None:
        raise UserError(
            "cannot tell where Flux fetches this fleet repo from",
            [
                Problem(
                    "tenant",
                    "each tenant gets a GitRepository of the fleet repo, and its URL is unknown",
                    "bootstrap Flux first (docs/cluster.md), or record it: `stratops init --source-url URL`, "
                    "or `git remote add origin URL`",
                )
            ],
        )
    return found


def _bootstrapped(fleet: Fleet, rev: str) -> FleetSource | None:
    for folder in fleet.list_folders("clusters", 1, rev):
        files = fleet.read_folder(f"{folder}/{layout.FLUX_NAMESPACE}", rev) or {}
        for name, data in sorted(files.items()):
            if not name.endswith((".yaml", ".yml")):
                continue
            try:
                docs = load_all(data.decode("utf-8"), name)
            except (UserError, UnicodeDecodeError):
                continue
            for doc in docs:
                if _is_bootstrap_source(doc):
                    spec = doc.get("spec") or {}
                    url = normalize_url(str(spec.get("url", "")))
                    if url:
                        return FleetSource(url, (spec.get("secretRef") or {}).get("name"))
    return None


def _is_bootstrap_source(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("kind") == "GitRepository"
        and str(doc.get("apiVersion", "")).startswith("source.toolkit.fluxcd.io/")
        and (doc.get("metadata") or {}).get("name") == layout.FLUX_NAMESPACE
    )


def _recorded(fleet: Fleet, rev: str) -> FleetSource | None:
    data = fleet.read_file(MARKER_FILE, rev)
    doc = load_one(data.decode("utf-8"), MARKER_FILE) if data else None
    source = doc.get("source") if isinstance(doc, dict) else None
    if not isinstance(source, dict) or not source.get("url"):
        return None
    url = normalize_url(str(source["url"]))
    return FleetSource(url, source.get("secretName") or None) if url else None


def _remote(fleet: Fleet) -> FleetSource | None:
    name = remote_name(fleet)
    try:
        urls = list(fleet.repo.remote(name).urls) if name else []
    except ValueError:  # stratops.remote names a remote that does not exist
        return None
    url = normalize_url(urls[0]) if urls else None
    return FleetSource(url) if url else None
