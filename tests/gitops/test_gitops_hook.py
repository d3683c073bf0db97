"""The fleet repo's own gate: the pre-commit hook `init` ships, and `init --remote`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from generator import actions, tenants
from tests.gitops.gitops_helpers import git, remote_log, run
from tests.support import AUTHOR, write_spec


def _commit(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["git", "-c", "user.name=Hand", "-c", "user.email=hand@example.com", "commit", "-qam", "by hand"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_pre_commit_hook_refuses_a_bad_hand_edit(fleet, spec_dir: Path):
    tenants.add_tenant(fleet, "alice", "2", "4Gi", 5, AUTHOR)
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir)), AUTHOR)
    git(fleet.path, "config", "core.hooksPath", ".githooks")
    release = fleet.path / "strategies/alice/momentum-btc/helmrelease.yaml"
    release.write_text(release.read_text().replace("mode: enabled", "mode: sometimes"))
    refused = _commit(fleet.path)
    assert refused.returncode != 0
    assert "HelmRelease/alice/momentum-btc" in refused.stdout + refused.stderr
    assert git(fleet.path, "log", "-1", "--format=%s").strip() != "by hand"
    release.write_text(release.read_text().replace("mode: sometimes", "mode: warn"))
    accepted = _commit(fleet.path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert git(fleet.path, "log", "-1", "--format=%s").strip() == "by hand"


def test_init_with_remote_pushes_main(tmp_path: Path):
    bare = tmp_path / "fleet.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    code, out = run("init", str(tmp_path / "f"), "--cluster", "prod", "--remote", str(bare), "--author", "A <a@b.c>")
    assert code == 0 and "pushed main to origin" in out, out
    assert remote_log(bare) == ["init fleet repo"]


def test_init_with_unreachable_remote_keeps_the_repo(tmp_path: Path):
    code, out = run("init", str(tmp_path / "f"), "--remote", str(tmp_path / "nowhere.git"), "--author", "A <a@b.c>")
    assert code == 3 and "not pushed to origin" in out
    assert (tmp_path / "f/stratops.yaml").is_file()
