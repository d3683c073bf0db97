"""Crash safety: kill -9 a real `stratops serve` under load, restart it, and find every acknowledged deploy in git."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from generator import actions
from generator.fleet import Fleet
from generator.service.recovery import recover
from generator.service.tokens import add_token
from generator.spec import parse_spec
from tests.service.service_helpers import free_port, spec, start_server
from tests.support import AUTHOR, MOMENTUM

CLIENTS = 6
ROUNDS = 3


def _kill_mid_commit(proc: subprocess.Popen[bytes], repo: Path) -> int:
    """SIGKILL while the ref is moving and the work tree is being synced (the journal exists), if seen in 10 s."""
    journal, index_lock = repo / ".git" / "stratops-sync", repo / ".git" / "index.lock"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (journal.exists() or index_lock.exists()):
        pass  # busy-wait: the window is a few milliseconds
    hit = journal.exists() or index_lock.exists()
    os.kill(proc.pid, signal.SIGKILL)  # otherwise mid-preflight: CLIENTS requests are always queued
    return int(hit)


def _load(base: str, token: str, worker: int, acked: list[tuple[str, str]], stop: threading.Event) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        for i in range(1000):
            if stop.is_set():
                return
            name = f"w{worker}-{i}"
            try:
                response = client.put(
                    f"/v1/tenants/alice/strategies/{name}",
                    json=spec(name),
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError:
                return  # the server died: this request got no answer, so it promised nothing
            if response.status_code == 200:
                acked.append((name, response.json()["commit"]))


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def test_kill_9_mid_commit_loses_no_acknowledged_deploy(fleet: Fleet, tmp_path: Path):
    tokens_file = tmp_path / "tokens.yaml"
    tokens_file.write_text("defaults: {rate_per_s: 1000, burst: 1000}\n")
    token = add_token(tokens_file, "alice")
    acked: list[tuple[str, str]] = []
    hits = 0
    for round_ in range(ROUNDS):
        port = free_port()
        proc = start_server(fleet.path, tokens_file, port, tmp_path / f"serve-{round_}.log")
        stop = threading.Event()
        workers = [
            threading.Thread(target=_load, args=(f"http://127.0.0.1:{port}", token, round_ * 100 + w, acked, stop))
            for w in range(CLIENTS)
        ]
        for w in workers:
            w.start()
        started = len(acked)
        deadline = time.monotonic() + 60
        while len(acked) < started + 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        hits += _kill_mid_commit(proc, fleet.path)
        proc.wait()
        stop.set()
        for w in workers:
            w.join()
        assert len(acked) >= started + 4

    assert hits >= 1, "no kill landed while a commit was being published"
    port = free_port()
    proc = start_server(fleet.path, tokens_file, port, tmp_path / "serve-final.log")
    try:
        main = Fleet(fleet.path)
        for name, commit in acked:
            assert _git(fleet.path, "merge-base", "--is-ancestor", commit, "main").returncode == 0, name
            assert main.read_folder(f"strategies/alice/{name}") is not None, name
        assert _git(fleet.path, "fsck", "--strict", "--no-dangling").returncode == 0
        assert _git(fleet.path, "status", "--porcelain").stdout == ""  # index and work tree match main again
        assert not (fleet.path / ".git" / "index.lock").exists()
        logs = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
        assert "recovery: " in logs  # a restart found what the kill left behind, and repaired it
        after = httpx.put(
            f"http://127.0.0.1:{port}/v1/tenants/alice/strategies/after-crash",
            json=spec("after-crash"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert after.status_code == 200 and (fleet.path / "strategies/alice/after-crash/strategy.py").exists()
    finally:
        proc.terminate()
        proc.wait(30)


def test_recover_clears_a_stale_index_lock_and_half_written_files(fleet: Fleet):
    actions.deploy(fleet, parse_spec(json.dumps(spec()["spec"])), AUTHOR)
    folder = fleet.path / "strategies/alice/momentum-btc"
    (fleet.path / ".git" / "index.lock").write_bytes(b"")  # a git process killed while writing the index
    (folder / "strategy.py").write_text(MOMENTUM[:20])  # a file cut short
    (folder / "values.yaml").unlink()
    (folder / "junk.tmp").write_text("partial")
    done = recover(fleet.path)
    assert any("index.lock" in d for d in done) and any("restored" in d for d in done)
    assert not (fleet.path / ".git" / "index.lock").exists()
    assert (folder / "strategy.py").read_text() == MOMENTUM and (folder / "values.yaml").exists()
    assert not (folder / "junk.tmp").exists()
    assert fleet.repo.git.status("--porcelain") == ""
    assert recover(fleet.path) == []  # nothing left to repair


def test_recover_finishes_an_interrupted_sync_from_the_journal(fleet: Fleet):
    old = fleet.head()
    outcome = actions.deploy(fleet, parse_spec(json.dumps(spec()["spec"])), AUTHOR)
    # As if killed after the ref moved but before the work tree was synced:
    fleet.repo.git.read_tree(old)
    subprocess.run(["rm", "-rf", str(fleet.path / "strategies/alice")], check=True)
    (fleet.path / ".git" / "stratops-sync").write_text(f"{old} {outcome.commit} strategies/alice/momentum-btc")
    recover(fleet.path)
    assert fleet.repo.git.status("--porcelain") == ""
    assert (fleet.path / "strategies/alice/momentum-btc/strategy.py").read_text() == MOMENTUM


def test_a_journal_written_before_the_ref_moved_restores_main(fleet: Fleet):
    """Killed after the journal was written but before update-ref: the work tree stays at main."""
    outcome = actions.deploy(fleet, parse_spec(json.dumps(spec()["spec"])), AUTHOR)
    (fleet.path / ".git" / "stratops-sync").write_text(f"{outcome.commit} {'f' * 40} strategies/alice/momentum-btc")
    (fleet.path / "strategies/alice/momentum-btc/strategy.py").write_text("half")
    recover(fleet.path)
    assert fleet.head() == outcome.commit and fleet.repo.git.status("--porcelain") == ""
    assert (fleet.path / "strategies/alice/momentum-btc/strategy.py").read_text() == MOMENTUM


@pytest.mark.parametrize("journal", ["", "0123"])
def test_a_torn_journal_does_not_block_the_repo(fleet: Fleet, journal: str):
    (fleet.path / ".git" / "stratops-sync").write_text(journal)
    with fleet.lock():
        pass
    assert not (fleet.path / ".git" / "stratops-sync").exists()
