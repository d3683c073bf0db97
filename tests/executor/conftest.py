"""Executor test fixtures; helpers live in exec_helpers.py (``conftest`` is not a unique module name)."""

from exec_helpers import env, publisher, short_tmp, sink, zctx

__all__ = ["env", "publisher", "short_tmp", "sink", "zctx"]
