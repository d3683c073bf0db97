"""Feed test fixtures; the executor tests' helpers (real executor processes) are shared from tests/executor."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "executor"))

from exec_helpers import env, short_tmp, zctx  # noqa: E402

__all__ = ["env", "short_tmp", "zctx"]
