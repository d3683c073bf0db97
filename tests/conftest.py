"""Shared fixtures: real fleet repos in tmp dirs, spec folders, the real helm binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import actions
from generator.fleet import Fleet
from tests.support import AUTHOR, FLEET_URL


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return actions.init(tmp_path / "fleet", "local", AUTHOR, FLEET_URL)


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    return tmp_path / "specs"


def pytest_configure(config: pytest.Config) -> None:
    from tests.cluster import plane

    plane.configure(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    from tests.cluster import plane

    plane.unconfigure(config)
