"""The executor image's install steps, performed into a directory (no base image can be pulled here): the
Dockerfile's `pip install` and `COPY` give an executor that starts and takes events with nothing else on its
path (`python -S`: not even this checkout's virtualenv), in the executor sandbox."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from exec_helpers import STRATEGIES, Env, Executor, free_port, sync_feed, wait_for

from executor import wire
from executor.feed import Publisher
from executor.sandbox import Limits

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "executor" / "Dockerfile").read_text()


def _install_like_the_dockerfile(image: Path) -> tuple[Path, Path]:
    """Run the Dockerfile's RUN pip install and COPY into `image`; returns (site-packages, /app)."""
    steps = re.findall(r"^(RUN|COPY) (.+?)(?<!\\)$", DOCKERFILE.replace("\\\n", " "), re.M)
    site, app = image / "site-packages", image / "app"
    pip = next(args for op, args in steps if op == "RUN" and args.startswith("pip install "))
    requirements = shlex.split(pip)[2:]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-input", "--target", str(site), *requirements],
        check=True,
        timeout=300,
    )
    for source, target in (shlex.split(args) for op, args in steps if op == "COPY"):
        shutil.copytree(
            ROOT / source, app / Path(target).relative_to("/app"), ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run([sys.executable, "-S", "-m", "compileall", "-q", str(app / "executor")], check=True, timeout=120)
    return site, app


def test_executor_runs_from_the_dockerfile_install(env: Env, publisher: Publisher, sink: list, tmp_path: Path):
    site, app = _install_like_the_dockerfile(tmp_path / "image")
    work = env.root / "image-run"
    (work / "state").mkdir(parents=True)
    port = free_port()
    config = {
        "apiVersion": "stratops.io/v1",
        "kind": "ExecutorConfig",
        "strategy": {"name": "image", "tenant": "test"},
        "code": {"dir": str(STRATEGIES), "file": "basic.py", "class": "Counter"},
        "subscriptions": ["trades"],
        "params": {},
        "feed": {"endpoint": env.feed_endpoint},
        "sink": {"endpoint": env.sink_endpoint},
        "http": {"port": port, "host": "127.0.0.1"},
        "stateDir": str(work / "state"),
        "limits": {"handlerTimeoutSeconds": 5, "maxConsecutiveErrors": 5},
    }
    (work / "executor.json").write_text(json.dumps(config))
    sandbox = Limits()
    environ = {**sandbox.env(), "PYTHONPATH": f"{app}{os.pathsep}{site}", "TMPDIR": str(work)}
    with open(work / "stderr.log", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-S", "-m", "executor", "--config", str(work / "executor.json")],  # the ENTRYPOINT
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=environ,
            preexec_fn=sandbox.preexec_fn(),
        )
    executor = Executor(proc, port, work / "state", work / "stderr.log", config)
    env.executors.append(executor)
    executor.wait_ready(30)
    sync_feed(publisher, [executor], [b"trades.BTC-USD"])
    for i in range(5):
        trade = {
            "symbol": "BTC-USD",
            "ts": time.time_ns(),
            "price": 100.0 + i,
            "size": 1.0,
            "side": "buy",
            "id": str(i),
        }
        publisher.publish(b"trades.BTC-USD", wire.TRADE, trade)
    wait_for(lambda: len(sink) == 5, 10, what="5 signals from the installed executor")
    assert sink[0]["strategy"] == "image" and executor.metric("events_total") == 5
    assert executor.stop() == 0
