"""Auth matrix: every route, every kind of caller. A tenant never reads or writes another tenant's data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from generator import actions
from generator.spec import parse_spec
from tests.service.conftest import make_client
from tests.service.service_helpers import ADMIN, auth, repo_state, spec
from tests.support import AUTHOR, new_fleet

S = "/v1/tenants/{t}/strategies/momentum-btc"
BRANCH = "review/{t}/momentum-btc/0123456789ab"
JOB = "0123456789abcdef"  # a backtest id
ROUTES = [
    ("GET", "/v1/tenants/{t}/strategies", None),
    ("GET", "/v1/tenants/{t}/events?once=true", None),
    ("PUT", S, "spec"),
    ("POST", S + "/check", "spec"),
    ("GET", S, None),
    ("DELETE", S, None),
    ("GET", S + "/history", None),
    ("POST", S + "/rollback", None),
    ("GET", S + "/diff", None),
    ("GET", S + "/status", None),
    ("GET", S + "/signals", None),
    ("GET", S + "/logs", None),
    ("POST", S + "/restart", None),
    ("GET", "/v1/tenants/{t}/reviews", None),
    ("GET", "/v1/tenants/{t}/reviews/" + BRANCH, None),
    ("POST", "/v1/tenants/{t}/reviews/" + BRANCH + "/merge", None),
    ("POST", "/v1/tenants/{t}/reviews/" + BRANCH + "/approve", None),
    ("POST", "/v1/tenants/{t}/reviews/" + BRANCH + "/comments", None),
    ("POST", "/v1/tenants/{t}/reviews/" + BRANCH + "/close", None),
    ("POST", "/v1/tenants/{t}/backtests", "spec"),
    ("GET", "/v1/tenants/{t}/backtests/" + JOB, None),
]
UNSCOPED = [("GET", "/v1/whoami", None), ("GET", "/v1/market/BTC-USD/bars", None)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[tuple[TestClient, Path]]:
    fleet = new_fleet(tmp_path_factory.mktemp("auth") / "fleet")
    import json

    for tenant in ("alice", "bob"):
        actions.deploy(fleet, parse_spec(json.dumps(spec("momentum-btc", tenant)["spec"])), AUTHOR)
    with make_client(fleet) as client:
        yield client, fleet.path


def _call(client: TestClient, method: str, template: str, body: str | None, tenant: str, headers: dict[str, str]):
    path = template.format(t=tenant)
    json_body = spec("momentum-btc", tenant) if body == "spec" else None
    return client.request(method, path, json=json_body, headers=headers)


def test_the_matrix_covers_every_route(setup):
    client, _ = setup
    paths = client.get("/openapi.json").json()["paths"]
    declared = {(m.upper(), p) for p, ops in paths.items() if p.startswith("/v1/") for m in ops}
    covered = {
        (
            m,
            p.replace(BRANCH, "{branch}")
            .replace("momentum-btc", "{name}")
            .replace("{t}", "{tenant}")
            .replace(JOB, "{ident}"),
        )
        for m, p, _ in ROUTES + UNSCOPED
    }
    covered = {(m, p.replace("/v1/market/BTC-USD/", "/v1/market/{symbol}/").split("?")[0]) for m, p in covered}
    assert declared == covered


@pytest.mark.parametrize(("method", "template", "body"), ROUTES + UNSCOPED, ids=lambda v: str(v))
@pytest.mark.parametrize("token", [None, "", "alice-token-wrong", "Basic YWxpY2U6eA==", ADMIN + "x"])
def test_no_or_unknown_token_is_401(setup, method, template, body, token):
    client, repo = setup
    before = repo_state(repo)
    headers = {} if token is None else {"Authorization": token if token.startswith("Basic") else f"Bearer {token}"}
    response = _call(client, method, template, body, "alice", headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert repo_state(repo) == before


@pytest.mark.parametrize(("method", "template", "body"), ROUTES, ids=lambda v: str(v))
@pytest.mark.parametrize(("caller", "target"), [("alice", "bob"), ("bob", "alice"), ("alice", "carol")])
def test_another_tenant_is_403_and_changes_nothing(setup, method, template, body, caller, target):
    client, repo = setup
    before = repo_state(repo)
    response = _call(client, method, template, body, target, auth(caller))
    assert response.status_code == 403, response.text
    body = response.json()
    assert body.pop("instance") == template.format(t=target).split("?")[0]
    assert target not in str(body)  # nothing about the other tenant
    assert repo_state(repo) == before


@pytest.mark.parametrize(("method", "template", "body"), ROUTES + UNSCOPED, ids=lambda v: str(v))
@pytest.mark.parametrize("caller", ["alice", None])
def test_own_tenant_and_admin_pass_auth(setup, method, template, body, caller):
    client, _ = setup
    response = _call(client, method, template, body, "alice", auth(caller))
    assert response.status_code not in (401, 403) and response.status_code < 500, response.text


def test_lists_hold_only_the_callers_strategies(setup):
    client, _ = setup
    for tenant in ("alice", "bob"):  # deployed again: the matrix above stops and rolls back on this module's fleet
        assert client.put(S.format(t=tenant), json=spec("momentum-btc", tenant), headers=auth(None)).status_code == 200
    for tenant in ("alice", "bob"):
        rows = client.get(f"/v1/tenants/{tenant}/strategies", headers=auth(tenant)).json()
        assert rows and {r["tenant"] for r in rows} == {tenant}
    admin = {"tenant": None, "admin": True, "user": "admin", "email": "admin@stratops"}
    assert client.get("/v1/whoami", headers=auth(None)).json() == admin
