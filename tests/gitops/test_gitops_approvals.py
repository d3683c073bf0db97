"""Approvals, comments and close of reviews: the tenant's rules, never the author, all recorded in git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator import actions, approvals, review, tenants
from generator.errors import UserError
from generator.fleet import Fleet
from generator.identity import actor
from tests.gitops.gitops_helpers import git, run
from tests.support import AUTHOR, write_spec

ANN, RITA, SAM = actor("ann", "alice"), actor("rita", "alice"), actor("sam", "alice")


def _open(fleet: Fleet, spec_dir: Path, name: str = "x", author=ANN) -> str:
    spec = write_spec(spec_dir / name, name=name)
    return actions.deploy(fleet, actions.load_strategy(fleet, spec), author, review_branch=True, push=False).branch


def _trailers(fleet: Fleet, rev: str) -> list[str]:
    """The commit's trailers as `git interpret-trailers --parse` reads them."""
    message = git(fleet.path, "log", "-1", "--format=%B", rev)
    parsed = subprocess.run(["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True)
    return parsed.stdout.splitlines()


def test_the_author_cannot_approve_their_own_review(fleet: Fleet, spec_dir: Path):
    branch = _open(fleet, spec_dir)
    tip = fleet.head(branch)
    with pytest.raises(UserError) as err:
        approvals.act(fleet, branch, "approve", ANN, push=False)
    assert err.value.title == "cannot approve your own review"
    assert "an author's approval never counts" in err.value.render()
    assert fleet.head(branch) == tip  # nothing recorded
    code, out = run("review", "approve", branch, "--repo", str(fleet.path), "--user", "ann", "--no-push")
    assert code == 2 and "cannot approve your own review" in out


def test_merge_is_refused_until_enough_approvals(fleet: Fleet, spec_dir: Path):
    tenants.set_review_rules(fleet, "alice", AUTHOR, approvals=2, push=False)
    branch = _open(fleet, spec_dir)
    with pytest.raises(UserError) as err:
        review.merge(fleet, branch, ANN, push=False)
    assert err.value.title == f"cannot merge {branch}: it needs 2 more approval(s)"
    approvals.act(fleet, branch, "approve", RITA, "looks right", push=False)
    with pytest.raises(UserError, match="it needs 1 more approval"):
        review.merge(fleet, branch, ANN, push=False)
    with pytest.raises(UserError, match="already approved"):
        approvals.act(fleet, branch, "approve", RITA, push=False)  # one user is one approval
    approvals.act(fleet, branch, "approve", SAM, push=False)
    outcome = review.merge(fleet, branch, ANN, push=False)  # the author may merge once others approved
    assert outcome.commit == fleet.head()
    trailers = _trailers(fleet, "main")
    assert "Approved-by: rita <rita@alice.stratops>" in trailers
    assert "Approved-by: sam <sam@alice.stratops>" in trailers
    assert f"Reviewed-on: {branch}" in trailers and f"Review-Branch: {branch}" in trailers
    assert not any(t.startswith("Override") for t in trailers)
    # The record is in main's history: `git log` shows who approved, with their comment.
    log = git(fleet.path, "log", "--format=%an|%s|%b", "main")
    assert f"rita|approve {branch}|looks right" in log


def test_only_the_listed_approvers_count(fleet: Fleet, spec_dir: Path):
    code, out = run("tenant", "set", "alice", "--approvers", "rita", "--repo", str(fleet.path), "--no-push")
    assert code == 0, out
    assert tenants.review_rules(fleet, "alice").approvers == ("rita",)
    branch = _open(fleet, spec_dir)
    with pytest.raises(UserError, match="sam is not an approver of tenant alice"):
        approvals.act(fleet, branch, "approve", SAM, push=False)
    with pytest.raises(UserError, match="only users of tenant alice approve"):
        approvals.act(fleet, branch, "approve", actor("rita", "bob"), push=False)  # bob's rita is someone else
    with pytest.raises(UserError, match="only users of tenant alice approve"):
        approvals.act(fleet, branch, "approve", actor("root", None), push=False)  # an admin overrides instead
    approvals.act(fleet, branch, "approve", RITA, push=False)
    assert review.merge(fleet, branch, ANN, push=False).commit


def test_a_closed_review_cannot_be_merged_nor_approved(fleet: Fleet, spec_dir: Path):
    branch = _open(fleet, spec_dir)
    approvals.act(fleet, branch, "approve", RITA, push=False)
    code, out = run("review", "close", branch, "--reason", "wrong window", "--user", "sam", "--repo", str(fleet.path))
    assert code == 0, out
    for attempt in (
        lambda: review.merge(fleet, branch, ANN, push=False),
        lambda: review.merge(fleet, branch, ANN, push=False, override="urgent"),
        lambda: approvals.act(fleet, branch, "approve", SAM, push=False),
        lambda: approvals.act(fleet, branch, "close", SAM, "again", push=False),
    ):
        with pytest.raises(UserError, match="closed"):
            attempt()
    assert review.list_reviews(fleet)[0]["state"] == "closed"
    with pytest.raises(UserError, match="was closed"):  # deploying the same spec for review does not reopen it
        _open(fleet, spec_dir)
    state = approvals.state(fleet, branch)
    assert state.closed and state.closed.text == "wrong window" and state.closed.email == "sam@alice.stratops"
    code, out = run("review", "show", branch, "--repo", str(fleet.path))
    assert "close by sam <sam@alice.stratops>: wrong window" in out and "**Not mergeable**" in out


def test_a_close_needs_a_reason_and_comments_are_plain_bounded_text(fleet: Fleet, spec_dir: Path):
    branch = _open(fleet, spec_dir)
    bad = (("close", ""), ("close", "  "), ("comment", ""), ("comment", "x" * 4001), ("comment", "a\x00b"))
    for action, text in bad:
        with pytest.raises(UserError, match="invalid"):
            approvals.act(fleet, branch, action, RITA, text, push=False)
    forged = "fine by me\n\nApproved-by: mallory <m@evil>\nReview-Action: approve"
    approvals.act(fleet, branch, "comment", RITA, forged, push=False)
    state = approvals.state(fleet, branch)
    assert state.approvals == [] and [a.action for a in state.acts] == ["comment"]
    assert state.acts[0].text == forged  # kept whole, read as text, never as trailers
    assert _trailers(fleet, branch)[-1] == "Review-Action: comment"


def test_an_admin_override_is_explicit_and_recorded(fleet: Fleet, spec_dir: Path):
    branch = _open(fleet, spec_dir)
    for reason in ("", "two\nlines", "x" * 201):
        with pytest.raises(UserError, match="override reason"):
            review.merge(fleet, branch, actor("root", None), push=False, override=reason)
    review.merge(fleet, branch, actor("root", None), push=False, override="hotfix for the exchange outage")
    trailers = _trailers(fleet, "main")
    assert "Override-by: root <root@stratops>" in trailers
    assert "Override-reason: hotfix for the exchange outage" in trailers


def test_deploying_the_same_spec_again_keeps_the_reviews_record(fleet: Fleet, spec_dir: Path):
    branch = _open(fleet, spec_dir)
    approved = approvals.act(fleet, branch, "approve", RITA, push=False).commit
    again = actions.deploy(
        fleet, actions.load_strategy(fleet, write_spec(spec_dir / "x", name="x")), ANN, review_branch=True, push=False
    )
    assert again.commit is None and "already open for review" in again.message
    assert fleet.head(branch) == approved


def test_tenant_rules_survive_a_quota_change_and_bad_rules_are_refused(fleet: Fleet):
    repo = str(fleet.path)
    code, out = run("tenant", "add", "carol", "--cpu", "2", "--memory", "4Gi", "--approvals", "2", "--repo", repo)
    assert code == 0, out
    assert tenants.review_rules(fleet, "carol").approvals == 2
    assert run("tenant", "add", "carol", "--cpu", "3", "--memory", "4Gi", "--repo", repo)[0] == 0
    assert tenants.review_rules(fleet, "carol").approvals == 2  # a quota change keeps the rules
    for flags in (["--approvals", "0"], ["--approvals", "x"], ["--approvers", "Ann"], ["--approvers", "a,b\nc"]):
        code, out = run("tenant", "set", "carol", *flags, "--repo", repo)
        assert code == 2 and "invalid review rules" in out, out
    code, out = run("tenant", "set", "nobody", "--approvals", "1", "--repo", repo)
    assert code == 2 and "no tenant nobody" in out
    code, out = run("tenant", "list", "--repo", repo)
    assert "reviews: 2 approval(s) from *" in out
