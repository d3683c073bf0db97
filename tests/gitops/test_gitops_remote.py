"""Pushing to the fleet's remote: rebase and retry on a moved remote, clear reports when a push cannot happen.

Every remote here is a real bare git repo in a tmp dir (or a real local HTTP server that demands credentials).
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import actions, tenants
from generator.fleet import Fleet
from tests.gitops.gitops_helpers import git, remote_log, run
from tests.support import AUTHOR, write_spec

Clone = Callable[[str], Fleet]


def _deploy(fleet: Fleet, spec_dir: Path, name: str, tenant: str = "alice") -> actions.Outcome:
    spec = write_spec(spec_dir / f"{tenant}-{name}", name=name, tenant=tenant)
    return actions.deploy(fleet, actions.load_strategy(fleet, spec), AUTHOR)


def test_deploy_stop_rollback_push_to_origin(clone: Clone, bare: Path, spec_dir: Path):
    fleet = clone("a")
    outcome = _deploy(fleet, spec_dir, "x")
    assert (outcome.remote, outcome.pushed, outcome.unpushed) == ("origin", True, "")
    assert remote_log(bare, "%H")[0] == outcome.commit == fleet.head()
    assert actions.stop(fleet, "alice/x", AUTHOR).pushed
    assert actions.rollback(fleet, "alice/x", AUTHOR).pushed
    assert remote_log(bare)[:3] == ['Revert "stop alice/x"', "stop alice/x", "deploy alice/x"]


def test_stale_clone_rebases_and_both_changes_land(clone: Clone, bare: Path, spec_dir: Path):
    a, b = clone("a"), clone("b")
    first = _deploy(a, spec_dir, "x")
    second = _deploy(b, spec_dir, "y")  # b never saw x: its push is not a fast-forward
    assert second.pushed and second.commit != first.commit
    assert remote_log(bare)[:2] == ["deploy alice/y", "deploy alice/x"]
    assert b.head() == remote_log(bare, "%H")[0]
    # b's work tree and index followed the rebase: x's files are there, nothing is left dirty.
    assert (b.path / "strategies/alice/x/strategy.yaml").is_file()
    assert git(b.path, "status", "--porcelain") == ""
    assert b.history("strategies/alice/y")[0].author == AUTHOR.name


def test_rebase_reruns_the_check_and_keeps_a_refused_commit_local(clone: Clone, bare: Path, spec_dir: Path):
    admin = clone("admin")
    assert tenants.add_tenant(admin, "alice", "4", "8Gi", 1, AUTHOR).pushed
    a, b = clone("a"), clone("b")
    assert _deploy(a, spec_dir, "x").pushed
    outcome = _deploy(b, spec_dir, "y")  # fine on b's stale main, over max-strategies on the remote's
    assert not outcome.pushed and outcome.commit == b.head()
    assert "rebase onto origin/main refused" in outcome.unpushed
    assert "1 strategies deployed + y = 2 > max-strategies 1" in outcome.unpushed
    assert "deploy alice/y" not in remote_log(bare)
    assert b.read_folder("strategies/alice/y") is not None  # nothing lost: the commit stays local


def test_concurrent_writers_all_land(clone: Clone, bare: Path, spec_dir: Path, tmp_path: Path):
    writers = [clone(f"w{i}") for i in range(4)]
    procs = []
    for i, fleet in enumerate(writers):
        specs = [write_spec(spec_dir / f"w{i}-{n}", name=f"s{i}-{n}") for n in range(2)]
        script = "; ".join(
            f"main(['deploy', {str(s)!r}, '--repo', {str(fleet.path)!r}, '--author', 'W{i} <w{i}@example.com>'],"
            " standalone_mode=False)"
            for s in specs
        )
        code = f"from generator.cli import main; {script}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=Path.cwd(),
                env=os.environ.copy(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    landed = sorted(s.removeprefix("deploy alice/") for s in remote_log(bare) if s.startswith("deploy "))
    assert landed == sorted(f"s{i}-{n}" for i in range(4) for n in range(2))
    tip = remote_log(bare, "%H")[0]
    verify = Fleet(clone("verify").path)
    assert verify.head() == tip
    assert len(verify.list_folders("strategies", 2)) == 8


def test_missing_remote_is_reported_and_the_commit_kept(fleet: Fleet, spec_dir: Path):
    git(fleet.path, "config", "stratops.remote", "upstream")
    spec = write_spec(spec_dir)
    code, out = run("deploy", str(spec), "--repo", str(fleet.path), "--author", "A <a@example.com>")
    assert code == 3, out
    assert "not pushed to upstream: the fleet repo has no remote 'upstream'" in out
    assert "the commit is kept in the local fleet repo, unpushed" in out
    assert fleet.read_folder("strategies/alice/momentum-btc") is not None
    code, out = run("stop", "alice/momentum-btc", "--no-push", "--repo", str(fleet.path), "--author", "A <a@b.c>")
    assert code == 0 and "not pushed" not in out


def test_fleet_without_remote_commits_locally_without_complaint(fleet: Fleet, spec_dir: Path):
    outcome = _deploy(fleet, spec_dir, "x")
    assert outcome.commit and (outcome.remote, outcome.pushed, outcome.unpushed) == (None, False, "")


def test_remote_that_rejects_the_push(clone: Clone, bare: Path, spec_dir: Path):
    hook = bare / "hooks/pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    fleet = clone("a")
    outcome = _deploy(fleet, spec_dir, "x")
    assert not outcome.pushed and "pre-receive hook declined" in outcome.unpushed
    assert "main is protected" in outcome.unpushed
    assert fleet.read_folder("strategies/alice/x") is not None


def test_unreachable_remote(fleet: Fleet, spec_dir: Path, tmp_path: Path):
    git(fleet.path, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    outcome = _deploy(fleet, spec_dir, "x")
    assert outcome.remote == "origin" and not outcome.pushed
    assert "does not appear to be a git repository" in outcome.unpushed


class _DemandsCredentials(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="fleet"')
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_remote():
    server = http.server.HTTPServer(("127.0.0.1", 0), _DemandsCredentials)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/fleet.git"
    server.shutdown()


def test_rejected_credentials_never_prompt(fleet: Fleet, spec_dir: Path, http_remote: str):
    git(fleet.path, "remote", "add", "origin", http_remote)
    git(fleet.path, "config", "credential.helper", "")
    outcome = _deploy(fleet, spec_dir, "x")
    assert not outcome.pushed and outcome.commit == fleet.head()
    assert "credentials come from git" in outcome.unpushed, outcome.unpushed
