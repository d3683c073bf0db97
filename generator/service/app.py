"""The FastAPI application: settings, the per-process service state, and the app factory."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..backtest.jobs import MAX_UPLOAD, BacktestJobs
from ..fleet import Fleet
from ..runtime.restarts import restart_local
from ..runtime.status import read_status
from . import backtests, console, routes
from .commits import CommitQueue
from .events import StreamSlots
from .idempotency import IdempotencyStore
from .kube_status import KubeStatus
from .limits import DEFAULT_MAX_BODY, BodyLimit, RateLimiter
from .observe import local_status, local_statuses, logs
from .problems import HANDLERS
from .recovery import recover
from .tokens import Principal, TokenStore

SERVICE_DIR = "stratops-service"
BACKTESTS = re.compile(r"^/v1/tenants/[^/]+/backtests$")  # the one route that takes market data uploads


@dataclass
class Settings:
    repo: Path
    tokens: TokenStore
    max_body: int = DEFAULT_MAX_BODY
    max_queue: int = 1000
    kube: KubeStatus | None = None  # None: status from the local runtime


class Service:
    """What the handlers share: the writer queue, the idempotency store, limits, readers."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.repo = Fleet(settings.repo).path
        self.recovered = recover(self.repo)
        git_dir = Path(git.Repo(self.repo).git_dir)
        self.idempotency = IdempotencyStore(git_dir / SERVICE_DIR / "idempotency.sqlite")
        self.queue = CommitQueue(self.repo, settings.max_queue)
        self.rate = RateLimiter()
        self.streams = StreamSlots()
        self.backtests = BacktestJobs(git_dir / SERVICE_DIR / "backtests")
        self._readers = threading.local()

    @property
    def tokens(self) -> TokenStore:
        return self.settings.tokens

    def reader(self) -> Fleet:
        """A Fleet for the calling thread (gitpython keeps per-repo git processes that are not thread-safe)."""
        fleet = getattr(self._readers, "fleet", None)
        if fleet is None:
            fleet = self._readers.fleet = Fleet(self.repo)
        return fleet

    def status(self, tenant: str, name: str) -> dict[str, Any]:
        kube = self.settings.kube
        return kube.status(tenant, name, self.reader()) if kube else local_status(self.repo, f"{tenant}/{name}")

    def statuses(self, tenant: str) -> dict[str, dict[str, Any]]:
        kube = self.settings.kube
        return kube.statuses(tenant, self.reader()) if kube else local_statuses(self.repo)

    def runtime(self, statuses: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Whether the runtime (local `stratops up`) or the cluster answers: the console's banner."""
        kube = self.settings.kube
        if kube is not None:
            down = statuses.get("*")
            return {"source": "kubernetes", "reachable": down is None, "message": down["message"] if down else ""}
        if read_status(self.repo) is None:
            return {"source": "local", "reachable": False, "message": "the local runtime is not running (stratops up)"}
        return {"source": "local", "reachable": True, "message": ""}

    def logs(self, tenant: str, name: str, since: float | None, limit: int) -> dict[str, Any] | None:
        kube = self.settings.kube
        return kube.logs(tenant, name, since, limit) if kube else logs(self.repo, f"{tenant}/{name}", since, limit)

    def restart(self, tenant: str, name: str) -> dict[str, Any]:
        """A new pod without a commit: the local runtime starts a new process; in the cluster the pods are deleted."""
        kube = self.settings.kube
        if kube is None:
            return restart_local(self.repo, f"{tenant}/{name}")
        return {"strategy": f"{tenant}/{name}", "source": "kubernetes", "deleted_pods": kube.restart(tenant, name)}

    async def mutate(
        self, request: Request, who: Principal, body: bytes, job: Callable[[Fleet], dict[str, Any]]
    ) -> JSONResponse:
        """Queue a change for the writer; with an Idempotency-Key, store the answer or replay a stored one."""
        key = request.headers.get("idempotency-key")
        if key is None:
            return JSONResponse(await self.queue.run(job, request.path_params.get("tenant", "")))
        IdempotencyStore.check_key(key)
        fingerprint = hashlib.sha256(
            f"{request.method} {request.url.path}?{request.url.query}\0".encode() + body
        ).hexdigest()
        stored = self.idempotency.begin(who.caller, key, fingerprint)
        if stored is not None:
            return JSONResponse(stored.body, stored.status, headers={"Idempotent-Replayed": "true"})

        def recorded(fleet: Fleet) -> dict[str, Any]:
            result = job(fleet)
            self.idempotency.finish(who.caller, key, 200, result)  # in the writer, right after the commit
            return result

        try:
            return JSONResponse(await self.queue.run(recorded, request.path_params.get("tenant", "")))
        except BaseException:
            self.idempotency.abandon(who.caller, key)
            raise

    def close(self) -> None:
        self.queue.close()
        self.idempotency.close()
        self.backtests.close()


def create_app(settings: Settings) -> FastAPI:
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="stratops",
        summary="Deploy trading strategies as GitOps: every change is a commit in the fleet repo.",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = service
    for exc, handler in HANDLERS.items():
        app.add_exception_handler(exc, handler)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body, uploads={BACKTESTS: MAX_UPLOAD})
    app.include_router(routes.router)
    app.include_router(backtests.router)
    # Web console: mount its router below this line.
    app.include_router(console.router())
    return app
