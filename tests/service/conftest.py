"""Fixtures for the HTTP service: the app over a real fleet repo, served in-process through TestClient."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from generator.fleet import Fleet
from generator.service.app import Settings, create_app
from generator.service.tokens import Limits, load_tokens
from tests.service.service_helpers import ENV

os.environ.setdefault("STRATOPS_HELM", os.path.join(os.path.dirname(__file__), "..", "..", ".tools", "helm"))


def make_client(fleet: Fleet, **settings) -> TestClient:
    tokens = load_tokens(None, ENV, settings.pop("limits", Limits(rate_per_s=1000, burst=1000)))
    return TestClient(create_app(Settings(repo=fleet.path, tokens=tokens, **settings)), raise_server_exceptions=False)


@pytest.fixture
def client(fleet: Fleet) -> Iterator[TestClient]:
    with make_client(fleet) as c:
        yield c
