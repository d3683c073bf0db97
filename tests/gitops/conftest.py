"""Fixtures for the GitOps tests: a bare remote and clones of it, all real git repos in tmp dirs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from generator.fleet import Fleet
from tests.gitops.gitops_helpers import git
from tests.support import new_fleet


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """A bare remote holding a fresh fleet repo (cluster `prod`)."""
    seed = new_fleet(tmp_path / "seed", cluster="prod")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(seed.path), str(remote))
    return remote


@pytest.fixture
def clone(bare: Path, tmp_path: Path) -> Callable[[str], Fleet]:
    """clone(name) -> a fleet repo cloned from the bare remote (its `origin`)."""

    def make(name: str) -> Fleet:
        path = tmp_path / name
        git(tmp_path, "clone", "--quiet", str(bare), str(path))
        return Fleet(path)

    return make
