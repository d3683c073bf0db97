"""Fuzz every operation from the OpenAPI schema (schemathesis): no 5xx, and a refused request changes nothing."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from generator import actions
from generator.spec import parse_spec
from tests.service.conftest import make_client
from tests.service.service_helpers import ADMIN, repo_state, spec
from tests.support import AUTHOR, new_fleet


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    fleet = new_fleet(tmp_path_factory.mktemp("fuzz") / "fleet")
    actions.deploy(fleet, parse_spec(json.dumps(spec()["spec"])), AUTHOR)
    with make_client(fleet) as client:
        yield client, fleet.path


def test_no_server_error_and_refusals_change_nothing(served):
    client, repo = served
    loaded = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) == 24  # every route in docs/internals.md
    token = {"Authorization": f"Bearer {ADMIN}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def fuzz(case) -> None:
            before = repo_state(repo)
            if case.path.endswith("/events"):  # a live stream never ends: fuzz the one-event form
                case.query = {**(case.query or {}), "once": "true"}
            response = case.call(headers={**(case.headers or {}), **token})
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.text[:500]}"
            if response.status_code >= 400:
                assert response.headers["content-type"] == ["application/problem+json"], where
                assert repo_state(repo) == before, f"{where} was refused but changed the repo"

        fuzz()
