"""Hostile requests: YAML bombs and deep nesting answer 4xx at once; tenant limits hold on every path to main."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from generator import actions
from generator import review as review_branches
from generator.fleet import Fleet
from generator.service.tokens import Limits
from tests.service.conftest import make_client
from tests.service.service_helpers import auth, repo_state, spec, user_auth
from tests.support import AUTHOR

URL = "/v1/tenants/alice/strategies/momentum-btc"
ALICE = auth("alice")
YAML = {**ALICE, "Content-Type": "application/yaml"}


def _yaml_spec(params: str) -> str:
    text = yaml.safe_dump(spec()["spec"], sort_keys=False)
    return text.replace("window: 20", params)


# 561 bytes of YAML that expand to 9**7 = 4.8 million strings: the shape of the attack seen on the service.
BOMB = _yaml_spec(
    "\n    ".join(f"l{i}: &l{i} [" + ", ".join(["x" if i == 0 else f"*l{i - 1}"] * 9) + "]" for i in range(7))
)
DEEP_YAML = _yaml_spec("deep: " + "[" * 3000 + "]" * 3000)
DEEP_BLOCK = _yaml_spec("".join(f"\n{'  ' * (i + 2)}k{i}:" for i in range(200)) + " 1")
DEEP_JSON = '{"spec": ' + "[" * 100_000 + "]" * 100_000 + "}"
WIDE_JSON = json.dumps({"spec": {**spec()["spec"], "spec": {"params": {"x": [0] * 200_000}}}})


@pytest.mark.parametrize(
    ("body", "headers"),
    [(BOMB, YAML), (DEEP_YAML, YAML), (DEEP_BLOCK, YAML), (DEEP_JSON, ALICE), (WIDE_JSON, ALICE)],
    ids=["alias-bomb", "deep-flow-yaml", "deep-block-yaml", "deep-json", "wide-json"],
)
def test_hostile_bodies_answer_4xx_within_a_second(client, fleet: Fleet, body: str, headers: dict):
    before = repo_state(fleet.path)
    for method, url in (("PUT", URL), ("POST", f"{URL}/check")):
        started = time.monotonic()
        response = client.request(method, url, content=body, headers=headers)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"{method} {url} took {elapsed:.2f} s"
        if method == "PUT" or response.status_code != 200:
            assert 400 <= response.status_code < 500, response.text
        else:  # the check endpoint reports an unreadable spec as a finding
            assert response.json()["ok"] is False
    assert repo_state(fleet.path) == before


def test_bomb_is_refused_with_the_alias_named(client):
    problem = client.put(URL, content=BOMB, headers=YAML).json()
    assert problem["status"] == 422
    assert any("alias *l0" in e["what"] and "anchors and aliases" in e["fix"] for e in problem["errors"])


def test_a_tenant_with_a_trailing_newline_fails_the_schema(client, fleet: Fleet):
    """Sent by the admin with a YAML block scalar: the newline survives to the schema, which refuses it."""
    text = yaml.safe_dump(spec()["spec"], sort_keys=False).replace("tenant: alice", "tenant: |\n    alice")
    assert yaml.safe_load(text)["metadata"]["tenant"] == "alice\n"
    problem = client.put(URL, content=text, headers={**auth(None), "Content-Type": "application/yaml"}).json()
    assert problem["status"] == 422
    assert [e["where"] for e in problem["errors"]] == ["metadata.tenant"]


# --- limits on every path that moves main ----------------------------------------------------------------


def _limited(fleet: Fleet, **limits):
    return make_client(fleet, limits=Limits(rate_per_s=1000, burst=1000, **limits))


def _sized(name: str, cpu: str) -> dict:
    body = spec(name)
    body["spec"]["spec"]["resources"] = {"cpu": cpu, "memory": "128Mi"}
    return body


def test_rollback_to_an_older_revision_keeps_the_strategy_count(fleet: Fleet):
    with _limited(fleet, max_strategies=1) as client:
        assert client.put("/v1/tenants/alice/strategies/a", json=spec("a"), headers=ALICE).status_code == 200
        old = fleet.head()
        assert client.delete("/v1/tenants/alice/strategies/a", headers=ALICE).status_code == 200
        assert client.put("/v1/tenants/alice/strategies/b", json=spec("b"), headers=ALICE).status_code == 200
        before = repo_state(fleet.path)
        response = client.post("/v1/tenants/alice/strategies/a/rollback", json={"to": old}, headers=ALICE)
        assert response.status_code == 409, response.text
        assert "limit 1" in response.text
        assert repo_state(fleet.path) == before


def test_rollback_keeps_the_cpu_cap_lowered_since(fleet: Fleet, tmp_path):
    url = "/v1/tenants/alice/strategies/a"
    with _limited(fleet) as client:
        assert client.put(url, json=_sized("a", "1"), headers=ALICE).status_code == 200
        assert client.put(url, json=_sized("a", "100m"), headers=ALICE).status_code == 200
    with _limited(fleet, max_cpu="200m") as client:  # the operator lowers alice's cap
        before = repo_state(fleet.path)
        response = client.post(f"{url}/rollback", headers=ALICE)
        assert response.status_code == 422, response.text
        assert "spec.resources.cpu: 1 is over the cap of 200m" in response.text
        assert repo_state(fleet.path) == before


def _review(fleet: Fleet, name: str, cpu: str = "250m") -> str:
    """A review branch made outside the service (e.g. pushed by the tenant's git client)."""
    strategy = actions.strategy_of_folder(_files(name, cpu), "x")
    return actions.deploy(fleet, strategy, AUTHOR, review_branch=True, push=False).branch


def _files(name: str, cpu: str) -> dict[str, bytes]:
    doc = _sized(name, cpu)["spec"]
    return {"strategy.yaml": yaml.safe_dump(doc).encode()}


def test_self_merge_of_reviews_keeps_the_strategy_count(fleet: Fleet):
    first, second = _review(fleet, "a"), _review(fleet, "b")
    with _limited(fleet, max_strategies=1) as client:
        for branch in (first, second):
            assert client.post(f"/v1/tenants/alice/reviews/{branch}/approve", headers=user_auth("rita")).is_success
        merged = client.post(f"/v1/tenants/alice/reviews/{first}/merge", headers=ALICE)
        assert merged.status_code == 200, merged.text
        before = repo_state(fleet.path)
        refused = client.post(f"/v1/tenants/alice/reviews/{second}/merge", headers=ALICE)
        assert refused.status_code == 409, refused.text
        assert repo_state(fleet.path) == before
    assert fleet.read_folder("strategies/alice/b") is None


def test_self_merge_of_a_review_over_the_cpu_cap_is_refused(fleet: Fleet):
    branch = _review(fleet, "big", cpu="2")
    with _limited(fleet, max_cpu="500m") as client:
        assert client.post(f"/v1/tenants/alice/reviews/{branch}/approve", headers=user_auth("rita")).is_success
        before = repo_state(fleet.path)
        for who in (ALICE, auth(None)):  # the tenant's limits hold for the admin too
            refused = client.post(f"/v1/tenants/alice/reviews/{branch}/merge", headers=who)
            assert refused.status_code == 422, refused.text
            assert "over the cap of 500m" in refused.text
        assert repo_state(fleet.path) == before


def test_a_tenant_resolves_only_its_own_revisions(client, fleet: Fleet):
    assert client.put(URL, json=spec(), headers=ALICE).status_code == 200
    bob = client.put("/v1/tenants/bob/strategies/x?review=true", json=spec("x", "bob"), headers=auth("bob")).json()
    bob_tip = fleet.resolve(bob["branch"])
    for rev in (bob["branch"], f"refs/heads/{bob['branch']}", bob_tip, f"{bob_tip}~0"):
        refused = client.get(f"{URL}/diff", params={"to": rev}, headers=ALICE)
        assert refused.status_code in (400, 404), (rev, refused.text)
        refused = client.get(f"{URL}/diff", params={"from": rev}, headers=ALICE)
        assert refused.status_code in (400, 404), (rev, refused.text)
    refused = client.post(f"{URL}/rollback", json={"to": bob_tip}, headers=ALICE)
    assert refused.status_code == 404, refused.text
    # main and the tenant's own review branches still resolve; the admin resolves anything
    own = client.put(f"{URL}?review=true", json=_sized("momentum-btc", "300m"), headers=ALICE).json()["branch"]
    assert client.get(f"{URL}/diff", params={"to": own}, headers=ALICE).status_code == 200
    assert client.get(f"{URL}/diff", params={"from": "main~1", "to": "main"}, headers=ALICE).status_code == 200
    assert client.get(f"{URL}/diff", params={"to": bob["branch"]}, headers=auth(None)).status_code == 200
    assert review_branches.reachable_for(fleet, bob_tip, "bob")
