"""Where the built components live: the binaries and the data copied from their Go modules.

`make components` (scripts/build_tools.py) builds them from the pinned wrapper modules under tools/go/ into
.tools/bin/ and copies CRDs, manifests and kwok's stages into .tools/share/. STRATOPS_TOOLS points elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import Problem, UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
FLUX = ("source-controller", "kustomize-controller", "helm-controller")
KYVERNO = "kyverno-admission"  # the admission controller; `kyverno` is the CLI


def tools_dir() -> Path:
    return Path(os.environ.get("STRATOPS_TOOLS") or REPO_ROOT / ".tools")


def binary(name: str) -> Path:
    return tools_dir() / "bin" / name


def missing(names: tuple[str, ...] = CONTROL_PLANE + FLUX) -> list[str]:
    return [n for n in names if not os.access(binary(n), os.X_OK)]


def require(names: tuple[str, ...] = CONTROL_PLANE + FLUX) -> None:
    absent = missing(names)
    if absent:
        raise UserError(
            "the control plane's components are not built",
            [
                Problem(
                    str(binary(n)), "missing", "run `make components` in the stratops checkout (builds them from Go)"
                )
                for n in absent
            ],
        )


def shared(component: str, module: str, folder: str) -> Path:
    """A folder copied from MODULE's source by the build of COMPONENT (its build.toml `share`)."""
    path = tools_dir() / "share" / component / module / folder
    if not path.is_dir():
        raise UserError(
            f"{component}'s data is missing",
            [Problem(str(path), "not found", f"run `make components COMPONENTS={component}`")],
        )
    return path


def version(component: str) -> str:
    """The module version a component was built from (its build stamp), or 'unknown'."""
    try:
        return json.loads((tools_dir() / "stamps" / f"{component}.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"
