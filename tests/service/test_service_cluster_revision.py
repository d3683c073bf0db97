"""The revision a live HelmRelease was rendered at, and `sync` in the cluster, against a real fleet repo.

The live objects a real cluster holds (API server defaults, helm-controller's status): tests/cluster/
test_cluster_e2e.py::test_sync_follows_deploys_in_the_cluster.
"""

from __future__ import annotations

import copy
import json

from generator import actions
from generator.fleet import Fleet
from generator.render import strategy_dir
from generator.service import cluster_revision
from generator.service.cluster_revision import applied_revision, matches, rendered_spec
from generator.service.sync import sync_of
from generator.spec import parse_spec
from tests.service.service_helpers import spec
from tests.support import AUTHOR

FOLDER = strategy_dir("alice", "momentum-btc")


def deploy(fleet: Fleet, window: int) -> str:
    doc = spec()["spec"]
    doc["spec"]["params"] = {"window": window}
    return actions.deploy(fleet, parse_spec(json.dumps(doc)), AUTHOR).commit or ""


def live(rendered: dict) -> dict:
    """The spec as the API server holds it: with the CRD schema's defaults."""
    out = copy.deepcopy(rendered)
    out["chart"]["spec"]["version"] = "*"
    return out


def test_the_live_spec_names_the_commit_it_was_rendered_at(fleet: Fleet) -> None:
    first = deploy(fleet, 20)
    second = deploy(fleet, 21)
    one, two = rendered_spec(fleet, FOLDER, first), rendered_spec(fleet, FOLDER, second)
    names = [[v["name"] for v in s["valuesFrom"]] for s in (one, two)]
    assert names[0][0] != names[1][0] and names[0][1] == names[1][1], names  # values changed, code did not
    assert all(n.startswith("momentum-btc-") and len(n.rsplit("-", 1)[1]) == 10 for n in names[0])  # hashed

    assert applied_revision(fleet, FOLDER, live(two)) == second
    assert applied_revision(fleet, FOLDER, live(one)) == first  # not taken up yet: the older one is named
    stale = live(two)
    stale["valuesFrom"][0]["name"] = "momentum-btc-values-0000000000"
    assert applied_revision(fleet, FOLDER, stale) is None
    assert applied_revision(fleet, FOLDER, None) is None
    assert applied_revision(fleet, strategy_dir("alice", "not-deployed"), live(two)) is None


def test_matches_takes_defaults_and_nothing_else() -> None:
    rendered = {"interval": "10m", "valuesFrom": [{"kind": "ConfigMap", "name": "v-abc"}], "chart": {"spec": {}}}
    assert matches(rendered, {**rendered, "chart": {"spec": {"version": "*"}}})
    assert not matches(rendered, {**rendered, "interval": "5m"})
    assert not matches(rendered, {k: v for k, v in rendered.items() if k != "interval"})
    assert not matches(rendered, {**rendered, "valuesFrom": [{"kind": "ConfigMap", "name": "v-abd"}]})
    assert not matches(rendered, {**rendered, "valuesFrom": rendered["valuesFrom"] * 2})
    assert not matches(rendered, {**rendered, "valuesFrom": []})


def test_renders_are_cached_per_commit(fleet: Fleet, monkeypatch) -> None:
    sha = deploy(fleet, 20)
    first = rendered_spec(fleet, FOLDER, sha)
    monkeypatch.setattr(cluster_revision, "_render", lambda *a: (_ for _ in ()).throw(AssertionError("rendered")))
    assert rendered_spec(fleet, FOLDER, sha) == first


def test_sync_in_the_cluster(fleet: Fleet) -> None:
    first = deploy(fleet, 20)
    second = deploy(fleet, 21)
    done = {"status": "True", "reconciled": True}
    row = {"source": "kubernetes", "state": "Running", "ready": True, "revision": second, "helmrelease": done}
    assert sync_of(second, row) == {"status": "Synced", "revision": second, "message": ""}
    assert sync_of(second, {**row, "revision": first}) == {
        "status": "OutOfSync",
        "revision": second,
        "message": f"runs {first[:12]}",
    }
    assert sync_of(second, {**row, "revision": None})["message"] == "runs nothing"
    # applied, but helm-controller has not reconciled the new generation yet (Ready speaks of the old one)
    assert sync_of(second, {**row, "helmrelease": {**done, "reconciled": False}})["status"] == "Progressing"
    assert sync_of(second, {**row, "state": "Pending", "ready": False})["status"] == "Progressing"
    assert sync_of(second, {"source": "kubernetes", "state": "Unknown"})["status"] == "Unknown"
