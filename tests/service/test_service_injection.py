"""Path traversal and YAML/shell injection in every field: a clear 4xx, nothing written outside the repo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from generator import actions
from generator.spec import parse_spec
from tests.service.conftest import make_client
from tests.service.service_helpers import auth, repo_state, spec
from tests.support import AUTHOR, new_fleet

MARKER = Path("/tmp/stratops-service-injection-marker")
ATTACKS = [
    "..",
    "../bob",
    "..%2Fbob",
    "alice/../bob",
    "%2e%2e",
    "/etc/passwd",
    "$(touch /tmp/stratops-service-injection-marker)",
    "`touch /tmp/stratops-service-injection-marker`",
    "a;touch /tmp/stratops-service-injection-marker",
    "x\nkind: Secret",
    "x: {y: z}",
    "{{ .Values }}",
    "--output=/tmp/stratops-service-injection-marker",
    "-n",
    "a\x00b",
    "ALICE",
    "a" * 300,
    "é",
    "*",
    "HEAD:../../etc",
]
ADMIN = auth(None)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[tuple[TestClient, Path]]:
    fleet = new_fleet(tmp_path_factory.mktemp("inject") / "fleet")
    actions.deploy(fleet, parse_spec(json.dumps(spec()["spec"])), AUTHOR)
    with make_client(fleet) as client:
        yield client, fleet.path


def _quiet(client: TestClient, repo: Path, method: str, url: str, **kwargs) -> int:
    before = repo_state(repo)
    response = client.request(method, url, **kwargs)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    assert repo_state(repo) == before
    assert not MARKER.exists()
    return response.status_code


@pytest.mark.parametrize("value", ATTACKS)
def test_path_fields(setup, value):
    client, repo = setup
    v = quote(value, safe="")
    base = "/v1/tenants/alice/strategies"
    urls = [
        ("GET", f"/v1/tenants/{v}/strategies"),
        ("PUT", f"{base}/{v}"),
        ("GET", f"{base}/{v}"),
        ("DELETE", f"{base}/{v}"),
        ("GET", f"{base}/{v}/history"),
        ("POST", f"{base}/{v}/rollback"),
        ("GET", f"{base}/{v}/diff"),
        ("GET", f"{base}/{v}/status"),
        ("GET", f"{base}/{v}/signals"),
        ("POST", f"{base}/{v}/check"),
        ("GET", f"/v1/tenants/alice/reviews/{v}"),
        ("POST", f"/v1/tenants/alice/reviews/{v}/merge"),
        ("POST", f"/v1/tenants/alice/reviews/{v}/approve"),
        ("POST", f"/v1/tenants/alice/reviews/{v}/comments"),
        ("POST", f"/v1/tenants/alice/reviews/{v}/close"),
        ("GET", f"/v1/tenants/alice/reviews/review/alice/{v}"),
        ("GET", f"/v1/market/{v}/bars"),
    ]
    for method, url in urls:
        body = spec() if method in ("PUT", "POST") and url.endswith(("check", v)) else None
        assert _quiet(client, repo, method, url, json=body, headers=ADMIN) in (400, 404, 405, 422), url


@pytest.mark.parametrize("value", ATTACKS)
def test_revisions_and_idempotency_key(setup, value):
    client, repo = setup
    url = "/v1/tenants/alice/strategies/momentum-btc"
    assert _quiet(client, repo, "GET", f"{url}/diff", params={"from": value}, headers=ADMIN) in (400, 404)
    assert _quiet(client, repo, "GET", f"{url}/diff", params={"to": value}, headers=ADMIN) in (400, 404)
    assert _quiet(client, repo, "POST", f"{url}/rollback", json={"to": value}, headers=ADMIN) in (400, 404)
    try:
        headers = {**ADMIN, "Idempotency-Key": value}
        status = _quiet(client, repo, "DELETE", "/v1/tenants/alice/strategies/nothing", headers=headers)
    except UnicodeEncodeError:  # httpx refuses non-ASCII header values: nothing to send
        return
    assert status in (400, 404)


@pytest.mark.parametrize("value", ATTACKS)
@pytest.mark.parametrize(
    "field",
    [
        ("metadata", "name"),
        ("metadata", "tenant"),
        ("spec", "code", "class"),
        ("spec", "code", "file"),
        ("spec", "subscriptions", 0),
        ("spec", "resources", "cpu"),
        ("spec", "resources", "memory"),
        ("spec", "state", "size"),
        ("apiVersion",),
        ("kind",),
    ],
)
def test_spec_fields_are_refused(setup, field, value):
    client, repo = setup
    body = spec()
    doc = body["spec"]
    doc["spec"]["state"] = {"persistent": True, "size": "1Gi"}
    target = doc
    for part in field[:-1]:
        target = target[part]
    target[field[-1]] = value
    status = _quiet(client, repo, "PUT", "/v1/tenants/alice/strategies/momentum-btc", json=body, headers=ADMIN)
    assert status in (400, 422)


def test_injection_in_free_text_stays_data(setup, tmp_path: Path):
    """Params and code are free text: they are committed verbatim and never become YAML structure or commands."""
    client, repo = setup
    evil = "x\n---\napiVersion: v1\nkind: Secret\n$(touch /tmp/stratops-service-injection-marker) {{ .Values }} `id`"
    body = spec(
        "free-text",
        code='from executor import Strategy\n\n\nclass Momentum(Strategy):\n    NOTE = """' + evil + '"""\n',
    )
    body["spec"]["spec"]["params"] = {evil: [evil, {"k": evil}]}
    response = client.put("/v1/tenants/alice/strategies/free-text", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert not MARKER.exists()
    shown = client.get("/v1/tenants/alice/strategies/free-text", headers=ADMIN).json()
    assert shown["spec"]["spec"]["params"] == {evil: [evil, {"k": evil}]}
    assert evil in shown["code"]
    diff = client.get("/v1/tenants/alice/strategies/free-text/diff", headers=ADMIN).json()
    kinds = {o["key"].split("/")[-3] for o in diff["objects"]}
    assert kinds <= {
        "HelmRelease",
        "Deployment",
        "ConfigMap",
        "ServiceAccount",
        "NetworkPolicy",
        "PersistentVolumeClaim",
    }
    assert "Deployment" in kinds
