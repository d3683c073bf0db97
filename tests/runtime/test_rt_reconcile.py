"""Deploy, stop and revert reach the running set within 5 s; a corrupt commit hurts only its own strategy."""

from __future__ import annotations

import time
from pathlib import Path

from generator import actions
from generator.fleet import Fleet
from tests.runtime.rt_helpers import Up, alive, deploy, git, row, running, wait_for
from tests.support import AUTHOR, MOMENTUM

VISIBLE = 5.0


def test_deploy_stop_and_revert_take_effect_within_5s(one: Fleet, up: Up, tmp_path: Path) -> None:
    repo = one.path
    wait_for(repo, running("alice/alpha"), what="alpha running")
    started = time.monotonic()
    commit = deploy(one, tmp_path / "specs", "beta")
    status = wait_for(repo, lambda s: "alice/beta" in s["strategies"] and row(s, "alice/beta")["pid"], VISIBLE)
    assert time.monotonic() - started < VISIBLE
    assert row(status, "alice/beta")["revision"] == commit
    beta_pid = wait_for(repo, running("alice/beta"), what="beta running")["strategies"]["alice/beta"]["pid"]

    started = time.monotonic()
    stop_commit = actions.stop(one, "alice/beta", AUTHOR).commit
    wait_for(repo, lambda s: "alice/beta" not in s["strategies"], VISIBLE, "beta gone")
    assert time.monotonic() - started < VISIBLE
    assert not alive(beta_pid)

    started = time.monotonic()
    git(repo, "revert", "--no-edit", stop_commit)
    wait_for(repo, lambda s: "alice/beta" in s["strategies"] and row(s, "alice/beta")["pid"], VISIBLE, "beta back")
    assert time.monotonic() - started < VISIBLE
    assert row(wait_for(repo, running("alice/alpha")), "alice/alpha")["restarts"] == 0


def test_changed_strategy_is_restarted_and_unchanged_ones_keep_running(one: Fleet, up: Up, tmp_path: Path) -> None:
    repo = one.path
    deploy(one, tmp_path / "specs", "beta")
    status = wait_for(repo, lambda s: running("alice/alpha")(s) and running("alice/beta")(s))
    alpha_pid, beta_pid = row(status, "alice/alpha")["pid"], row(status, "alice/beta")["pid"]
    commit = deploy(one, tmp_path / "specs2", "beta", code=MOMENTUM + "# v2\n")
    status = wait_for(repo, lambda s: row(s, "alice/beta")["revision"] == commit and running("alice/beta")(s))
    assert row(status, "alice/beta")["pid"] != beta_pid
    assert not alive(beta_pid)
    assert row(status, "alice/alpha")["pid"] == alpha_pid


def test_corrupt_commit_marks_only_that_strategy_invalid(one: Fleet, up: Up, tmp_path: Path) -> None:
    repo = one.path
    deploy(one, tmp_path / "specs", "beta")
    status = wait_for(repo, lambda s: running("alice/alpha")(s) and running("alice/beta")(s))
    alpha_pid, beta_pid = row(status, "alice/alpha")["pid"], row(status, "alice/beta")["pid"]

    values = repo / "strategies/alice/beta/values.yaml"
    values.write_text(values.read_text().rstrip().removesuffix("}") + ', "resources": [unclosed\n')
    git(repo, "commit", "-qam", "hand edit: broken YAML")
    status = wait_for(repo, lambda s: row(s, "alice/beta")["state"] == "Invalid", what="beta Invalid")
    message = row(status, "alice/beta")["message"]
    assert "beta" in message and "while parsing" in message and "still running" in message
    assert row(status, "alice/beta")["pid"] == beta_pid and alive(beta_pid)
    assert row(status, "alice/alpha")["state"] == "Running" and row(status, "alice/alpha")["pid"] == alpha_pid

    git(repo, "revert", "--no-edit", "HEAD")
    status = wait_for(repo, running("alice/beta"), what="beta valid again")
    assert row(status, "alice/beta")["pid"] == beta_pid  # same pod template: nothing restarted


def test_policy_refusal_names_the_policy(one: Fleet, up: Up, tmp_path: Path) -> None:
    repo = one.path
    wait_for(repo, running("alice/alpha"))
    values = repo / "strategies/alice/alpha/values.yaml"
    values.write_text(values.read_text().replace("{", '{"image": {"repository": "docker.io/library/python"},', 1))
    git(repo, "commit", "-qam", "hand edit: another image")
    status = wait_for(repo, lambda s: row(s, "alice/alpha")["state"] == "Invalid")
    assert "restrict-image-registries" in row(status, "alice/alpha")["message"]


def test_new_folder_that_cannot_render_is_invalid_and_never_started(one: Fleet, up: Up) -> None:
    repo = one.path
    wait_for(repo, running("alice/alpha"))
    folder = repo / "strategies/alice/broken"
    folder.mkdir(parents=True)
    (folder / "kustomization.yaml").write_text("resources: [helmrelease.yaml]\n")
    git(repo, "add", "strategies/alice/broken")
    git(repo, "commit", "-qm", "hand-made folder without its HelmRelease")
    status = wait_for(repo, lambda s: "alice/broken" in s["strategies"])
    broken = row(status, "alice/broken")
    assert broken["state"] == "Invalid" and broken["pid"] is None
    assert "helmrelease.yaml" in broken["message"]
    assert row(status, "alice/alpha")["state"] == "Running"


def test_broken_policies_refuse_changes_and_keep_what_runs(one: Fleet, up: Up, tmp_path: Path) -> None:
    repo = one.path
    pid = row(wait_for(repo, running("alice/alpha")), "alice/alpha")["pid"]
    policy = next((repo / "policies").rglob("*.yaml"))
    policy.write_text("kind: [unclosed\n")
    git(repo, "commit", "-qam", "hand edit: a broken policy")
    status = wait_for(repo, lambda s: row(s, "alice/alpha")["state"] == "Invalid", what="alpha Invalid")
    assert "policies" in row(status, "alice/alpha")["message"]
    assert row(status, "alice/alpha")["pid"] == pid and alive(pid)
