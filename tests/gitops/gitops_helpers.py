"""Helpers for the GitOps tests (real git, real helm)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from generator.cli import main


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def remote_log(bare: Path, fmt: str = "%s") -> list[str]:
    return git(bare, "log", f"--format={fmt}", "main").splitlines()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output
