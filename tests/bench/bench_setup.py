"""Benchmark: `make demo` on a fresh clone with empty package caches, against the README's two minutes.

.venv/bin/python tests/bench/bench_setup.py [--skip-baseline]

cold: a `git clone` of this checkout's HEAD (no .venv, no .tools, so helm is fetched too) with PIP_CACHE_DIR
and UV_CACHE_DIR pointed at empty folders; the set-up is the time until make starts `stratops demo`.
warm: `make demo` again in the same clone. baseline: in a second fresh clone with empty caches, the set-up
`make demo` used to run (pip installing the package with its dev extras, helm, the seccomp profile), so the
ratio new/old compares the two installers on the same machine in the same run. Only committed changes are
measured (the clone is of HEAD). The machine's load is printed: the demo itself runs for a fixed scenario
whose wall time grows on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_S = 120.0
OLD_SETUP = (
    "python3 -m venv .venv && .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[dev]' "
    "&& python3 scripts/fetch_helm.py .tools && make -s .tools/containers/seccomp.json"
)


def _fresh(work: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A clone of HEAD and an environment whose package caches are empty."""
    clone = work / name
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    caches = work / f"{name}-cache"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "STRATOPS_HELM")}
    env |= {"PIP_CACHE_DIR": str(caches / "pip"), "UV_CACHE_DIR": str(caches / "uv")}
    return clone, env


def _make_demo(clone: Path, env: dict[str, str]) -> tuple[float, float]:
    """(set-up s, total s) of one `make demo`; its output goes to make-demo.log in the clone's parent."""
    started = time.perf_counter()
    setup = None
    with open(clone.parent / f"{clone.name}-make-demo.log", "a") as log:
        proc = subprocess.Popen(
            ["make", "demo"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for line in proc.stdout:
            log.write(line)
            if setup is None and "bin/stratops demo" in line:
                setup = time.perf_counter() - started
        if proc.wait() != 0:
            sys.exit(f"make demo failed: see {log.name}")
    total = time.perf_counter() - started
    return setup if setup is not None else total, total


def _old_setup(work: Path) -> float:
    clone, env = _fresh(work, "baseline")
    started = time.perf_counter()
    subprocess.run(OLD_SETUP, shell=True, cwd=clone, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _site_mb(clone: Path) -> float:
    site = next((clone / ".venv" / "lib").glob("python*/site-packages"))
    run = subprocess.run(["du", "-sm", str(site)], capture_output=True, text=True, check=True)
    return float(run.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-baseline", action="store_true", help="only the new set-up")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stratops-bench-setup-") as tmp:
        work = Path(tmp)
        print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)", flush=True)
        clone, env = _fresh(work, "demo")
        setup, cold = _make_demo(clone, env)
        print(f"cold make demo: {cold:.1f} s (set-up {setup:.1f} s, demo {cold - setup:.1f} s)", flush=True)
        print(f"  ratio cold / target {TARGET_S:.0f} s: {cold / TARGET_S:.2f}", flush=True)
        warm_setup, warm = _make_demo(clone, env)
        print(f"warm make demo: {warm:.1f} s (set-up {warm_setup:.1f} s)", flush=True)
        print(f"  packages installed for the demo: {_site_mb(clone):.0f} MB", flush=True)
        if not args.skip_baseline:
            old = _old_setup(work)
            print(f"baseline set-up (pip, package + dev extras), cold: {old:.1f} s", flush=True)
            print(f"  ratio set-up new / baseline: {setup / old:.2f}", flush=True)
            print(f"  packages installed by the baseline: {_site_mb(work / 'baseline'):.0f} MB", flush=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
