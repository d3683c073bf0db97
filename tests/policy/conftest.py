"""Fixtures for the policy-engine tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # policy_helpers, policy_objects

from policy_helpers import policy_yaml  # noqa: E402


@pytest.fixture
def write_policy(tmp_path: Path):
    def write(spec: str, name: str = "p", api_version: str = "policies.kyverno.io/v1") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(policy_yaml(name, spec, api_version))
        return path

    return write
