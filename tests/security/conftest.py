"""One `stratops up` for the whole hostile set: a victim tenant, a host process with a secret, a canary port,
and one hostile strategy per attack class (tests/security/strategies/), all running at once.

The tests of this folder share the runtime (module scope) and run on one xdist worker (their xdist_group);
each asserts on the host that its attack failed, and that it ran at all (its report in its state volume).
A machine without bubblewrap fails here: `up` refuses to start strategies, and the fixture says so.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import executor
from generator import actions
from generator.fleet import Fleet
from generator.runtime.paths import RuntimePaths
from generator.runtime.status import read_status
from tests.runtime.rt_helpers import Up, row, running, wait_for
from tests.support import AUTHOR, new_fleet

HERE = Path(__file__).parent
HOSTILE = sorted(p.stem for p in (HERE / "strategies").glob("*.py"))
VICTIM = """from executor import Strategy


class Attack(Strategy):
    def on_trade(self, trade):
        pass
"""


class Canary:
    """A TCP port on 127.0.0.1 that counts who connects."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@dataclass
class Hostile:
    fleet: Fleet
    up: Up
    canary: Canary
    host_victim: subprocess.Popen
    host_secret: str
    victim_secret: str
    targets: dict[str, Any]
    feed_inode: int
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def paths(self) -> RuntimePaths:
        return RuntimePaths.of(self.fleet.path)

    def status(self) -> dict[str, Any]:
        status = read_status(self.fleet.path)
        assert status is not None, f"`stratops up` is not running:\n{self.up.output()[-3000:]}"
        return status

    def report(self, name: str) -> dict[str, Any]:
        """What the hostile strategy wrote into its own state volume (proves it ran)."""
        return _report(self.paths, name) or {}


def _report(paths: RuntimePaths, name: str) -> dict[str, Any] | None:
    state = paths.strategy_dir(f"mallory/{name.replace('_', '-')}") / "volumes" / "state" / "state.json"
    try:
        return json.loads(state.read_text())["report"]
    except (OSError, ValueError, KeyError):
        return None


def _spec(folder: Path, name: str, tenant: str, code: str, params: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    file = name.replace("-", "_") + ".py"
    (folder / file).write_text(code)
    spec = folder / f"{name}.yaml"
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": name, "tenant": tenant},
        "spec": {
            "code": {"file": file, "class": "Attack"},
            "subscriptions": ["trades.BTC-USD", "quotes.BTC-USD"],
            "params": params,
            "resources": {"cpu": "250m", "memory": "256Mi"},
        },
    }
    spec.write_text(json.dumps(doc))
    return spec


def _deploy(fleet: Fleet, folder: Path, name: str, tenant: str, code: str, params: dict[str, Any]) -> None:
    spec = _spec(folder / name, name, tenant, code, params)
    actions.deploy(fleet, actions.load_strategy(fleet, spec), AUTHOR)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    base = tmp_path_factory.mktemp("security")
    fleet = new_fleet(base / "fleet", ("alice", "mallory"))
    token = secrets.token_hex(8)
    host_secret, victim_secret = f"host-secret-{token}", f"alice-secret-{token}"
    canary = Canary()
    host_victim = subprocess.Popen(["sleep", "600"], env={"STRATOPS_ADMIN_TOKEN": host_secret})
    _deploy(fleet, base / "specs", "victim", "alice", VICTIM, {"secret": victim_secret})
    up = Up(fleet.path, base / "up.log")
    try:
        wait_for(fleet.path, running("alice/victim"), 60, "alice/victim running (is bubblewrap there?)")
        status = wait_for(fleet.path, lambda s: row(s, "alice/victim")["events_per_s"] > 0, 60, "feed events")
        paths = RuntimePaths.of(fleet.path)
        victim_dir = paths.strategy_dir("alice/victim") / "volumes"
        checkout = Path(executor.__file__).parents[1]
        targets = {
            "shadow": "/etc/shadow",
            "victim_config": str(victim_dir / "config" / "executor.json"),
            "victim_code": str(victim_dir / "code" / "victim.py"),
            "host_environ": f"/proc/{host_victim.pid}/environ",
            "victim_mem": f"/proc/{row(status, 'alice/victim')['pid']}/mem",
            "checkout_file": str(checkout / "setup.cfg"),
            "host_victim_pid": host_victim.pid,
            "up_pid": status["pid"],
            "canary_port": canary.port,
            "writes": [str(fleet.path / ".git" / "config"), str(fleet.path / ".git" / "hooks" / "pre-commit")],
            "cgroup_procs": [
                *(f"/sys/fs/cgroup/{c}/cgroup.procs" for c in ("memory", "pids", "cpu")),
                "/sys/fs/cgroup/cgroup.procs",
            ],
            "victim_probe": str(paths.http_socket("alice/victim")),
            "victim_sink": str(paths.sink_dir("alice/victim") / "sink.sock"),
            "feed_host": str(paths.feed_dir / "feed.sock"),
        }
        feed_inode = (paths.feed_dir / "feed.sock").stat().st_ino
        for name in HOSTILE:
            code = (HERE / "strategies" / f"{name}.py").read_text()
            _deploy(fleet, base / "specs", name.replace("_", "-"), "mallory", code, {"targets": targets})
        hostile = Hostile(fleet, up, canary, host_victim, host_secret, victim_secret, targets, feed_inode)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(hostile.reports) < len(HOSTILE):
            hostile.reports |= {n: r for n in HOSTILE if (r := _report(paths, n)) is not None}
            time.sleep(0.2)
        yield hostile
    finally:
        up.stop()
        host_victim.kill()
        host_victim.wait()
        canary.server.close()


def host_uids(pid: int) -> set[int]:
    """Real, effective, saved and filesystem uid of a process, as the host sees them."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(u) for u in line.split()[1:]}
    return set()


def processes_named(comm: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def wait_status(hostile: Hostile, predicate, timeout: float = 30, what: str = "") -> dict[str, Any]:
    return wait_for(hostile.fleet.path, predicate, timeout, what)
