"""What the make targets install (their commands, printed by `make -n -B`: nothing is run)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands(target: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    run = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _installs(commands: str) -> list[str]:
    return re.findall(r"uv pip install .*?-e (\S+)", commands)


def test_make_demo_installs_the_runtime_packages_only_with_uv() -> None:
    commands = _commands("demo")
    assert _installs(commands) == ["."]
    assert "pip install -q --target .tools/uv uv==" in commands and " -m venv" not in commands
    assert "npm" not in commands and "build_tools.py" not in commands and "chromium" not in commands


def test_make_test_installs_every_extra_and_part_the_tests_use() -> None:
    commands = _commands("test")
    assert {"'.[dev]'", "'.[dev,backtest]'", "'.[dev,feed]'"} <= set(_installs(commands))
    for part in ("scripts/build_tools.py", "npm ci", "chromium", "fetch_helm.py", "seccomp.json", "pytest"):
        assert part in commands, part
