"""The console's own JavaScript unit tests (web/test, node's built-in runner; no packages needed)."""

from __future__ import annotations

import subprocess

from console_support import ROOT

from tests import needs


def test_javascript_units() -> None:
    node = needs.tool("node", "install Node 20 (Debian `nodejs`) to run web/test")
    run = subprocess.run([node, "--test", "test/"], cwd=ROOT / "web", capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout
