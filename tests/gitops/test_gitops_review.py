"""The pull-request flow end to end against a bare remote: deploy --review, review list/show, review merge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from generator import actions, approvals, review, tenants
from generator.errors import UserError
from generator.fleet import Fleet
from generator.identity import actor
from tests.gitops.gitops_helpers import git, remote_log, run
from tests.support import AUTHOR, write_spec

Clone = Callable[[str], Fleet]
REVIEWER = "Rita Reviewer <rita@example.com>"
RITA = actor("rita", "alice")  # a user of tenant alice


def _propose(fleet: Fleet, spec_dir: Path, name: str = "x", code_line: str = "") -> actions.Outcome:
    spec = write_spec(spec_dir / name, name=name)
    if code_line:
        (spec.parent / "momentum.py").write_text((spec.parent / "momentum.py").read_text() + code_line)
    return actions.deploy(fleet, actions.load_strategy(fleet, spec), AUTHOR, review_branch=True)


def test_review_flow_end_to_end(clone: Clone, bare: Path, spec_dir: Path):
    author, reviewer = clone("author"), clone("reviewer")
    outcome = _propose(author, spec_dir)
    assert outcome.pushed and outcome.branch.startswith("review/alice/x/")
    assert git(bare, "branch", "--list", "review/*").strip() == outcome.branch
    assert "deploy alice/x" not in remote_log(bare)

    rows = review.list_reviews(reviewer)
    assert [(r["branch"], r["tenant"], r["name"], r["head"]) for r in rows] == [
        (outcome.branch, "alice", "x", outcome.commit)
    ]
    assert rows[0]["author"] == "Ann Analyst <ann@example.com>" and rows[0]["digest"].startswith("sha256:")
    assert review.list_reviews(reviewer, tenant="bob") == []

    summary = review.show(reviewer, outcome.branch)
    assert summary.parts["ok"] and summary.parts["head"] == outcome.commit
    assert "+class Momentum(Strategy):" in summary.parts["code_diff"]
    assert "+  name: x" in summary.parts["spec_diff"]
    assert "kind: Deployment" in summary.parts["object_diff"]
    assert {"status": "added"}.items() <= summary.parts["objects"][0].items()
    for heading in (
        "# Review: alice/x",
        "## Spec",
        "## Code",
        "## Rendered Kubernetes objects",
        "## Preflight",
        "## Policies",
        "**Preflight: passed**",
        "All policies pass.",
    ):
        assert heading in summary.markdown

    code, out = run("review", "approve", outcome.branch, "--repo", str(reviewer.path), "--user", "rita")
    assert code == 0 and f"pushed {outcome.branch} to origin" in out, out
    code, out = run("review", "merge", outcome.branch, "--repo", str(reviewer.path), "--author", REVIEWER)
    assert code == 0, out
    assert "pushed main to origin" in out
    subjects = remote_log(bare)
    assert subjects[0] == f"Merge {outcome.branch}"
    merge = git(bare, "log", "-1", "--format=%P%n%an%n%B", "main").splitlines()
    assert len(merge[0].split()) == 2  # a real merge of the reviewed commit and its approval
    git(bare, "merge-base", "--is-ancestor", outcome.commit, merge[0].split()[1])
    assert merge[1] == "Rita Reviewer" and "Review-Branch: " + outcome.branch in merge
    assert "Approved-by: rita <rita@alice.stratops>" in merge
    assert git(bare, "branch", "--list", "review/*").strip() == ""  # merged branches are deleted
    assert review.list_reviews(reviewer) == []


def test_cli_list_and_show(clone: Clone, spec_dir: Path):
    author, reviewer = clone("author"), clone("reviewer")
    branch = _propose(author, spec_dir).branch
    code, out = run("review", "list", "--repo", str(reviewer.path))
    assert code == 0 and branch in out and "deploy alice/x" in out
    code, out = run("review", "show", branch, "--repo", str(reviewer.path))
    assert code == 0 and out.startswith("# Review: alice/x")


def test_merge_reruns_the_check_against_the_current_main(clone: Clone, bare: Path, spec_dir: Path):
    author, admin = clone("author"), clone("admin")
    branch = _propose(author, spec_dir).branch
    assert tenants.add_tenant(admin, "alice", "200m", "1Gi", 5, AUTHOR, "200m", "1Gi").pushed  # now too small
    reviewer = clone("reviewer")
    approvals.act(reviewer, branch, "approve", RITA)
    summary = review.show(reviewer, branch)
    assert not summary.parts["ok"] and "## Quota" in summary.markdown
    with pytest.raises(UserError) as err:
        review.merge(reviewer, branch, AUTHOR)
    text = err.value.render()
    assert text.startswith(f"cannot merge {branch}")
    assert "require-resources-within-caps" in text or "quota" in text
    assert f"Merge {branch}" not in remote_log(bare)
    assert git(bare, "branch", "--list", "review/*").strip() == branch  # still open


def test_a_new_revision_of_a_review_is_shown_against_main(clone: Clone, spec_dir: Path):
    author = clone("author")
    first = _propose(author, spec_dir).branch
    actions.deploy(author, actions.load_strategy(author, write_spec(spec_dir / "x", name="x")), AUTHOR)
    second = _propose(author, spec_dir, code_line="# tuned\n")
    assert second.branch != first
    summary = review.show(author, second.branch)
    added = [line for line in summary.parts["code_diff"].splitlines() if line[:1] == "+" and line[:3] != "+++"]
    assert added == ["+# tuned"]
    assert summary.parts["spec_diff"] != ""  # the code digest in the spec changed


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("main", "not a review branch"),
        ("review/alice/x/../../main", "not a review branch"),
        ("review/alice/x/--upload-pack=x", "not a review branch"),
        ("review/alice/x/0123456789ab", "no review branch review/alice/x/0123456789ab"),
    ],
)
def test_bad_branch_names(fleet: Fleet, branch: str, expected: str):
    code, out = run("review", "show", branch, "--repo", str(fleet.path))
    assert code == 2 and expected in out
    code, out = run("review", "merge", branch, "--repo", str(fleet.path), "--author", REVIEWER)
    assert code == 2 and expected in out


def test_merge_from_a_stale_clone_rebases_and_stays_a_merge(clone: Clone, bare: Path, spec_dir: Path):
    author, reviewer, other = clone("author"), clone("reviewer"), clone("other")
    branch = _propose(author, spec_dir).branch
    approved = approvals.act(reviewer, branch, "approve", RITA)  # the reviewer fetched the branch ...
    other_spec = write_spec(spec_dir / "y", name="y")
    assert actions.deploy(other, actions.load_strategy(other, other_spec), AUTHOR).pushed  # ... then main moved
    outcome = review.merge(reviewer, branch, AUTHOR)
    assert outcome.pushed
    assert remote_log(bare)[:2] == [f"Merge {branch}", "deploy alice/y"]
    parents = git(bare, "log", "-1", "--format=%P", "main").split()
    assert len(parents) == 2 and parents[1] == approved.commit  # the review's record is part of main's history
