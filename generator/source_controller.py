"""The chart artifact Flux's source-controller builds for a HelmRelease's `spec.chart`.

For a chart from a GitRepository, source-controller packages the chart folder.
With `reconcileStrategy: ChartVersion` (the default) the packaged version is
Chart.yaml's own, and a new artifact is built only when that version changes.
With `Revision` it sets the SemVer build metadata to the first 12 hex digits of
the commit (`0.2.0+0123456789ab`), so every commit re-versions the chart of
every release that uses it (`helmchart_controller.go`, `builder_local.go`).
`valuesFiles` append `.<generation>` to that metadata.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import semver
import yaml

from .errors import Problem, UserError

CHART_VERSION = "ChartVersion"
REVISION = "Revision"
# The commit being prepared has no hash yet: twelve zeros have the length and alphabet admission sees.
UNKNOWN_REVISION = "0" * 40
_CACHE = Path(tempfile.gettempdir()) / "stratops-charts"


def packaged_chart(chart_dir: Path, chart_spec: dict[str, Any], source_root: Path, where: str) -> Path:
    """The chart folder as source-controller would package it (the same folder when nothing changes)."""
    strategy = chart_spec.get("reconcileStrategy") or CHART_VERSION
    metadata = ""
    if strategy == REVISION:
        metadata = source_revision(source_root)[:12]
    if chart_spec.get("valuesFiles"):
        metadata = f"{metadata}.1" if metadata else "1"  # generation 1: the object as first applied
    if not metadata:
        return chart_dir
    chart_yaml = (chart_dir / "Chart.yaml").read_text()
    meta = yaml.safe_load(chart_yaml) or {}
    try:
        version = semver.Version.parse(str(meta.get("version", "")), optional_minor_and_patch=True)
    except ValueError as exc:
        raise UserError(
            "chart version is not SemVer", [Problem(where, f"{chart_dir.name}/Chart.yaml version: {exc}")]
        ) from None
    return _with_version(chart_dir, str(version.replace(build=metadata)))


def source_revision(root: Path) -> str:
    """HEAD's hash when `root` is the top of a git work tree, else UNKNOWN_REVISION."""
    run = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--show-toplevel", "HEAD"], capture_output=True, text=True, check=False
    )
    lines = run.stdout.split()
    if run.returncode == 0 and len(lines) == 2 and Path(lines[0]).resolve() == root.resolve():
        return lines[1]
    return UNKNOWN_REVISION


def _with_version(chart_dir: Path, version: str) -> Path:
    """A copy of the chart with Chart.yaml's version replaced, cached per content and version."""
    digest = hashlib.sha256(version.encode())
    for path in sorted(chart_dir.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(chart_dir).as_posix().encode() + b"\0" + path.read_bytes())
    target = _CACHE / digest.hexdigest()[:24] / chart_dir.name
    if not target.is_dir():
        _CACHE.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=_CACHE))
        shutil.copytree(chart_dir, staging / chart_dir.name, symlinks=False)
        meta_path = staging / chart_dir.name / "Chart.yaml"
        meta = yaml.safe_load(meta_path.read_text())
        meta["version"] = version
        meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            (staging / chart_dir.name).rename(target)
        except OSError:  # another process packaged the same chart first
            pass
        shutil.rmtree(staging, ignore_errors=True)
    return target
