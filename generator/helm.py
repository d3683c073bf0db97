"""The real helm binary, driven through pyhelm3: `helm template` and `helm lint`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pyhelm3
import pyhelm3.errors

from .assets import PACKAGE_DIR
from .errors import Problem, UserError
from .yamlio import portable_json

_LOCAL_HELM = PACKAGE_DIR.parent / ".tools" / "helm"


def helm_executable() -> str:
    """$STRATOPS_HELM when set (and then nothing else), else `helm` on PATH, else the one `make tools` extracted."""
    return _helm_executable(os.environ.get("STRATOPS_HELM") or None)


@cache
def _helm_executable(configured: str | None) -> str:
    if configured is not None:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise HelmMissing(
            "STRATOPS_HELM names no helm binary",
            [
                Problem(
                    "STRATOPS_HELM",
                    f"{configured!r} is not an executable file",
                    "point it at a helm v3.8+ binary, or unset it to use helm from PATH or `make tools`",
                )
            ],
        )
    for candidate in (shutil.which("helm"), str(_LOCAL_HELM)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise HelmMissing(
        "no helm binary found",
        [
            Problem(
                "helm",
                f"not on PATH and not at {_LOCAL_HELM}",
                "run `make tools` in the stratops checkout (it fetches helm into .tools/), "
                "or install helm v3.8+ on PATH, or set STRATOPS_HELM",
            )
        ],
    )


def yaml_safe_json(values: Any) -> bytes:
    """Values as helm reads them on stdin: JSON that YAML parsers read as the same data."""
    return portable_json(values).encode()


class _Command(pyhelm3.Command):
    """pyhelm3 with values sent as YAML-safe JSON."""

    async def run(self, command: list[str], input: bytes | None = None) -> bytes:  # noqa: A002 - pyhelm3's name
        if input:
            input = yaml_safe_json(json.loads(input))
        return await super().run(command, input)


class HelmError(UserError):
    """helm refused the chart or the values."""


class HelmMissing(UserError):
    """No helm binary to run: a problem of this machine, not of any strategy."""


def template(chart_dir: Path, release: str, namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Render the chart like helm-controller does; values go in on stdin as JSON."""
    command = _Command(executable=helm_executable())
    try:
        docs = asyncio.run(command.template(release, chart_dir, values, namespace=namespace))
        return [d for d in docs if d]
    except pyhelm3.errors.Error as exc:
        raise HelmError(
            f"helm template failed for {namespace}/{release}", [Problem(str(chart_dir), _helm_message(exc))]
        ) from None


def lint(chart_dir: Path, values_file: Path | None = None) -> str:
    args = [helm_executable(), "lint", "--strict", str(chart_dir)]
    if values_file:
        args += ["--values", str(values_file)]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HelmError("helm lint failed", [Problem(str(chart_dir), (result.stdout + result.stderr).strip())])
    return result.stdout


def _helm_message(exc: Exception) -> str:
    text = str(exc).strip()
    return text.removeprefix("Error: ").replace("\n", " ")
