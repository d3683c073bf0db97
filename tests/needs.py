"""What a test does when a real part it needs is missing: fail in CI, skip elsewhere, and say how to get it.

`make test` installs every part (packages, helm, the Go components, node modules, chromium), so in CI
(`CI=true`) a missing one is a broken set-up and the test fails; on a developer's machine the test skips
and names the make target that installs the part.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from generator.cluster import components


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what: str, how: str) -> NoReturn:
    """WHAT is not here; HOW installs it (a make target or a command)."""
    message = f"{what}: {how}"
    if in_ci():
        pytest.fail(f"{message} (CI runs every test: the set-up must install it)", pytrace=False)
    pytest.skip(message)


def tool(name: str, how: str) -> str:
    """The path of the program NAME on PATH."""
    return shutil.which(name) or missing(f"no {name} on PATH", how)


def component(name: str) -> Path:
    """A binary built from the pinned Go modules into .tools/bin."""
    if not components.missing((name,)):
        return components.binary(name)
    missing(f"{components.binary(name)} is not built", f"run `make components COMPONENTS={name}`")


def module(name: str, how: str = "run `make install`") -> ModuleType:
    """An importable Python package (the dev extra's or an optional feature's)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"cannot import {name} ({exc})", how)
