"""The logs and restart routes over the local runtime: tenant-confined, bounded.

In the cluster (the API server's pod logs, restart by deleting pods): tests/cluster/test_cluster_kube_status.py.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from generator import actions
from generator.fleet import Fleet
from generator.runtime import logs
from generator.runtime.paths import RuntimePaths
from generator.spec import parse_spec
from tests.service.service_helpers import auth, spec
from tests.support import AUTHOR

URL = "/v1/tenants/alice/strategies/momentum-btc"


@pytest.fixture
def deployed(fleet: Fleet) -> Fleet:
    actions.deploy(fleet, parse_spec(json.dumps(spec()["spec"])), AUTHOR)
    return fleet


def write_log(fleet: Fleet, key: str, text: str) -> None:
    folder = RuntimePaths.of(fleet.path).strategy_dir(key)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / logs.LOG_FILE).write_text(text)


def test_logs_are_the_runtime_files_confined_to_the_tenant(deployed: Fleet, client: TestClient) -> None:
    record = {"ts": "2026-12-02T08:00:00.500Z", "level": "error", "msg": "on_start raised"}
    write_log(deployed, "alice/momentum-btc", "booting\n" + json.dumps(record) + "\nplain after\n")
    got = client.get(f"{URL}/logs", headers=auth("alice"))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["strategy"] == "alice/momentum-btc" and body["source"] == "local"
    assert [line["text"] for line in body["lines"]] == ["booting", json.dumps(record), "plain after"]
    assert body["lines"][1]["level"] == "error" and body["lines"][2]["ts"] == body["lines"][1]["ts"]
    assert client.get(f"{URL}/logs", params={"limit": 1}, headers=auth("alice")).json()["lines"][0]["text"] == (
        "plain after"
    )
    since = client.get(f"{URL}/logs", params={"since": "2026-12-02T08:00:01Z"}, headers=auth("alice")).json()
    assert [line["text"] for line in since["lines"]] == ["booting"]  # no time of its own: kept

    assert client.get(f"{URL}/logs", headers=auth("bob")).status_code == 403
    assert client.get(f"{URL}/logs").status_code == 401
    assert client.get(f"{URL}/logs", params={"limit": 5001}, headers=auth("alice")).status_code == 400
    bad_since = client.get(f"{URL}/logs", params={"since": "last week"}, headers=auth("alice"))
    assert bad_since.status_code == 422 and "since" in bad_since.text
    missing = client.get("/v1/tenants/alice/strategies/nobody/logs", headers=auth("alice"))
    assert missing.status_code == 404
    traversal = client.get("/v1/tenants/alice/strategies/..%2f..%2fx/logs", headers=auth("alice"))
    assert traversal.status_code in (404, 422)


def test_deployed_but_never_run_has_no_lines(deployed: Fleet, client: TestClient) -> None:
    got = client.get(f"{URL}/logs", headers=auth("alice"))
    assert got.status_code == 200 and got.json()["lines"] == []


def test_restart_without_a_runtime_is_a_conflict_and_needs_the_tenant(deployed: Fleet, client: TestClient) -> None:
    head = deployed.head()
    got = client.post(f"{URL}/restart", headers=auth("alice"))
    assert got.status_code == 409 and "not running" in got.json()["title"]
    assert client.post(f"{URL}/restart", headers=auth("bob")).status_code == 403
    assert client.post("/v1/tenants/alice/strategies/nobody/restart", headers=auth("alice")).status_code == 404
    assert deployed.head() == head
