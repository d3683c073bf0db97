"""The HTTP API (docs/internals.md, "HTTP API"): thin handlers over generator.actions."""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Any

import git
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import actions, approvals
from .. import review as review_branches
from ..diff import diff_objects
from ..errors import Problem, UserError
from ..fleet import MAIN_BRANCH, Fleet
from ..render import SPEC_FILE, VALUES_FILE, strategy_dir
from ..runtime import logs as runtime_logs
from ..spec import DNS_LABEL
from ..yamlio import load_one
from . import observe, payloads
from .events import fleet_stream
from .limits import admission
from .problems import ApiError
from .sync import sync_of
from .tokens import Principal

router = APIRouter()
_bearer = HTTPBearer(auto_error=False, description="A tenant's or the admin's token.")
LABEL = f"^{DNS_LABEL}$"
Tenant = Annotated[str, Path(pattern=LABEL, max_length=63, description="The tenant (a DNS-1123 label)")]
Name = Annotated[str, Path(pattern=LABEL, max_length=63, description="The strategy (a DNS-1123 label)")]
_REV = re.compile(r"^(?!-)[A-Za-z0-9._/~^-]{1,120}$")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,31}$")
_SPEC_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {"spec": {"type": "object", "description": "A Strategy document (code.inline)"}},
                }
            },
            "application/yaml": {"schema": {"type": "string", "description": "The Strategy document as YAML"}},
        },
    }
}
_ROLLBACK_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"to": {"type": ["string", "null"]}}},
            }
        },
    }
}


# --- dependencies -------------------------------------------------------------


def service(request: Request):
    return request.app.state.service


def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    who = service(request).tokens.authenticate(credentials.credentials) if credentials else None
    if who is None:
        raise ApiError(
            401,
            "missing or unknown bearer token",
            errors=[Problem("Authorization", "no valid token", "send Authorization: Bearer <token>")],
            headers={"WWW-Authenticate": 'Bearer realm="stratops"'},
        )
    service(request).rate.take(who.name, who.limits)
    return who


Who = Annotated[Principal, Depends(principal)]


def tenant_access(tenant: Tenant, who: Who) -> Principal:
    """The caller acts for `tenant`: its own, or any as the admin. Checked before anything is read."""
    if not who.may_act_for(tenant):
        raise ApiError(
            403, "not your tenant", errors=[Problem("tenant", "the token is for another tenant", "use your own")]
        )
    return who


Acting = Annotated[Principal, Depends(tenant_access)]


def _rev(value: str, what: str) -> str:
    if not _REV.match(value):
        raise ApiError(
            400, f"invalid {what}", errors=[Problem(what, f"{value[:80]!r}", "a commit SHA, a branch or HEAD~N")]
        )
    return value


def _author(who: Principal) -> git.Actor:
    """Commits are authored by the token's user: `ann <ann@alice.stratops>` (the committer stays stratops)."""
    return who.actor


def _existing(fleet: Fleet, tenant: str, name: str) -> dict[str, bytes]:
    files = fleet.read_folder(strategy_dir(tenant, name))
    if files is None:
        raise ApiError(404, f"{tenant}/{name} is not deployed", errors=[Problem("strategy", f"{tenant}/{name}")])
    return files


def _revision(fleet: Fleet, tenant: str, name: str) -> str | None:
    changes = fleet.history(strategy_dir(tenant, name), limit=1)
    return changes[0].sha if changes else None


def _outcome(fleet: Fleet, outcome: actions.Outcome) -> dict[str, Any]:
    tenant, _, name = outcome.key.partition("/")
    body: dict[str, Any] = {
        "strategy": outcome.key,
        "action": outcome.action,
        "commit": outcome.commit or _revision(fleet, tenant, name),
        "changed": outcome.commit is not None,
        "branch": outcome.branch,
        "message": outcome.message,
        "warnings": outcome.warnings,
        "remote": outcome.remote,
        "pushed": outcome.pushed,
    }
    if outcome.unpushed:
        body["unpushed"] = outcome.unpushed
    if outcome.summary:
        body["review"] = {"branch": outcome.branch, "summary": outcome.summary}
    return body


# --- service -----------------------------------------------------------------


@router.get("/healthz", tags=["service"])
def healthz(request: Request) -> dict[str, Any]:
    svc = service(request)
    return {"status": "ok", "revision": svc.reader().head(), "queue": svc.queue.depth}


@router.get("/v1/whoami", tags=["service"])
def whoami(who: Who) -> dict[str, Any]:
    return {"tenant": who.tenant, "admin": who.admin, "user": who.user_name, "email": who.actor.email}


# --- strategies -----------------------------------------------------------------


@router.get("/v1/tenants/{tenant}/strategies", tags=["strategies"])
def list_strategies(request: Request, tenant: Tenant, who: Acting) -> list[dict[str, Any]]:
    return _fleet_view(service(request), tenant)["strategies"]


def _fleet_view(svc: Any, tenant: str) -> dict[str, Any]:
    """The tenant's strategies with status and sync, and whether the runtime answers."""
    fleet = svc.reader()
    statuses = svc.statuses(tenant)
    rows = actions.list_strategies(fleet, tenant)
    for row in rows:
        row["revision"] = _revision(fleet, tenant, row["name"])
        row["status"] = statuses.get(f"{tenant}/{row['name']}") or statuses.get("*") or {"state": "Unknown"}
        row["sync"] = sync_of(row["revision"], row["status"])
    return {"runtime": svc.runtime(statuses), "strategies": rows}


@router.get("/v1/tenants/{tenant}/events", tags=["runtime"], response_class=StreamingResponse)
def events(request: Request, tenant: Tenant, who: Acting, once: bool = False) -> StreamingResponse:
    """Server-sent events: `fleet` with `{runtime, strategies}` (the rows above) whenever it changes.

    `once=true`: the current view as one event, then the stream ends.
    """
    svc = service(request)
    svc.streams.acquire(tenant)
    view = partial(_fleet_view, svc, tenant)
    stream = fleet_stream(request, view, partial(svc.streams.release, tenant), once)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


@router.put("/v1/tenants/{tenant}/strategies/{name}", tags=["strategies"], openapi_extra=_SPEC_BODY)
async def deploy(request: Request, tenant: Tenant, name: Name, who: Acting, review: bool = False) -> JSONResponse:
    svc = service(request)
    body = await request.body()
    doc = payloads.spec_document(body, request.headers.get("content-type", ""), tenant, name)
    limits = svc.tokens.limits(tenant)
    strategy = await run_in_threadpool(lambda: payloads.strategy_of(svc.reader(), doc, tenant, limits))
    admit = admission(tenant, limits)
    base = _if_match(request.headers.get("if-match"))

    def job(fleet: Fleet) -> dict[str, Any]:
        outcome = actions.deploy(fleet, strategy, _author(who), review, tenant, admit=admit, base=base)
        return _outcome(fleet, outcome)

    return await svc.mutate(request, who, body, job)


def _if_match(value: str | None) -> str | None:
    """`If-Match: "<revision>"` (the strategy's revision, as GET returns it in ETag) -> the revision."""
    if value is None:
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    return _rev(tag, "If-Match")


@router.post("/v1/tenants/{tenant}/strategies/{name}/check", tags=["strategies"], openapi_extra=_SPEC_BODY)
async def check(request: Request, tenant: Tenant, name: Name, who: Acting) -> dict[str, Any]:
    svc = service(request)
    body = await request.body()
    try:
        doc: dict[str, Any] | UserError = payloads.spec_document(
            body, request.headers.get("content-type", ""), tenant, name
        )
    except UserError as exc:  # a YAML syntax error is a finding with a line, not a failed request
        doc = exc
    limits = svc.tokens.limits(tenant)
    return await run_in_threadpool(lambda: payloads.check(svc.reader(), doc, tenant, limits))


@router.get("/v1/tenants/{tenant}/strategies/{name}", tags=["strategies"])
def show(request: Request, tenant: Tenant, name: Name, who: Acting) -> JSONResponse:
    fleet = service(request).reader()
    files = _existing(fleet, tenant, name)
    spec = load_one(files[SPEC_FILE].decode(), SPEC_FILE) if SPEC_FILE in files else None
    code_file = ((spec or {}).get("spec") or {}).get("code", {}).get("file")
    revision = _revision(fleet, tenant, name)
    body = {
        "tenant": tenant,
        "name": name,
        "spec": spec,
        "code_file": code_file,
        "code": files[code_file].decode(errors="replace") if code_file in files else None,
        "values": files[VALUES_FILE].decode(errors="replace") if VALUES_FILE in files else None,
        "revision": revision,
    }
    return JSONResponse(body, headers={"ETag": f'"{revision}"'} if revision else {})


@router.delete("/v1/tenants/{tenant}/strategies/{name}", tags=["strategies"])
async def stop(request: Request, tenant: Tenant, name: Name, who: Acting) -> JSONResponse:
    def job(fleet: Fleet) -> dict[str, Any]:
        return _outcome(fleet, actions.stop(fleet, f"{tenant}/{name}", _author(who), acting_tenant=tenant))

    return await service(request).mutate(request, who, b"", job)


@router.get("/v1/tenants/{tenant}/strategies/{name}/history", tags=["strategies"])
def history(
    request: Request, tenant: Tenant, name: Name, who: Acting, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    fleet = service(request).reader()
    changes = actions.history(fleet, f"{tenant}/{name}", limit)
    return [
        {
            "sha": c.sha,
            "author": c.author,
            "email": c.email,
            "time": c.date,
            "message": c.subject,
            "digest": c.trailers.get("Spec-Digest"),
            "action": c.trailers.get("Action"),
        }
        for c in changes
    ]


@router.post("/v1/tenants/{tenant}/strategies/{name}/rollback", tags=["strategies"], openapi_extra=_ROLLBACK_BODY)
async def rollback(request: Request, tenant: Tenant, name: Name, who: Acting) -> JSONResponse:
    body = await request.body()
    to = _rollback_target(body)
    admit = admission(tenant, service(request).tokens.limits(tenant))

    def job(fleet: Fleet) -> dict[str, Any]:
        return _outcome(fleet, actions.rollback(fleet, f"{tenant}/{name}", _author(who), to, tenant, admit=admit))

    return await service(request).mutate(request, who, body, job)


def _rollback_target(body: bytes) -> str | None:
    if not body.strip():
        return None
    try:
        doc = load_one(body.decode("utf-8"), "body", aliases=False)
    except UnicodeDecodeError:
        doc = None
    if not isinstance(doc, dict) or set(doc) - {"to"} or not isinstance(doc.get("to"), str | None):
        raise ApiError(422, 'the body must be {"to": "<revision>"} or empty', errors=[Problem("body", "not valid")])
    return _rev(doc["to"], "to") if doc.get("to") is not None else None


@router.get("/v1/tenants/{tenant}/strategies/{name}/diff", tags=["strategies"])
def diff(
    request: Request,
    tenant: Tenant,
    name: Name,
    who: Acting,
    rev_from: Annotated[str | None, Query(alias="from")] = None,
    rev_to: Annotated[str | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Rendered-object diff of the strategy; by default its last change."""
    fleet = service(request).reader()
    folder = strategy_dir(tenant, name)
    acting = None if who.admin else tenant
    new = actions.resolve(fleet, _rev(rev_to, "to") if rev_to else MAIN_BRANCH, acting)
    if rev_from:
        old = actions.resolve(fleet, _rev(rev_from, "from"), acting)
    else:
        changes = fleet.history(folder, new, limit=1)
        if not changes:
            raise ApiError(404, f"{tenant}/{name} has no history", errors=[Problem("strategy", f"{tenant}/{name}")])
        parents = fleet.repo.commit(changes[0].sha).parents
        old = parents[0].hexsha if parents else changes[0].sha
    changes = diff_objects(actions.rendered_objects(fleet, folder, old), actions.rendered_objects(fleet, folder, new))
    return {
        "from": old,
        "to": new,
        "text": "".join(c.text for c in changes),
        "objects": [{"key": c.key, "status": c.status, "text": c.text} for c in changes],
    }


@router.get("/v1/tenants/{tenant}/strategies/{name}/status", tags=["runtime"])
def status(request: Request, tenant: Tenant, name: Name, who: Acting) -> dict[str, Any]:
    svc = service(request)
    fleet = svc.reader()
    _existing(fleet, tenant, name)
    revision, row = _revision(fleet, tenant, name), svc.status(tenant, name)
    return {"strategy": f"{tenant}/{name}", "revision": revision, **row, "sync": sync_of(revision, row)}


@router.get("/v1/tenants/{tenant}/strategies/{name}/logs", tags=["runtime"])
def logs(
    request: Request,
    tenant: Tenant,
    name: Name,
    who: Acting,
    since: Annotated[str | None, Query(max_length=40, description="30s, 10m, 2h, 1d or an RFC 3339 time")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> dict[str, Any]:
    """The executor's last output lines, oldest first (at most 5000, read from at most the last 2 MiB)."""
    svc = service(request)
    start = runtime_logs.parse_since(since) if since is not None else None
    found = svc.logs(tenant, name, start, limit)
    if found is None:
        if svc.reader().read_folder(strategy_dir(tenant, name)) is None:
            raise ApiError(404, f"{tenant}/{name} is not deployed", errors=[Problem("strategy", f"{tenant}/{name}")])
        found = {"source": "local", "lines": []}
    return {"strategy": f"{tenant}/{name}", **found}


@router.post("/v1/tenants/{tenant}/strategies/{name}/restart", tags=["runtime"], status_code=202)
async def restart(request: Request, tenant: Tenant, name: Name, who: Acting) -> dict[str, Any]:
    """A new pod for the strategy, no commit: locally a new process; in the cluster its pods are deleted."""
    svc = service(request)
    _existing(svc.reader(), tenant, name)
    try:
        return await run_in_threadpool(svc.restart, tenant, name)
    except UserError as exc:
        raise ApiError(409, exc.title, errors=exc.problems) from None


@router.get("/v1/tenants/{tenant}/strategies/{name}/signals", tags=["runtime"])
def signals(
    request: Request, tenant: Tenant, name: Name, who: Acting, limit: Annotated[int, Query(ge=1, le=10000)] = 100
) -> list[dict[str, Any]]:
    return observe.signals(service(request).repo, tenant, name, limit)


# --- reviews -------------------------------------------------------------------------


def _branch(tenant: str, branch: str) -> str:
    if not _REV.match(branch) or ".." in branch or not branch.startswith(f"review/{tenant}/"):
        raise ApiError(
            400, "invalid review branch", errors=[Problem("branch", f"{branch[:80]!r}", f"review/{tenant}/<name>/…")]
        )
    return branch


@router.get("/v1/tenants/{tenant}/reviews", tags=["reviews"])
def reviews(request: Request, tenant: Tenant, who: Acting) -> list[dict[str, Any]]:
    return review_branches.list_reviews(service(request).reader(), tenant=tenant)


_REVIEW_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}}},
    }
}
_CLOSE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}
            }
        },
    }
}
_MERGE_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"override": {"type": "boolean"}, "reason": {"type": "string"}},
                    "description": "override (admin only): merge without enough approvals; the reason is recorded",
                }
            }
        },
    }
}


def _fields(body: bytes, allowed: dict[str, type]) -> dict[str, Any]:
    """A JSON object body with only `allowed` keys of the given types (an empty body is {})."""
    if not body.strip():
        return {}
    try:
        doc = load_one(body.decode("utf-8"), "body", aliases=False)
    except UnicodeDecodeError:
        doc = None
    if (
        not isinstance(doc, dict)
        or set(doc) - set(allowed)
        or any(not isinstance(v, allowed[k]) for k, v in doc.items() if v is not None)
    ):
        shape = ", ".join(f'"{k}": {t.__name__}' for k, t in allowed.items())
        raise ApiError(422, f"the body must be {{{shape}}}", errors=[Problem("body", "not valid", f"send {{{shape}}}")])
    return doc


@router.post("/v1/tenants/{tenant}/reviews/{branch:path}/merge", tags=["reviews"], openapi_extra=_MERGE_BODY)
async def merge(request: Request, tenant: Tenant, branch: str, who: Acting) -> JSONResponse:
    """Merge once the tenant's review rules are met; an admin may override them with a recorded reason."""
    branch = _branch(tenant, branch)
    body = await request.body()
    fields = _fields(body, {"override": bool, "reason": str})
    override = fields.get("reason") or "" if fields.get("override") else None
    if override is not None and not who.admin:
        raise ApiError(
            403,
            "only an admin overrides the review rules",
            errors=[Problem("override", "a tenant token", "get the approvals the rules ask for")],
        )
    admit = admission(tenant, service(request).tokens.limits(tenant))

    def job(fleet: Fleet) -> dict[str, Any]:
        outcome = review_branches.merge(fleet, branch, _author(who), admit=admit, override=override)
        return _outcome(fleet, outcome)

    return await service(request).mutate(request, who, body, job)


async def _act(request: Request, tenant: str, branch: str, who: Principal, action: str, key: str) -> JSONResponse:
    branch = _branch(tenant, branch)
    body = await request.body()
    text = _fields(body, {key: str}).get(key) or ""

    def job(fleet: Fleet) -> dict[str, Any]:
        outcome = approvals.act(fleet, branch, action, _author(who), text)
        return _outcome(fleet, outcome) | {"review": approvals.state(fleet, branch).as_json(_author(who))}

    return await service(request).mutate(request, who, body, job)


@router.post("/v1/tenants/{tenant}/reviews/{branch:path}/approve", tags=["reviews"], openapi_extra=_REVIEW_BODY)
async def approve(request: Request, tenant: Tenant, branch: str, who: Acting) -> JSONResponse:
    """Approve (body `{"text": "..."}` optional). Refused for an author, an admin, or a user the rules leave out."""
    return await _act(request, tenant, branch, who, "approve", "text")


@router.post("/v1/tenants/{tenant}/reviews/{branch:path}/comments", tags=["reviews"], openapi_extra=_REVIEW_BODY)
async def comment(request: Request, tenant: Tenant, branch: str, who: Acting) -> JSONResponse:
    """Comment on the review: body `{"text": "..."}` (at most 4,000 characters)."""
    return await _act(request, tenant, branch, who, "comment", "text")


@router.post("/v1/tenants/{tenant}/reviews/{branch:path}/close", tags=["reviews"], openapi_extra=_CLOSE_BODY)
async def close(request: Request, tenant: Tenant, branch: str, who: Acting) -> JSONResponse:
    """Close (reject) the review with a reason: body `{"reason": "..."}`. A closed review is never merged."""
    return await _act(request, tenant, branch, who, "close", "reason")


@router.get("/v1/tenants/{tenant}/reviews/{branch:path}", tags=["reviews"])
def review_summary(request: Request, tenant: Tenant, branch: str, who: Acting) -> dict[str, Any]:
    """The review against the current main, and its record: approvals, comments, state, what blocks a merge."""
    fleet = service(request).reader()
    summary = review_branches.show(fleet, _branch(tenant, branch))
    record = approvals.state(fleet, branch).as_json(_author(who))
    return {"branch": branch, "markdown": summary.markdown, "parts": summary.parts, "review": record}


# --- market data -----------------------------------------------------------------------


@router.get("/v1/market/{symbol}/bars", tags=["market"])
def market_bars(
    request: Request,
    symbol: str,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=5000)] = 300,
    interval: Annotated[str, Query(max_length=8)] = "1s",
) -> list[dict[str, Any]]:
    """Bars of the data the local feed replays, oldest first, on the clock the feed stamped them with."""
    found = observe.bars(symbol, interval, limit, service(request).repo) if _SYMBOL.match(symbol) else None
    if found is None:
        raise ApiError(
            404,
            f"no {interval[:8]!r} bars for {symbol[:40]!r}",
            errors=[Problem("symbol", symbol[:40], "available: " + ", ".join(observe.series()))],
        )
    return found
