"""Request limits: body size, per-tenant rate (token bucket), strategy count, resource caps."""

from __future__ import annotations

import math
import re
import threading
import time
from pathlib import PurePosixPath

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import actions
from ..errors import Problem, UserError
from ..fleet import Fleet
from ..render import STRATEGIES_DIR, strategy_dir
from ..spec import Caps, quantity, resource_problems
from ..tenants import tenant_caps
from .problems import ApiError, problem_response
from .tokens import Limits

# A ConfigMap holds at most 1 MiB; the spec caps code at 512 KiB, so a request never needs more.
DEFAULT_MAX_BODY = 1024 * 1024


def body_too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "request body too large",
        errors=[Problem("body", f"more than {limit} bytes", "a strategy's code must stay under 512 KiB")],
    )


class BodyLimit:
    """Refuse bodies over `max_bytes`: by Content-Length up front, and by counting a streamed body."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY, uploads: dict[re.Pattern, int] | None = None):
        self.app, self.max_bytes = app, max_bytes
        self.uploads = uploads or {}  # POST paths that take larger bodies (market data), with their limit

    def _limit(self, scope: Scope) -> int:
        if scope.get("method") == "POST":
            for pattern, limit in self.uploads.items():
                if pattern.match(scope.get("path", "")):
                    return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            error = body_too_large(limit) if length.isdigit() else ApiError(400, "invalid Content-Length")
            return await problem_response(error, scope.get("path", ""))(scope, receive, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise body_too_large(limit)
            return message

        await self.app(scope, counted, send)


class RateLimiter:
    """A token bucket per principal: `rate_per_s` sustained, `burst` at once."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str, limits: Limits) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (float(limits.burst), now))
            tokens = min(float(limits.burst), tokens + (now - last) * limits.rate_per_s)
            if tokens < 1.0:
                self._buckets[who] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / limits.rate_per_s)
                raise ApiError(
                    429,
                    "too many requests",
                    errors=[Problem(who, f"more than {limits.rate_per_s:g} requests/s", f"retry after {wait} s")],
                    headers={"Retry-After": str(wait)},
                )
            self._buckets[who] = (tokens - 1.0, now)


def effective_caps(fleet: Fleet, tenant: str, limits: Limits) -> Caps:
    """The tenant namespace's caps, lowered further by the service's per-tenant configuration."""
    caps = tenant_caps(fleet, tenant)
    return Caps(
        max_cpu=_lower(caps.max_cpu, limits.max_cpu),
        max_memory=_lower(caps.max_memory, limits.max_memory),
    )


def _lower(cap: str, configured: str | None) -> str:
    if configured is None:
        return cap
    a, b = quantity(cap), quantity(configured)
    return configured if a is None or (b is not None and b < a) else cap


def admission(tenant: str, limits: Limits) -> actions.Admit:
    """The tenant's limits as a check of each commit that moves main: deploys, rollbacks and merges alike."""

    def admit(fleet: Fleet, folder: PurePosixPath, files: dict[str, bytes]) -> None:
        check_quota(fleet, tenant, folder.name, limits)
        strategy = actions.strategy_of_folder(files, str(folder))
        problems = resource_problems(strategy, effective_caps(fleet, tenant, limits))
        if problems:
            raise UserError(f"{tenant}/{folder.name} is over the limits of tenant {tenant}", problems)

    return admit


def check_quota(fleet: Fleet, tenant: str, name: str, limits: Limits) -> None:
    """A new strategy must not take the tenant past `max_strategies` (run in the writer: exact)."""
    if fleet.read_folder(strategy_dir(tenant, name)) is not None:
        return
    count = len(fleet.list_folders(f"{STRATEGIES_DIR}/{tenant}", 1))
    if count >= limits.max_strategies:
        raise ApiError(
            409,
            "strategy limit reached",
            errors=[
                Problem(
                    f"tenant {tenant}",
                    f"already has {count} strategies (limit {limits.max_strategies})",
                    "stop a strategy first",
                )
            ],
        )
