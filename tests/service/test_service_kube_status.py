"""Status from Kubernetes through the official client, against a FAKE API server (tests/service/kube_fake.py)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from kubernetes import client as k8s

from generator import actions
from generator.fleet import Fleet
from generator.service.kube_status import KubeStatus, cluster_status
from generator.spec import parse_spec
from tests.service.conftest import make_client
from tests.service.kube_fake import COMMIT, FakeKubeAPI, deployment, helmrelease, pod
from tests.service.service_helpers import auth, spec
from tests.support import AUTHOR

HR, APPS, CORE = "apis/helm.toolkit.fluxcd.io/v2", "apis/apps/v1", "api/v1"


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    fake = FakeKubeAPI()
    # momentum-btc: running, but OOMKilled once before the current container.
    fake.add(HR, "alice", "helmreleases", helmrelease("momentum-btc"))
    fake.add(APPS, "alice", "deployments", deployment("momentum-btc", available=1))
    fake.add(CORE, "alice", "pods", pod("momentum-btc", restarts=2, last_reason="OOMKilled"))
    # crashy: released, but the container keeps crashing.
    fake.add(HR, "alice", "helmreleases", helmrelease("crashy"))
    fake.add(APPS, "alice", "deployments", deployment("crashy", available=0))
    fake.add(CORE, "alice", "pods", pod("crashy", restarts=7, last_reason="Error", waiting="CrashLoopBackOff"))
    # broken: the Helm upgrade failed; no Deployment was ever created.
    message = "Helm install failed for release alice/broken with chart strategy-executor@0.1.0: timed out waiting"
    fake.add(HR, "alice", "helmreleases", helmrelease("broken", "False", "InstallFailed", message))
    fake.add(APPS, "stratops-system", "deployments", deployment("market-feed", 1, "stratops-system"))
    yield fake
    fake.close()


@pytest.fixture
def kube(api: FakeKubeAPI) -> KubeStatus:
    return KubeStatus(k8s.ApiClient(k8s.Configuration(host=api.url)))


def test_running_strategy_with_an_earlier_oom_kill(kube: KubeStatus, api: FakeKubeAPI):
    row = kube.status("alice", "momentum-btc")
    assert row["state"] == "Running" and row["ready"] is True
    assert row["restarts"] == 2 and row["oom_killed"] is True and row["last_termination_reason"] == "OOMKilled"
    assert row["revision"] == COMMIT and row["replicas"] == {"desired": 1, "available": 1}
    assert row["helmrelease"]["reason"] == "UpgradeSucceeded" and "succeeded" in row["message"]
    ready_since = dt.datetime(2026, 11, 20, 10, 31, 12, tzinfo=dt.UTC).timestamp()  # the pod's Ready transition
    assert row["last_heartbeat"] == ready_since
    selectors = [parse_qs(urlparse(p).query).get("labelSelector") for p in api.requests]
    assert ["app.kubernetes.io/name=strategy-executor,app.kubernetes.io/instance=momentum-btc"] in selectors


def test_crash_loop_failed_release_and_absent(kube: KubeStatus):
    crashy = kube.status("alice", "crashy")
    assert crashy["state"] == "CrashLoopBackOff" and crashy["ready"] is False and crashy["restarts"] == 7
    assert crashy["oom_killed"] is False and "CrashLoopBackOff" in crashy["message"]
    broken = kube.status("alice", "broken")
    assert broken["state"] == "Failed" and broken["replicas"]["desired"] == 0
    assert broken["message"].startswith("Helm install failed")
    assert kube.status("alice", "nothing")["state"] == "Absent"


def test_api_errors_are_an_unknown_state_not_an_exception(kube: KubeStatus, api: FakeKubeAPI):
    api.fail_with = 500
    row = kube.status("alice", "momentum-btc")
    assert row["state"] == "Unknown" and "500" in row["message"]
    assert kube.statuses("alice")["*"]["state"] == "Unknown"
    unreachable = KubeStatus(k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9")))
    unreachable.core.api_client.configuration.retries = 0
    assert unreachable.status("alice", "x")["state"] == "Unknown"


def test_tenant_listing_and_the_fleet_view(kube: KubeStatus, fleet: Fleet):
    rows = kube.statuses("alice")
    assert {k: r["state"] for k, r in rows.items()} == {
        "alice/momentum-btc": "Running",
        "alice/crashy": "CrashLoopBackOff",
        "alice/broken": "Failed",
    }
    actions.deploy(fleet, parse_spec(json.dumps(spec()["spec"])), AUTHOR)
    actions.deploy(fleet, parse_spec(json.dumps(spec("fresh")["spec"])), AUTHOR)
    view = cluster_status(kube, fleet)
    assert view["kind"] == "RuntimeStatus" and view["revision"] == fleet.head()
    assert view["strategies"]["alice/momentum-btc"]["state"] == "Running"
    assert view["strategies"]["alice/fresh"]["state"] == "Absent"  # committed, not reconciled yet
    assert view["feed"]["state"] == "Running" and view["sink"]["state"] == "Absent"


def test_the_status_endpoint_reads_kubernetes(kube: KubeStatus, fleet: Fleet):
    actions.deploy(fleet, parse_spec(json.dumps(spec()["spec"])), AUTHOR)
    with make_client(fleet, kube=kube) as client:
        got = client.get("/v1/tenants/alice/strategies/momentum-btc/status", headers=auth("alice")).json()
        assert got["source"] == "kubernetes" and got["state"] == "Running" and got["oom_killed"] is True
        rows = client.get("/v1/tenants/alice/strategies", headers=auth("alice")).json()
        assert rows[0]["status"]["state"] == "Running"


def test_status_cli_with_source_kubernetes(api: FakeKubeAPI, fleet: Fleet, tmp_path):
    from click.testing import CliRunner

    from generator.cli import main

    actions.deploy(fleet, parse_spec(json.dumps(spec()["spec"])), AUTHOR)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": api.url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
                "current-context": "fake",
            }
        )
    )
    args = ["status", str(fleet.path), "--source", "kubernetes", "--kubeconfig", str(kubeconfig)]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["strategies"]["alice/momentum-btc"]["oom_killed"] is True
    plain = CliRunner().invoke(main, args)
    assert plain.exit_code == 0 and "alice/momentum-btc" in plain.output and "Running" in plain.output
    missing = CliRunner().invoke(main, [*args[:-1], str(tmp_path / "none")])
    assert missing.exit_code == 2 and "Kubernetes configuration" in missing.output
