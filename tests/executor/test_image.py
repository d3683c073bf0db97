"""The executor image's contract, checked without a container engine: what the Dockerfile promises runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "executor" / "Dockerfile").read_text()


def test_image_runs_as_non_root_with_the_executor_entrypoint():
    assert re.search(r"^USER 10001:10001$", DOCKERFILE, re.M)
    assert 'ENTRYPOINT ["python", "-m", "executor"]' in DOCKERFILE


def test_image_stratops_command_runs_feed_and_sink_from_the_executor_package_alone():
    """The fleet's feed and sink Deployments run `stratops feed|sink` from this image, which holds only executor/."""
    wrapper = re.search(r"exec python -m (\S+) ", DOCKERFILE).group(1)
    for command in ("feed", "sink"):
        result = subprocess.run(
            [sys.executable, "-m", wrapper, command, "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "--bind" in result.stdout
    installed = set(re.findall(r'"([a-z-]+)[>=]', DOCKERFILE))
    assert {"pyzmq", "msgpack", "prometheus-client", "click"} <= installed
