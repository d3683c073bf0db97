"""Reviews over HTTP: users in tokens, approvals by the tenant's rules (never the author), comments,
close, an admin's recorded override, audit trailers, and the check re-run on the current main."""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath

import pytest

from generator import tenants
from generator.fleet import Fleet
from generator.identity import actor
from tests.service.service_helpers import auth, repo_state, spec, user_auth
from tests.support import AUTHOR, MOMENTUM

URL = "/v1/tenants/alice/strategies/momentum-btc"
REVIEWS = "/v1/tenants/alice/reviews"
ANN, RITA, SAM = user_auth("ann"), user_auth("rita"), user_auth("sam")


def _open(client, who=ANN, **extra) -> str:
    response = client.put(f"{URL}?review=true", json=spec(**extra), headers=who)
    assert response.status_code == 200, response.text
    return response.json()["branch"]


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def _trailers(fleet: Fleet, rev: str) -> list[str]:
    message = subprocess.run(
        ["git", "log", "-1", "--format=%B", rev], cwd=fleet.path, capture_output=True, text=True, check=True
    ).stdout
    return subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True
    ).stdout.splitlines()


def test_commits_are_authored_by_the_tokens_user(client, fleet: Fleet):
    assert client.get("/v1/whoami", headers=ANN).json() == {
        "tenant": "alice",
        "admin": False,
        "user": "ann",
        "email": "ann@alice.stratops",
    }
    assert client.put(URL, json=spec(), headers=ANN).status_code == 200
    head = fleet.repo.commit("main")
    assert (head.author.name, head.author.email) == ("ann", "ann@alice.stratops")
    assert head.committer.name == "stratops"  # the service commits; the user is the author
    # A tenant-wide token (no user) is the tenant's own user, named after it.
    assert client.get("/v1/whoami", headers=auth("alice")).json()["user"] == "alice"


def test_self_approval_is_refused_and_merge_waits_for_approvals(client, fleet: Fleet):
    branch = _open(client)
    before = repo_state(fleet.path)
    problem = _problem(client.post(f"{REVIEWS}/{branch}/approve", headers=ANN), 403)
    assert problem["title"] == "cannot approve your own review"
    assert "an author's approval never counts" in problem["errors"][0]["what"]
    problem = _problem(client.post(f"{REVIEWS}/{branch}/merge", headers=ANN), 409)
    assert problem["title"] == f"cannot merge {branch}: it needs 1 more approval(s)"
    assert problem["errors"][0]["where"] == "approvals"
    assert repo_state(fleet.path) == before

    shown = client.get(f"{REVIEWS}/{branch}", headers=ANN).json()["review"]
    assert shown["state"] == "open" and shown["mergeable"] is False and shown["missing"] == 1
    assert shown["viewer"] == {
        "user": "ann",
        "email": "ann@alice.stratops",
        "author": True,
        "may_approve": False,
        "why_not": "you are an author of this review: an author's approval never counts",
    }
    assert client.get(f"{REVIEWS}/{branch}", headers=RITA).json()["review"]["viewer"]["may_approve"] is True

    approved = client.post(f"{REVIEWS}/{branch}/approve", json={"text": "ship it"}, headers=RITA)
    assert approved.status_code == 200, approved.text
    assert approved.json()["review"]["mergeable"] is True
    merged = client.post(f"{REVIEWS}/{branch}/merge", headers=ANN)
    assert merged.status_code == 200, merged.text
    trailers = _trailers(fleet, "main")
    assert "Approved-by: rita <rita@alice.stratops>" in trailers
    assert f"Reviewed-on: {branch}" in trailers and "Action: deploy" in trailers
    assert fleet.repo.commit("main").author.email == "ann@alice.stratops"


def test_comments_and_close_are_recorded_and_a_closed_review_is_not_merged(client, fleet: Fleet):
    branch = _open(client)
    assert client.post(f"{REVIEWS}/{branch}/comments", json={"text": "why 20?"}, headers=RITA).status_code == 200
    assert client.post(f"{REVIEWS}/{branch}/approve", headers=SAM).status_code == 200
    _problem(client.post(f"{REVIEWS}/{branch}/close", headers=RITA), 422)  # a reason is required
    _problem(client.post(f"{REVIEWS}/{branch}/close", json={"reason": 3}, headers=RITA), 422)
    _problem(client.post(f"{REVIEWS}/{branch}/comments", json={"text": "x", "extra": 1}, headers=RITA), 422)
    closed = client.post(f"{REVIEWS}/{branch}/close", json={"reason": "window too short"}, headers=RITA)
    assert closed.status_code == 200, closed.text
    record = client.get(f"{REVIEWS}/{branch}", headers=ANN).json()["review"]
    assert record["state"] == "closed" and record["closed"]["text"] == "window too short"
    assert [(e["action"], e["user"]) for e in record["events"]] == [
        ("comment", "rita"),
        ("approve", "sam"),
        ("close", "rita"),
    ]
    assert record["comments"][0]["text"] == "why 20?"
    before = repo_state(fleet.path)
    problem = _problem(client.post(f"{REVIEWS}/{branch}/merge", headers=ANN), 409)
    assert "closed" in problem["title"] and "window too short" in problem["errors"][0]["what"]
    _problem(client.post(f"{REVIEWS}/{branch}/merge", json={"override": True, "reason": "x"}, headers=auth(None)), 409)
    _problem(client.post(f"{REVIEWS}/{branch}/approve", headers=RITA), 403)
    assert repo_state(fleet.path) == before
    # The record is plain git history of the review branch.
    log = subprocess.run(
        ["git", "log", "--format=%an %s", f"main..{branch}"], cwd=fleet.path, capture_output=True, text=True
    ).stdout.splitlines()
    assert log[:3] == [f"rita close {branch}", f"sam approve {branch}", f"rita comment on {branch}"]


def test_admin_does_not_approve_and_overrides_only_explicitly(client, fleet: Fleet):
    branch = _open(client)
    _problem(client.post(f"{REVIEWS}/{branch}/approve", headers=auth(None)), 403)
    problem = _problem(client.post(f"{REVIEWS}/{branch}/merge", json={"override": True}, headers=ANN), 403)
    assert problem["title"] == "only an admin overrides the review rules"
    _problem(client.post(f"{REVIEWS}/{branch}/merge", headers=auth(None)), 409)  # no override asked: rules hold
    _problem(client.post(f"{REVIEWS}/{branch}/merge", json={"override": True}, headers=auth(None)), 422)  # no reason
    merged = client.post(
        f"{REVIEWS}/{branch}/merge", json={"override": True, "reason": "exchange outage fix"}, headers=auth(None)
    )
    assert merged.status_code == 200, merged.text
    trailers = _trailers(fleet, "main")
    assert "Override-by: admin <admin@stratops>" in trailers
    assert "Override-reason: exchange outage fix" in trailers
    assert not any(t.startswith("Approved-by") for t in trailers)


def test_rules_name_the_approvers_and_the_count(client, fleet: Fleet):
    tenants.set_review_rules(fleet, "alice", AUTHOR, approvals=2, approvers=("rita", "ann"), push=False)
    branch = _open(client, who=SAM)
    problem = _problem(client.post(f"{REVIEWS}/{branch}/approve", headers=auth("alice")), 403)
    assert "alice is not an approver of tenant alice (approvers: rita, ann)" in problem["errors"][0]["what"]
    assert client.post(f"{REVIEWS}/{branch}/approve", headers=RITA).status_code == 200
    problem = _problem(client.post(f"{REVIEWS}/{branch}/merge", headers=SAM), 409)
    assert "1 of 2 needed (rita <rita@alice.stratops>)" in problem["errors"][0]["what"]
    assert client.post(f"{REVIEWS}/{branch}/approve", headers=ANN).status_code == 200
    assert client.post(f"{REVIEWS}/{branch}/merge", headers=SAM).status_code == 200


POLICY = """apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata:
  name: require-team-label
spec:
  validationActions: [Deny]
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["pods"]
  validations:
    - expression: "object.metadata.?labels.orValue({})[?'team'].orValue('') != ''"
      message: every pod needs a team label
"""


@pytest.mark.parametrize("change", ["policy", "quota"])
def test_merge_rechecks_against_todays_main(client, fleet: Fleet, change: str):
    branch = _open(client)
    assert client.post(f"{REVIEWS}/{branch}/approve", headers=RITA).status_code == 200
    assert client.get(f"{REVIEWS}/{branch}", headers=ANN).json()["parts"]["ok"] is True  # fine when opened
    if change == "policy":
        folder = PurePosixPath("policies/require-team-label")
        with fleet.lock():
            fleet.commit_folders({folder: {"require-team-label.yaml": POLICY.encode()}}, "add a policy", AUTHOR)
    else:
        tenants.add_tenant(fleet, "alice", "200m", "1Gi", 5, actor("ops", None), "200m", "1Gi", push=False)
    before = repo_state(fleet.path)
    problem = _problem(client.post(f"{REVIEWS}/{branch}/merge", headers=ANN), 409)
    assert problem["title"].startswith(f"cannot merge {branch}")
    text = str(problem["errors"])
    assert ("every pod needs a team label" in text) if change == "policy" else ("max-cpu=200m" in text), text
    assert repo_state(fleet.path) == before
    assert client.get(REVIEWS, headers=ANN).json()[0]["branch"] == branch  # still open


def test_a_forged_comment_adds_no_approval(client, fleet: Fleet):
    branch = _open(client)
    forged = "ok\n\nApproved-by: mallory <m@evil>\nReview-Action: approve"
    assert client.post(f"{REVIEWS}/{branch}/comments", json={"text": forged}, headers=RITA).status_code == 200
    _problem(client.post(f"{REVIEWS}/{branch}/merge", headers=ANN), 409)
    assert _trailers(fleet, branch) == ["Review-Action: comment"]
    assert client.get(f"{REVIEWS}/{branch}", headers=ANN).json()["review"]["comments"][0]["text"] == forged


def test_code_unchanged_since_review_is_what_merges(client, fleet: Fleet):
    branch = _open(client, code=MOMENTUM + "# reviewed\n")
    assert client.post(f"{REVIEWS}/{branch}/approve", headers=RITA).status_code == 200
    assert client.post(f"{REVIEWS}/{branch}/merge", headers=ANN).status_code == 200
    files = fleet.read_folder("strategies/alice/momentum-btc") or {}
    assert any(b"# reviewed" in data for data in files.values()), list(files)


def test_idempotency_keys_are_each_users_own(client, fleet: Fleet):
    """Two users sending the same request with the same key are two requests: both approvals are recorded."""
    branch = _open(client, who=auth("alice"))
    for who in (RITA, SAM, RITA):
        response = client.post(f"{REVIEWS}/{branch}/approve", headers={**who, "Idempotency-Key": "approve-1"})
        assert response.status_code == 200, response.text
    record = client.get(f"{REVIEWS}/{branch}", headers=ANN).json()["review"]
    assert sorted(a["user"] for a in record["approvals"]) == ["rita", "sam"]  # rita's retry was replayed
