"""Run the benchmarks: `python -m tests.bench [AREA ...]` (areas: the bench_<area>.py files here)."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    chosen = sys.argv[1:] or available
    unknown = [a for a in chosen if a not in available]
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(available)}")
    sys.argv = sys.argv[:1]  # each benchmark parses its own (default) options
    for area in chosen:
        print(f"\n=== {area} ===", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"tests.bench.bench_{area}").main()
        print(f"({area}: {time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
