"""Console test fixtures; they live in console_support.py (``conftest`` is not a unique module name)."""

from console_support import artifacts, browser, server  # noqa: F401
