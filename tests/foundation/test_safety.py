"""Concurrent writers serialize; a failure or a kill -9 mid-way leaves a consistent repo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from generator import actions
from generator.errors import UserError
from generator.fleet import Fleet
from tests.support import AUTHOR, MOMENTUM, write_spec


def git_state(fleet: Fleet) -> tuple[str, bytes, str]:
    status = fleet.repo.git.status("--porcelain", "--untracked-files=all")  # refreshes the index stat data first
    return fleet.head(), (Path(fleet.repo.git_dir) / "index").read_bytes(), status


def test_concurrent_processes_serialize_and_lose_nothing(fleet: Fleet, spec_dir: Path):
    specs = [write_spec(spec_dir / str(i), name=f"s{i}") for i in range(6)]
    start = fleet.head()
    env = {**os.environ, "STRATOPS_FLEET": str(fleet.path), "STRATOPS_AUTHOR": "P <p@example.com>"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "generator.cli", "deploy", str(s)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for s in specs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    names = sorted(r["name"] for r in actions.list_strategies(fleet))
    assert names == [f"s{i}" for i in range(6)]
    assert len(list(fleet.repo.iter_commits(f"{start}..main"))) == 6
    fleet.repo.git.fsck("--strict")
    assert fleet.repo.git.status("--porcelain") == ""


def test_concurrent_threads_serialize(fleet: Fleet, spec_dir: Path):
    strategies = [actions.load_strategy(fleet, write_spec(spec_dir / str(i), name=f"t{i}")) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda s: actions.deploy(Fleet(fleet.path), s, AUTHOR), strategies))
    assert len({o.commit for o in outcomes}) == 8
    assert len(actions.list_strategies(fleet)) == 8


def test_an_exception_before_publishing_leaves_no_trace(fleet: Fleet, spec_dir: Path, monkeypatch):
    before = git_state(fleet)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Fleet, "_publish", boom)
    with pytest.raises(RuntimeError):
        actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir)), AUTHOR)
    assert git_state(fleet) == before


def test_a_failed_preflight_leaves_the_repo_untouched(fleet: Fleet, spec_dir: Path):
    # A chart in the fleet that renders an invalid Deployment: the preflight must refuse it.
    deployment = fleet.path / "charts/strategy-executor/templates/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("replicas: 1", "replicas: many"))
    fleet.repo.index.add([str(deployment.relative_to(fleet.path))])
    fleet.repo.index.commit("break the chart", author=AUTHOR)
    before = git_state(fleet)
    with pytest.raises(UserError, match="preflight refused") as info:
        actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir)), AUTHOR)
    assert any("spec.replicas" in str(p) for p in info.value.problems)
    assert git_state(fleet) == before


def test_interrupted_worktree_sync_is_finished_by_the_next_run(fleet: Fleet, spec_dir: Path, monkeypatch):
    monkeypatch.setattr(Fleet, "_sync_worktree", lambda *a, **k: None)  # "killed" right after the ref moved
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir)), AUTHOR)
    assert (Path(fleet.repo.git_dir) / "stratops-sync").exists()
    monkeypatch.undo()
    with fleet.lock():
        pass
    assert not (Path(fleet.repo.git_dir) / "stratops-sync").exists()
    assert fleet.repo.git.status("--porcelain") == ""
    assert (fleet.path / "strategies/alice/momentum-btc/momentum.py").read_text() == MOMENTUM


DEPLOY_LOOP = textwrap.dedent("""
    import sys
    from pathlib import Path
    from generator import actions
    from generator.fleet import Fleet
    from tests.support import AUTHOR, MOMENTUM, write_spec
    fleet = Fleet(Path(sys.argv[1]))
    for i in range(1000):
        spec = write_spec(Path(sys.argv[2]) / str(i), name=f"k{i % 5}", code=MOMENTUM + f"# {i}\\n")
        actions.deploy(fleet, actions.load_strategy(fleet, spec), AUTHOR)
        print(i, flush=True)
""")


@pytest.mark.parametrize("delay", [0.9, 1.3, 1.7])
def test_kill_9_mid_deploy_leaves_a_consistent_repo(fleet: Fleet, spec_dir: Path, delay: float):
    proc = subprocess.Popen(
        [sys.executable, "-c", DEPLOY_LOOP, str(fleet.path), str(spec_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    fleet.repo.git.fsck("--strict")
    with fleet.lock():  # the next writer finishes any cut-short work tree sync
        pass
    assert fleet.repo.git.status("--porcelain", "--untracked-files=all") == ""
    # And the fleet keeps working.
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir / "after", name="after")), AUTHOR)
    assert fleet.repo.git.status("--porcelain") == ""
