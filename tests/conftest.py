"""Shared fixtures: real fleet repos in tmp dirs, spec folders, the real helm binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.fleet import Fleet
from tests.support import new_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return new_fleet(tmp_path / "fleet")


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    return tmp_path / "specs"


def pytest_configure(config: pytest.Config) -> None:
    from tests.cluster import plane

    plane.configure(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    from tests.cluster import plane

    plane.unconfigure(config)
