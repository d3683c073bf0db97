"""`stratops demo`: the whole loop on one machine, scripted, in under two minutes.

A fresh fleet repo, `stratops up` running in this process, and every change made the way a
user makes it: `stratops deploy`, a hand-edited `git commit`, `git revert`, `stratops rollback`
(real subprocesses, so what is shown is what the commands print).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from .runtime import Options, Runtime
from .status import read_status
from .view import plain, table

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STRATEGIES = ("ma-crossover", "quote-imbalance", "vwap-breakout")
CRASHING = "demo/vwap-breakout"
AUTHOR = "Demo User <demo@example.com>"


class Demo:
    def __init__(self, repo: Path, backoff: float) -> None:
        self.repo, self.backoff = repo, backoff
        self.console = Console(highlight=False)
        self.started = time.monotonic()
        self.outcomes: list[tuple[str, bool]] = []
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.specs = tempfile.TemporaryDirectory(prefix="stratops-demo-specs-")  # the edited variants
        self.runtime: Runtime | None = None

    # --- output -----------------------------------------------------------------------

    def step(self, text: str) -> None:
        self.console.print(f"\n[bold cyan]==> {text}[/]  [dim]({time.monotonic() - self.started:.0f}s)[/]")

    def up_line(self, text: str) -> None:
        self.console.print("    [dim]up |[/] " + text.replace("[", r"\["))

    def show_status(self) -> None:
        status = read_status(self.repo)
        if status is None:
            return
        self.console.print(table(status) if self.console.is_terminal else plain(status))

    def run_cmd(self, *argv: str, expect_ok: bool = True, shown: str = "") -> subprocess.CompletedProcess:
        shown = (shown or " ".join(argv)).replace(str(self.repo), "$FLEET").replace(str(EXAMPLES.parent) + "/", "")
        self.console.print(f"    $ {shown}", markup=False)
        env = {
            **os.environ,
            "STRATOPS_AUTHOR": AUTHOR,
            "STRATOPS_FLEET": str(self.repo),
            "GIT_AUTHOR_NAME": "Demo User",
        }
        env |= {"GIT_AUTHOR_EMAIL": "demo@example.com", "GIT_COMMITTER_NAME": "Demo User"}
        env |= {"GIT_COMMITTER_EMAIL": "demo@example.com"}
        cwd = self.repo if self.repo.exists() else self.repo.parent
        result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        for line in (result.stdout + result.stderr).strip().splitlines():
            self.console.print(f"      {line}", markup=False)
        if expect_ok and result.returncode != 0:
            raise RuntimeError(f"{shown} failed with exit code {result.returncode}")
        return result

    def stratops(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        shown = " ".join(("stratops", *args))
        return self.run_cmd(sys.executable, "-m", "generator.cli", *args, expect_ok=expect_ok, shown=shown)

    def check(self, what: str, ok: bool) -> bool:
        self.outcomes.append((what, ok))
        mark = "[green]ok[/]" if ok else "[red]FAILED[/]"
        self.console.print(f"    {mark} {what}")
        return ok

    def wait(self, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = read_status(self.repo)
            if status is not None and predicate(status):
                return self.check(what, True)
            time.sleep(0.2)
        return self.check(f"{what} (gave up after {timeout:g}s)", False)

    # --- the story --------------------------------------------------------------------

    def run(self) -> int:
        self.step("create a fleet repo and start the local runtime (`stratops up`)")
        self.stratops("init", str(self.repo))
        self.stratops("tenant", "add", "demo", "--cpu", "4", "--memory", "8Gi")
        options = Options(backoff_base=self.backoff, feed_speed="recorded", feed_rate=5.0)
        self.runtime = Runtime(self.repo, options, say=self.up_line)
        self.thread = threading.Thread(target=self._run_runtime, name="stratops-up")
        self.thread.start()
        self.wait("runtime up", lambda s: s["feed"]["state"] == "Running", 20)
        try:
            self.deploy_examples()
            self.refused()
            self.crash_and_rollback()
        finally:
            self.step("summary: the fleet's history is the audit log")
            self.run_cmd("git", "log", "--oneline", "--no-decorate", expect_ok=False)
            self.show_status()
            self.stop.set()
            self.thread.join(timeout=90)
        return self.summary()

    def _run_runtime(self) -> None:
        assert self.runtime is not None
        try:
            self.runtime.run(self.stop)
        except Exception as exc:  # shown, and every later wait fails with a clear reason
            self.console.print(f"[red]the runtime stopped: {exc}[/]")

    def deploy_examples(self) -> None:
        self.step("deploy the three example strategies (one commit each)")
        for name in STRATEGIES:
            self.stratops("deploy", str(EXAMPLES / name / "strategy.yaml"))
        keys = [f"demo/{n}" for n in STRATEGIES]
        self.wait("all three Running and ready", lambda s: _all(s, keys, "Running", ready=True), 30)
        self.step("signals flowing from the executors to the sink")
        if self.wait("signals arriving", lambda s: s["sink"]["signals"] >= 4, 45):
            self.stratops("signals", str(self.repo), "-n", "5")
        self.show_status()

    def refused(self) -> None:
        self.step("a deploy the checks refuse: 4 CPUs, past the tenant's cap of 2")
        spec = self._variant("ma-crossover", lambda text: text.replace("cpu: 250m", "cpu: '4'"))
        result = self.stratops("deploy", str(spec), expect_ok=False)
        self.check("stratops deploy refused it, nothing committed", result.returncode == 2)
        self.step("the same change hand-edited into values.yaml and committed with git, bypassing stratops")
        values = self.repo / "strategies/demo/ma-crossover/values.yaml"
        values.write_text(values.read_text().replace('"cpu": "250m"', '"cpu": "4"'))
        self.run_cmd("git", "commit", "-q", "-am", "give ma-crossover more CPU")
        self.wait(
            "the runtime's admission refuses it (policy require-resources-within-caps)",
            lambda s: _state(s, "demo/ma-crossover") == "Invalid",
            10,
        )
        message = (read_status(self.repo) or {}).get("strategies", {}).get("demo/ma-crossover", {}).get("message", "")
        self.console.print(f"      status message: {message}", markup=False)
        self.check("the last good version keeps running", "still running" in message)
        self.run_cmd("git", "revert", "--no-edit", "HEAD")
        self.wait("git revert: Running again", lambda s: _all(s, ["demo/ma-crossover"], "Running"), 10)

    def crash_and_rollback(self) -> None:
        self.step("deploy a version of vwap-breakout with a typo that crashes at start")
        spec = self._variant(
            "vwap-breakout", None, code_edit=lambda c: c.replace("Strategy, Trade", "Strategy, Trades")
        )
        self.stratops("deploy", str(spec))
        self.wait(
            "CrashLoopBackOff, restarted with growing back-off",
            lambda s: _state(s, CRASHING) == "CrashLoopBackOff" and s["strategies"][CRASHING]["restarts"] >= 3,
            40,
        )
        self.step("roll it back")
        self.stratops("rollback", CRASHING)
        self.wait("healthy again after `stratops rollback`", lambda s: _all(s, [CRASHING], "Running", ready=True), 30)
        self.stratops("history", CRASHING)

    def _variant(self, name: str, spec_edit, code_edit=None) -> Path:
        source = EXAMPLES / name
        target = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.specs.name))
        for file in source.iterdir():
            text = file.read_text()
            if file.name == "strategy.yaml" and spec_edit:
                text = spec_edit(text)
            if file.suffix == ".py" and code_edit:
                text = code_edit(text)
            (target / file.name).write_text(text)
        return target / "strategy.yaml"

    def summary(self) -> int:
        failed = [what for what, ok in self.outcomes if not ok]
        elapsed = time.monotonic() - self.started
        verdict = "[green]all steps passed[/]" if not failed else f"[red]{len(failed)} step(s) failed[/]"
        self.console.print(
            f"\n{verdict} in {elapsed:.0f}s: {len(self.outcomes) - len(failed)}/{len(self.outcomes)} checks"
        )
        for what in failed:
            self.console.print(f"  [red]failed:[/] {what}")
        return 0 if not failed else 1


def _state(status: dict[str, Any], key: str) -> str:
    return status.get("strategies", {}).get(key, {}).get("state", "")


def _all(status: dict[str, Any], keys: list[str], state: str, ready: bool = False) -> bool:
    rows = status.get("strategies", {})
    return all(k in rows and rows[k]["state"] == state and (rows[k]["ready"] or not ready) for k in keys)


def run_demo(directory: Path | None, backoff: float) -> int:
    temporary = directory is None
    repo = Path(tempfile.mkdtemp(prefix="stratops-demo-")) / "fleet" if temporary else directory
    repo.parent.mkdir(parents=True, exist_ok=True)
    demo = Demo(repo.resolve(), backoff)
    try:
        return demo.run()
    except KeyboardInterrupt:
        demo.stop.set()
        if demo.thread is not None:
            demo.thread.join(timeout=90)
        return 130
    finally:
        demo.specs.cleanup()
        if temporary:
            shutil.rmtree(repo.parent, ignore_errors=True)
