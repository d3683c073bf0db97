"""Server-sent events: a tenant's fleet view pushed when it changes, instead of polled.

One `fleet` event carries `{runtime: {source, reachable, message}, strategies: [rows]}`, the rows
of `GET /v1/tenants/{t}/strategies` (status and sync included). The service looks once a second
and sends only a changed view, with a comment line every 15 s to keep proxies from closing the
stream. Bounded: at most 8 streams per tenant and 64 in all (429 beyond), each ended after
10 minutes (the client reconnects, as EventSource does after `retry`).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from ..errors import Problem
from .problems import ApiError

PER_TENANT = 8
TOTAL = 64
LOOK_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 600.0
RETRY_MS = 3000


class StreamSlots:
    """Counts open streams per tenant and in all."""

    def __init__(self, per_tenant: int = PER_TENANT, total: int = TOTAL) -> None:
        self.per_tenant, self.total = per_tenant, total
        self.open: dict[str, int] = {}
        self.lock = threading.Lock()

    def acquire(self, tenant: str) -> None:
        with self.lock:
            if self.open.get(tenant, 0) >= self.per_tenant or sum(self.open.values()) >= self.total:
                raise ApiError(
                    429,
                    "too many event streams",
                    errors=[Problem("events", f"at most {self.per_tenant} per tenant", "close another tab")],
                    headers={"Retry-After": "10"},
                )
            self.open[tenant] = self.open.get(tenant, 0) + 1

    def release(self, tenant: str) -> None:
        with self.lock:
            self.open[tenant] -= 1


async def fleet_stream(
    request: Request, view: Callable[[], dict[str, Any]], release: Callable[[], None], once: bool = False
) -> AsyncIterator[str]:
    """The SSE frames: `retry`, then a `fleet` event whenever the view changes; `release` when it ends."""
    try:
        if once:
            yield f"event: fleet\ndata: {await _data(view)}\n\n"
            return
        async for frame in _frames(request, view):
            yield frame
    finally:
        release()


async def _frames(request: Request, view: Callable[[], dict[str, Any]]) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    started = last_sent = time.monotonic()
    previous = None
    while time.monotonic() - started < STREAM_SECONDS and not await request.is_disconnected():
        data = await _data(view)
        if data != previous:
            previous, last_sent = data, time.monotonic()
            yield f"event: fleet\ndata: {data}\n\n"
        elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(LOOK_SECONDS)


async def _data(view: Callable[[], dict[str, Any]]) -> str:
    return json.dumps(await run_in_threadpool(view), sort_keys=True, separators=(",", ":"))
