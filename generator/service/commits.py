"""The commit queue: queued changes are applied in order, one commit at a time.

Handlers parse and authorize a request, then hand the change to a lane and await its
result. A lane is a thread with its own Fleet (gitpython objects are not shared between
threads); the changes of one tenant always go to the same lane, so they apply in the
order they came and the tenant's limits are counted exactly. Lanes run the preflight
(helm, schemas, policies) side by side, while the fleet's lock lets one commit at a time
move the branch. A response is sent only after the branch ref has moved, so every 2xx is
in git.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import zlib
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
    def __init__(self, repo: Path, max_pending: int = 1000, lanes: int = min(8, os.cpu_count() or 1)):
        self._repo = repo
        self._max_pending = max_pending
        self._lanes: list[queue.Queue[Any]] = [queue.Queue() for _ in range(lanes)]
        self._threads = [
            threading.Thread(target=self._run, args=(jobs,), name=f"stratops-commit-lane-{n}", daemon=True)
            for n, jobs in enumerate(self._lanes)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def depth(self) -> int:
        return sum(jobs.qsize() for jobs in self._lanes)

    def submit(self, job: Callable[[Fleet], T], key: str = "") -> Future[T]:
        """Queue `job`; jobs with the same key (a tenant) run one after another, in the order they came."""
        if self.depth >= self._max_pending:
            raise ApiError(
                429,
                "the commit queue is full",
                errors=[Problem("service", f"{self._max_pending} changes are waiting", "retry in a few seconds")],
                headers={"Retry-After": "5"},
            )
        future: Future[T] = Future()
        self._lanes[zlib.crc32(key.encode()) % len(self._lanes)].put((job, future))
        return future

    async def run(self, job: Callable[[Fleet], T], key: str = "") -> T:
        return await asyncio.wrap_future(self.submit(job, key))

    def close(self, timeout: float = 30.0) -> None:
        """Finish the queued changes, then stop the lanes."""
        for jobs in self._lanes:
            jobs.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, jobs: queue.Queue[Any]) -> None:
        fleet = Fleet(self._repo)
        while (item := jobs.get()) is not _STOP:
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job(fleet))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                future.set_exception(exc)
