"""Runtime fixtures: a fleet with a strategy deployed, and `stratops up` running on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.fleet import Fleet
from tests.runtime.rt_helpers import Up, deploy


@pytest.fixture
def one(fleet: Fleet, tmp_path: Path) -> Fleet:
    deploy(fleet, tmp_path / "specs", "alpha")
    return fleet


@pytest.fixture
def up(one: Fleet, tmp_path: Path) -> Iterator[Up]:
    process = Up(one.path, tmp_path / "up.log")
    yield process
    process.stop()
