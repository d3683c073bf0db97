"""status.json: written by `stratops up` at least once a second, read by `stratops status` and the HTTP service."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import UserError
from .paths import RuntimePaths

STALE_SECONDS = 10.0


def read_status(repo_path: Path | str) -> dict[str, Any] | None:
    """The runtime's status, or None when `up` is not running or the file is older than 10 s."""
    try:
        paths = RuntimePaths.of(Path(repo_path))
        status = json.loads(paths.status_file.read_text(encoding="utf-8"))
    except (UserError, OSError, ValueError):
        return None
    if not isinstance(status, dict) or time.time() - float(status.get("updated", 0)) > STALE_SECONDS:
        return None
    return status if _alive(status.get("pid")) else None


def write_status(paths: RuntimePaths, status: dict[str, Any]) -> None:
    """Atomic: readers see the old file or the new one, never a torn one."""
    tmp = paths.status_file.with_name(f".status.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, paths.status_file)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
