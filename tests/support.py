"""Helpers shared by the test suites."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import git

AUTHOR = git.Actor("Ann Analyst", "ann@example.com")
# Where Flux would fetch test fleets from (tenants' GitRepositories point there; nothing fetches it offline).
FLEET_URL = "https://git.example.com/acme/fleet.git"
TENANTS = ("alice", "bob")


def new_fleet(
    path: Path,
    tenants: tuple[str, ...] = TENANTS,
    cluster: str = "local",
    quota: tuple[str, str, int] = ("8", "16Gi", 100),
):
    """A fleet repo with `tenants` added, each with `quota` (cpu, memory, strategies; by default room for
    32 strategies of the default size)."""
    from generator import actions
    from generator.tenants import add_tenant

    fleet = actions.init(path, cluster, AUTHOR, FLEET_URL)
    for tenant in tenants:
        add_tenant(fleet, tenant, *quota, AUTHOR, push=False)
    return fleet


MOMENTUM = """from executor import Strategy


class Momentum(Strategy):
    def on_trade(self, trade):
        pass
"""


def write_spec(
    folder: Path,
    name: str = "momentum-btc",
    tenant: str = "alice",
    code: str = MOMENTUM,
    extra: str = "",
    cls: str = "Momentum",
    file: str = "momentum.py",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text(code)
    spec = folder / f"{name}.yaml"
    spec.write_text(
        "apiVersion: stratops.io/v1\nkind: Strategy\n"
        f"metadata: {{name: {name}, tenant: {tenant}}}\n"
        "spec:\n"
        f"  code: {{file: {file}, class: {cls}}}\n"
        '  subscriptions: ["trades.BTC-USD", "quotes.BTC-USD"]\n'
        "  params: {window: 20}\n"
        "  resources: {cpu: 250m, memory: 256Mi}\n" + extra
    )
    return spec


def repo_fingerprint(path: Path, ignore: tuple[str, ...] = ("stratops-cache",)) -> str:
    """Every byte of the work tree and of .git (minus `ignore`d folders and the lock file): 'untouched' means equal."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in ignore)
        for name in sorted(files):
            if name == "stratops.lock":
                continue
            file = Path(root, name)
            h.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
    return h.hexdigest()
