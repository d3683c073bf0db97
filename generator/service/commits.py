"""The commit queue: one writer thread per fleet repo applies queued changes in order.

Handlers parse and authorize a request, then hand the change to the writer and await
its result. The writer owns its own Fleet (gitpython objects are not shared between
threads); a response is sent only after the branch ref has moved, so every 2xx is in git.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from ..errors import Problem
from ..fleet import Fleet
from .problems import ApiError

T = TypeVar("T")
_STOP = object()


class CommitQueue:
    def __init__(self, repo: Path, max_pending: int = 1000):
        self._repo = repo
        self._jobs: queue.Queue[Any] = queue.Queue(max_pending)
        self._thread = threading.Thread(target=self._run, name="stratops-commit-writer", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._jobs.qsize()

    def submit(self, job: Callable[[Fleet], T]) -> Future[T]:
        future: Future[T] = Future()
        try:
            self._jobs.put_nowait((job, future))
        except queue.Full:
            raise ApiError(
                429,
                "the commit queue is full",
                errors=[Problem("service", f"{self._jobs.maxsize} changes are waiting", "retry in a few seconds")],
                headers={"Retry-After": "5"},
            ) from None
        return future

    async def run(self, job: Callable[[Fleet], T]) -> T:
        return await asyncio.wrap_future(self.submit(job))

    def close(self, timeout: float = 30.0) -> None:
        """Finish the queued changes, then stop the writer."""
        self._jobs.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        fleet = Fleet(self._repo)
        while (item := self._jobs.get()) is not _STOP:
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job(fleet))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                future.set_exception(exc)
