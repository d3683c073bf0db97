"""Fleet repo operations on real git repos: deploy, stop, rollback, history, diff, review."""

from __future__ import annotations

import hashlib
from pathlib import Path

import git
import pytest

from generator import actions
from generator.errors import UserError
from generator.fleet import Fleet
from tests.support import AUTHOR, MOMENTUM, write_spec

KEY = "alice/momentum-btc"
FOLDER = "strategies/alice/momentum-btc"


def deploy(fleet: Fleet, spec: Path, **kwargs) -> actions.Outcome:
    return actions.deploy(fleet, actions.load_strategy(fleet, spec), AUTHOR, **kwargs)


def test_deploy_is_one_commit_with_trailers_and_author(fleet: Fleet, spec_dir: Path):
    outcome = deploy(fleet, write_spec(spec_dir))
    commit = fleet.repo.commit("main")
    assert commit.hexsha == outcome.commit
    assert commit.summary == f"deploy {KEY}"
    assert f"Strategy: {KEY}" in commit.message
    assert "Spec-Digest: sha256:" in commit.message
    assert (commit.author.name, commit.author.email) == (AUTHOR.name, AUTHOR.email)
    assert sorted(commit.stats.files) == sorted(
        f"{FOLDER}/{n}"
        for n in (
            "helmrelease.yaml",
            "kustomization.yaml",
            "kustomizeconfig.yaml",
            "momentum.py",
            "strategy.yaml",
            "values.yaml",
        )
    )
    # The work tree and index follow the branch: nothing is left to commit.
    assert not fleet.repo.is_dirty(untracked_files=True)
    assert (fleet.path / FOLDER / "momentum.py").read_text() == MOMENTUM


def test_identical_redeploy_makes_no_commit(fleet: Fleet, spec_dir: Path):
    spec = write_spec(spec_dir)
    deploy(fleet, spec)
    head = fleet.head()
    outcome = deploy(fleet, spec)
    assert outcome.commit is None and "nothing to commit" in outcome.message
    assert fleet.head() == head


def test_stop_removes_the_folder(fleet: Fleet, spec_dir: Path):
    deploy(fleet, write_spec(spec_dir))
    actions.stop(fleet, KEY, AUTHOR)
    assert fleet.read_folder(FOLDER) is None
    assert not (fleet.path / FOLDER).exists()
    assert actions.list_strategies(fleet) == []
    with pytest.raises(UserError, match="is not deployed"):
        actions.stop(fleet, KEY, AUTHOR)


def test_rollback_reverts_the_last_change(fleet: Fleet, spec_dir: Path):
    spec = write_spec(spec_dir)
    deploy(fleet, spec)
    first = fleet.read_folder(FOLDER)
    deploy(fleet, write_spec(spec_dir, code=MOMENTUM + "\n# v2\n"))
    outcome = actions.rollback(fleet, KEY, AUTHOR)
    assert fleet.read_folder(FOLDER) == first
    assert fleet.repo.commit(outcome.commit).summary == f'Revert "deploy {KEY}"'
    # Rolling back the rollback brings v2 back, exactly as git revert of a revert would.
    actions.rollback(fleet, KEY, AUTHOR)
    assert b"# v2" in fleet.read_folder(FOLDER)["momentum.py"]


def test_rollback_of_the_first_deploy_removes_the_strategy(fleet: Fleet, spec_dir: Path):
    deploy(fleet, write_spec(spec_dir))
    actions.rollback(fleet, KEY, AUTHOR)
    assert fleet.read_folder(FOLDER) is None


def test_rollback_to_a_revision(fleet: Fleet, spec_dir: Path):
    first = deploy(fleet, write_spec(spec_dir)).commit
    for n in range(3):
        deploy(fleet, write_spec(spec_dir, code=MOMENTUM + f"\n# v{n}\n"))
    actions.rollback(fleet, KEY, AUTHOR, to=first)
    assert fleet.read_folder(FOLDER) == fleet.read_folder(FOLDER, first)
    with pytest.raises(UserError, match="unknown revision"):
        actions.rollback(fleet, KEY, AUTHOR, to="no-such-rev")


def test_rollback_after_a_hand_made_commit_still_restores_the_folder(fleet: Fleet, spec_dir: Path):
    deploy(fleet, write_spec(spec_dir))
    first = fleet.read_folder(FOLDER)
    deploy(fleet, write_spec(spec_dir, code=MOMENTUM + "\n# v2\n"))
    # Someone edits another file of the same commit's neighbourhood by hand; git revert would conflict.
    (fleet.path / "README.md").write_text("edited\n")
    fleet.repo.index.add(["README.md"])
    fleet.repo.index.commit("hand edit", author=AUTHOR)
    actions.rollback(fleet, KEY, AUTHOR)
    assert fleet.read_folder(FOLDER) == first
    assert not fleet.repo.is_dirty(untracked_files=True)


def test_history_lists_the_folder_changes_newest_first(fleet: Fleet, spec_dir: Path):
    deploy(fleet, write_spec(spec_dir))
    deploy(fleet, write_spec(spec_dir, code=MOMENTUM + "\n# v2\n"))
    deploy(fleet, write_spec(spec_dir, name="other"))
    changes = actions.history(fleet, KEY)
    assert [c.subject for c in changes] == [f"deploy {KEY}"] * 2
    assert changes[0].trailers["Strategy"] == KEY


def test_diff_shows_rendered_objects(fleet: Fleet, spec_dir: Path):
    deploy(fleet, write_spec(spec_dir))
    deploy(fleet, write_spec(spec_dir, extra="  state: {persistent: true, size: 2Gi}\n"))
    changes = {d.key: d for d in actions.diff(fleet, "HEAD~1", "HEAD")}
    pvc = changes["v1/PersistentVolumeClaim/alice/momentum-btc-state"]
    assert pvc.status == "added" and "storage: 2Gi" in pvc.text
    assert changes["apps/v1/Deployment/alice/momentum-btc"].status == "changed"
    assert "persistentVolumeClaim" in changes["apps/v1/Deployment/alice/momentum-btc"].text


def test_diff_puts_the_parameter_change_before_checksums_and_hashed_names(fleet: Fleet, spec_dir: Path):
    deploy(fleet, write_spec(spec_dir))
    spec = write_spec(spec_dir)
    spec.write_text(spec.read_text().replace("window: 20", "window: 21"))
    deploy(fleet, spec)
    changes = actions.diff(fleet, "HEAD~1", "HEAD")
    text = "".join(c.text for c in changes)
    assert "checksum/" in text and "-values-" in text
    first_param = text.index("window") if "window" in text else -1
    assert 0 <= first_param < text.index("checksum/"), text
    hunks = [h for h in text.split("\n@@ ")[1:]]
    assert "21" in hunks[0], text  # the first hunk is the parameter's
    assert "checksum/" in changes[-1].text or "values-" in changes[-1].text


def test_review_commits_to_a_branch_and_summarizes(fleet: Fleet, spec_dir: Path):
    deploy(fleet, write_spec(spec_dir))
    main = fleet.head()
    outcome = deploy(fleet, write_spec(spec_dir, code=MOMENTUM + "\n# reviewed\n"), review_branch=True)
    assert fleet.head() == main
    assert outcome.branch.startswith("review/alice/momentum-btc/")
    assert fleet.repo.commit(outcome.branch).parents[0].hexsha == main
    summary = outcome.summary
    for heading in (
        "# Review: alice/momentum-btc",
        "## Spec",
        "## Code",
        "## Rendered Kubernetes objects",
        "## Preflight",
        "**Preflight: passed**",
    ):
        assert heading in summary
    assert "+# reviewed" in summary


def test_a_spec_for_another_tenant_is_refused(fleet: Fleet, spec_dir: Path):
    strategy = actions.load_strategy(fleet, write_spec(spec_dir, tenant="bob"))
    with pytest.raises(UserError, match="another tenant"):
        actions.deploy(fleet, strategy, AUTHOR, acting_tenant="alice")
    with pytest.raises(UserError, match="another tenant"):
        actions.stop(fleet, "bob/momentum-btc", AUTHOR, acting_tenant="alice")


def test_non_fleet_directories_are_refused(tmp_path: Path):
    with pytest.raises(UserError, match="is not a fleet repo"):
        Fleet(tmp_path)
    git.Repo.init(tmp_path / "plain")
    with pytest.raises(UserError, match="is not a fleet repo"):
        Fleet(tmp_path / "plain")


def test_list_shows_deployed_strategies(fleet: Fleet, spec_dir: Path):
    deploy(fleet, write_spec(spec_dir))
    deploy(fleet, write_spec(spec_dir / "b", name="mean-rev", tenant="bob"))
    rows = actions.list_strategies(fleet)
    assert [(r["tenant"], r["name"]) for r in rows] == [("alice", "momentum-btc"), ("bob", "mean-rev")]
    assert actions.list_strategies(fleet, tenant="bob")[0]["class"] == "Momentum"


def test_commits_trigger_gits_own_housekeeping(fleet: Fleet, spec_dir: Path):
    """Objects are written loose; like `git commit`, each commit asks `git gc --auto` to pack them when due."""
    fleet.repo.git.config("gc.auto", "1")  # git samples objects/17/: more than 1 loose object there makes gc due
    fleet.repo.git.config("gc.autoDetach", "false")  # synchronous, so the test can look
    for n, blob in enumerate(_blobs_with_prefix("17", 2)):
        (spec_dir / f"filler-{n}").parent.mkdir(parents=True, exist_ok=True)
        (spec_dir / f"filler-{n}").write_bytes(blob)
        fleet.repo.git.hash_object("-w", str(spec_dir / f"filler-{n}"))
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir)), AUTHOR)
    counts = dict(line.split(": ") for line in fleet.repo.git.count_objects("-v").splitlines())
    # everything reachable is packed; only the two unreachable fillers stay loose (git keeps them two weeks)
    assert counts["count"] == "2" and int(counts["packs"]) >= 1 and int(counts["in-pack"]) > 0, counts
    assert "error" not in fleet.repo.git.fsck("--strict") and fleet.repo.git.status("--porcelain") == ""


def _blobs_with_prefix(prefix: str, count: int) -> list[bytes]:
    blobs, n = [], 0
    while len(blobs) < count:
        data = f"filler {n}\n".encode()
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().startswith(prefix):
            blobs.append(data)
        n += 1
    return blobs
