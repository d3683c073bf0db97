"""One API backtest: `python -m generator.backtest.worker JOBDIR` (started by generator.backtest.jobs).

Reads JOBDIR/job.json (the Strategy document, options, optional data file name), writes
progress.json while the data streams, then result.json, or error.json with the user's problems.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..spec import UNCAPPED, strategy_from_document

MAX_POINTS = 2000
MAX_FILLS = 1000


def run(folder: Path) -> dict[str, Any]:
    from ..params import check_params
    from .engine import backtest, load_data
    from .options import from_json
    from .report import to_json

    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    strategy = strategy_from_document(job["spec"], "spec", None, UNCAPPED)
    options, overrides = from_json(job.get("options"), float(job.get("seconds", 600)))
    params = {**strategy.params, **overrides}
    check_params(strategy, [params])
    data = folder / job["data"] if job.get("data") else None
    records = load_data(data, options.start, options.end)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or done == total:
            last[0] = now
            _write(folder / "progress.json", {"progress": done / max(1, total), "events": done, "total": total})

    result = backtest(strategy, records, options, params, "uploaded data" if data else "the bundled sample", progress)
    doc = to_json(result)
    step = max(1, len(doc["equity"]) // MAX_POINTS)
    doc["equity"] = doc["equity"][::step] + ([doc["equity"][-1]] if (len(doc["equity"]) - 1) % step else [])
    doc["fills_total"] = len(doc["fills"])
    doc["fills"] = doc["fills"][:MAX_FILLS]
    doc["round_trips"] = doc["round_trips"][:MAX_FILLS]
    doc["unfilled"] = doc["unfilled"][:MAX_FILLS]
    return doc


def _write(path: Path, doc: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


def main() -> int:
    folder = Path(sys.argv[1])
    try:
        doc = run(folder)
    except UserError as exc:
        _write(folder / "error.json", {"title": exc.title, "problems": [str(p) for p in exc.problems]})
        return 2
    except MemoryError:
        problem = "over the worker's memory limit: send less data (or a shorter from/to range)"
        _write(folder / "error.json", {"title": "the data is too large to backtest here", "problems": [problem]})
        return 2
    except ImportError as exc:  # the service was installed without the backtest extra
        hint = "install the backtest extra where the service runs: pip install 'stratops[backtest]'"
        _write(folder / "error.json", {"title": "backtests are not installed here", "problems": [f"{exc}; {hint}"]})
        return 2
    _write(folder / "result.json", doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
