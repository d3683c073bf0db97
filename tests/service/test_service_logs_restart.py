"""The logs and restart routes: tenant-confined, bounded, local runtime files and Kubernetes (FAKE API server)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kubernetes import client as k8s

from generator import actions
from generator.fleet import Fleet
from generator.runtime import logs
from generator.runtime.paths import RuntimePaths
from generator.service.kube_status import KubeStatus
from generator.spec import parse_spec
from tests.service.conftest import make_client
from tests.service.kube_fake import FakeKubeAPI, deployment, helmrelease, pod
from tests.service.service_helpers import auth, spec
from tests.support import AUTHOR

HR, APPS, CORE = "apis/helm.toolkit.fluxcd.io/v2", "apis/apps/v1", "api/v1"
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


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    fake = FakeKubeAPI()
    fake.add(HR, "alice", "helmreleases", helmrelease("momentum-btc"))
    fake.add(APPS, "alice", "deployments", deployment("momentum-btc", available=1))
    fake.add(CORE, "alice", "pods", pod("momentum-btc", restarts=2, last_reason="OOMKilled"))
    fake.add(CORE, "alice", "pods", pod("other", restarts=0, last_reason=None))
    yield fake
    fake.close()


def test_in_the_cluster_restart_deletes_the_pods_and_never_touches_the_deployment(
    api: FakeKubeAPI, deployed: Fleet
) -> None:
    kube = KubeStatus(k8s.ApiClient(k8s.Configuration(host=api.url)))
    with make_client(deployed, kube=kube) as client:
        got = client.post(f"{URL}/restart", headers=auth("alice"))
        assert got.status_code == 202, got.text
        assert got.json()["deleted_pods"] == ["momentum-btc-7c9f6d5b8-x2kqz"]
    writes = [(m, p) for m, p in api.methods if m != "GET"]
    assert writes == [("DELETE", "/api/v1/namespaces/alice/pods/momentum-btc-7c9f6d5b8-x2kqz")]
    names = [p["metadata"]["name"] for p in api.objects[(CORE, "alice", "pods")]]
    assert names == ["other-7c9f6d5b8-x2kqz"]


def test_in_the_cluster_logs_come_from_the_pods(api: FakeKubeAPI, deployed: Fleet) -> None:
    api.pod_logs["momentum-btc-7c9f6d5b8-x2kqz"] = '{"ts": "2026-12-02T08:00:00Z", "level": "info", "msg": "up"}\n'
    kube = KubeStatus(k8s.ApiClient(k8s.Configuration(host=api.url)))
    with make_client(deployed, kube=kube) as client:
        got = client.get(f"{URL}/logs", params={"limit": 50, "since": "1h"}, headers=auth("alice")).json()
    assert got["source"] == "kubernetes" and [line["msg"] for line in got["lines"]] == ["up"]
    asked = [p for m, p in api.methods if p.startswith("/api/v1/namespaces/alice/pods/momentum-btc")]
    assert "container=executor" in asked[0] and "tailLines=50" in asked[0] and "sinceSeconds=3600" in asked[0]
