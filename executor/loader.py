"""Load a strategy class from a file in the (read-only) code directory."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from executor.api import Strategy


class LoadError(RuntimeError):
    pass


def resolve_code_path(code_dir: Path, file: str) -> Path:
    """The code file must be a plain file name directly inside ``code_dir``."""
    if not file or "/" in file or "\\" in file or file.startswith(".") or not file.endswith(".py"):
        raise LoadError(f"code file must be a plain *.py file name, got {file!r}")
    path = code_dir / file
    if not path.is_file():
        raise LoadError(f"code file {path} not found")
    return path


def verify_digest(path: Path, sha256: str | None) -> None:
    if not sha256:
        return
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != sha256.lower():
        raise LoadError(f"code digest mismatch for {path.name}: expected {sha256}, got {actual}")


def load_strategy_class(code_dir: Path, file: str, class_name: str, sha256: str | None = None) -> type[Strategy]:
    path = resolve_code_path(code_dir, file)
    verify_digest(path, sha256)
    module_name = f"stratops_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise LoadError(f"importing {path.name} failed: {type(exc).__name__}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise LoadError(f"{path.name} has no Strategy subclass named {class_name!r}")
    return cls
