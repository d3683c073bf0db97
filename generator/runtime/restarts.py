"""Restart requests: a new pod for a strategy without a commit, as deleting a pod does in Kubernetes.

`stratops restart`, the API and the console drop a file named TENANT.NAME into
REPO/.git/stratops-runtime/restart-requests/ (tenant and name are DNS labels, so the dot
is unambiguous); the running `stratops up` takes it within a poll interval, terminates the
strategy's pod and starts a fresh one from the same rendered Deployment (restart count and
back-off start over, emptyDir volumes are new), and removes the file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import Problem, UserError
from ..spec import is_dns_label
from .paths import RuntimePaths
from .status import read_status

REQUEST_DIR = "restart-requests"
TAKE_TIMEOUT = 5.0


def request_dir(paths: RuntimePaths) -> Path:
    return paths.root / REQUEST_DIR


def restart_local(repo: Path, key: str, timeout: float = TAKE_TIMEOUT) -> dict[str, object]:
    """Ask the running `stratops up` for a new pod of `key` (tenant/name, validated); wait until it takes it."""
    status = read_status(repo)
    if status is None:
        raise UserError(
            "the local runtime is not running",
            [Problem(str(repo), "no fresh status.json", f"start it: stratops up {repo}")],
        )
    before = (status.get("strategies") or {}).get(key)
    if before is None:
        raise UserError(
            f"{key} is not running in the local runtime",
            [Problem(key, "not in the running set", "deploy it to main first (a review branch does not run)")],
        )
    paths = RuntimePaths.of(repo)
    folder = request_dir(paths)
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / key.replace("/", ".")
    tmp = folder / f".{target.name}.{os.getpid()}.tmp"
    tmp.write_text(f"{time.time()}\n", encoding="utf-8")
    os.replace(tmp, target)
    deadline = time.monotonic() + timeout
    while target.exists():
        if time.monotonic() > deadline:
            target.unlink(missing_ok=True)
            raise UserError(
                f"the local runtime did not take the restart of {key}",
                [Problem(str(repo), f"no answer within {timeout:g}s", "check that `stratops up` is responsive")],
            )
        time.sleep(0.05)
    return {"strategy": key, "source": "local", "restarted": True, "previous_pid": before.get("pid")}


def take(paths: RuntimePaths) -> list[str]:
    """The strategies whose restart was asked for (each request removed as it is taken)."""
    try:
        names = os.listdir(request_dir(paths))
    except OSError:
        return []
    keys = []
    for name in names:
        tenant, dot, strategy = name.partition(".")
        if name.startswith(".") or not dot:
            continue
        (request_dir(paths) / name).unlink(missing_ok=True)
        if is_dns_label(tenant) and is_dns_label(strategy):
            keys.append(f"{tenant}/{strategy}")
    return keys
