"""`stratops logs` and `stratops restart` against a real, sandboxed `stratops up`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from generator.fleet import Fleet
from generator.runtime import logs
from generator.runtime.paths import RuntimePaths
from tests.runtime.rt_helpers import Up, deploy, row, wait_for

FAILING = """import sys

from executor import Strategy


class Momentum(Strategy):
    def on_start(self):
        print("hello from on_start", flush=True)
        raise RuntimeError("no luck today")
"""


def stratops(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "generator.cli", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_logs_and_restart_of_a_failed_strategy(fleet: Fleet, tmp_path: Path) -> None:
    deploy(fleet, tmp_path / "specs", "sad", code=FAILING)
    up = Up(fleet.path, tmp_path / "up.log")
    key, repo = "alice/sad", str(fleet.path)
    try:
        first = wait_for(fleet.path, lambda s: row(s, key)["state"] == "Failed" and row(s, key)["pid"], 30, "Failed")
        pid = row(first, key)["pid"]
        shown = wait_for_output(lambda: stratops("logs", key, "--repo", repo), "no luck today")
        assert shown.returncode == 0, shown.stderr
        assert "hello from on_start" in shown.stdout and " ERROR " in shown.stdout
        assert "Traceback" not in shown.stderr
        raw = stratops("logs", key, "--repo", repo, "--json", "-n", "1")
        assert raw.returncode == 0 and len(raw.stdout.splitlines()) == 1
        later = stratops("logs", key, "--repo", repo, "--since", "2099-01-01T00:00Z")
        assert "no luck today" not in later.stdout  # every JSON record is older than that
        recent = stratops("logs", key, "--repo", repo, "--since", "10m")
        assert "no luck today" in recent.stdout

        head = fleet.head()
        restarted = stratops("restart", key, "--repo", repo)
        assert restarted.returncode == 0, restarted.stderr
        assert "restarting" in restarted.stdout
        after = wait_for(
            fleet.path,
            lambda s: row(s, key)["pid"] not in (None, pid) and row(s, key)["state"] == "Failed",
            30,
            "a new executor process",
        )
        assert row(after, key)["restarts"] == 0  # a new pod, not a container restart
        assert fleet.head() == head  # no commit
        paths = RuntimePaths.of(fleet.path)
        starts = [line for line in logs.read(paths, key, limit=5000) if "hello from on_start" in line.text]
        assert len(starts) == 2
        assert "restart requested" in up.output()
    finally:
        up.stop()


def test_follow_prints_new_lines_and_survives_rotation(tmp_path: Path) -> None:
    from tests.support import new_fleet

    fleet = new_fleet(tmp_path / "fleet")
    paths = RuntimePaths.of(fleet.path)
    folder = paths.strategy_dir("alice/quiet")
    folder.mkdir(parents=True)
    log = folder / logs.LOG_FILE
    log.write_text(json.dumps({"ts": "2026-12-02T08:00:00.000Z", "level": "info", "msg": "old"}) + "\n")
    follow = subprocess.Popen(
        [sys.executable, "-m", "generator.cli", "logs", "alice/quiet", "--repo", str(fleet.path), "-f", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        assert "old" in follow.stdout.readline()
        time.sleep(1.5)
        with log.open("a") as fh:
            fh.write("first new line\n")
        assert follow.stdout.readline().strip() == "first new line"
        log.rename(folder / (logs.LOG_FILE + ".1"))  # rotated, as the log pipe does at 5 MiB
        log.write_text("after rotation\n")
        assert follow.stdout.readline().strip() == "after rotation"
    finally:
        follow.terminate()
        follow.wait(10)


def test_logs_and_restart_refuse_clearly(fleet: Fleet) -> None:
    repo = str(fleet.path)
    missing = stratops("logs", "alice/nobody", "--repo", repo)
    assert missing.returncode == 2 and "no logs for alice/nobody" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = stratops("logs", "alice/../x", "--repo", repo)
    assert bad.returncode == 2 and "DNS-1123" in bad.stderr
    since = stratops("logs", "alice/nobody", "--repo", repo, "--since", "yesterday")
    assert since.returncode == 2 and "invalid --since" in since.stderr
    down = stratops("restart", "alice/nobody", "--repo", repo)
    assert down.returncode == 2 and "the local runtime is not running" in down.stderr


def wait_for_output(run, text: str, timeout: float = 20) -> subprocess.CompletedProcess:
    deadline = time.monotonic() + timeout
    while True:
        result = run()
        if text in result.stdout or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_reading_is_bounded_and_parses_records(tmp_path: Path) -> None:
    paths = RuntimePaths(tmp_path / "root", tmp_path / "sockets")
    folder = paths.strategy_dir("alice/big")
    folder.mkdir(parents=True)
    record = json.dumps({"ts": "2026-12-02T08:00:00.000Z", "level": "info", "msg": "x" * 100})
    (folder / (logs.LOG_FILE + ".1")).write_text((record + "\n") * 30000)  # ~3.5 MB, more than one read scans
    (folder / logs.LOG_FILE).write_text("plain tail\n" + "y" * (logs.MAX_LINE * 2) + "\n")
    lines = logs.read(paths, "alice/big", limit=100000)
    assert len(lines) == logs.MAX_LINES
    assert lines[-2].text == "plain tail" and lines[-2].ts is not None  # takes the time of the line before
    assert lines[-1].text.endswith("…[cut]") and len(lines[-1].text) < logs.MAX_LINE + 10
    assert lines[0].level == "info" and lines[0].msg == "x" * 100
