"""`POST /v1/tenants/{tenant}/backtests` and `GET .../backtests/{id}`: thin handlers over generator.backtest.jobs.

The body is JSON: ``{"spec": <Strategy document, code inline>, "options": {...}, "data":
{"format": "ndjson"|"csv"|"parquet", "base64": "..."}}`` (data optional: the bundled sample
otherwise), at most 100 MB. The spec and options are checked here (422 with every problem);
the data is checked by the worker (its errors come back in the job's `error`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ..backtest.jobs import Busy
from ..backtest.options import from_json
from ..errors import Problem
from . import payloads
from .problems import ApiError
from .routes import Acting, Tenant

router = APIRouter()
JobId = Annotated[str, Path(pattern="^[0-9a-f]{16}$", description="The backtest's id")]
FORMATS = {"ndjson": "data.ndjson", "csv": "data.csv", "parquet": "data.parquet"}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {"type": "object", "description": "A Strategy document (code.inline)"},
                        "options": {"type": "object", "description": "mode, unit, latency, fees, limits, from, to..."},
                        "data": {
                            "type": "object",
                            "properties": {"format": {"enum": list(FORMATS)}, "base64": {"type": "string"}},
                        },
                    },
                }
            }
        },
    }
}


@router.post("/v1/tenants/{tenant}/backtests", tags=["backtests"], status_code=202, openapi_extra=_BODY)
async def start(request: Request, tenant: Tenant, who: Acting) -> JSONResponse:
    svc = request.app.state.service
    body = _json(await request.body())
    doc = _spec(body["spec"], tenant)
    data, name = _data(body.get("data"))

    def prepare() -> str:
        payloads.strategy_of(svc.reader(), doc, tenant, who.limits)  # 422 with every problem, tenant caps applied
        from_json(body.get("options"), svc.backtests.seconds)
        return svc.backtests.submit(tenant, {"spec": doc, "options": body.get("options") or {}}, data, name)

    try:
        ident = await run_in_threadpool(prepare)
    except Busy as exc:
        raise ApiError(409, exc.title, errors=exc.problems) from None
    location = f"/v1/tenants/{tenant}/backtests/{ident}"
    return JSONResponse({"id": ident, "state": "queued", "location": location}, 202, headers={"Location": location})


@router.get("/v1/tenants/{tenant}/backtests/{ident}", tags=["backtests"])
def show(request: Request, tenant: Tenant, ident: JobId, who: Acting) -> dict[str, Any]:
    job = request.app.state.service.backtests.get(tenant, ident)
    if job is None:
        raise ApiError(404, "no such backtest", errors=[Problem("id", ident, "use the id POST returned")])
    return job


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "body is not valid JSON", errors=[Problem("body", str(exc)[:200])]) from None
    if not isinstance(body, dict) or "spec" not in body or set(body) - {"spec", "options", "data"}:
        raise ApiError(422, 'the body must be {"spec": ..., "options": ..., "data": ...}', errors=[])
    return body


def _spec(doc: Any, tenant: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ApiError(422, "the spec must be a map", errors=[Problem("spec", f"got {type(doc).__name__}")])
    meta = doc.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta.setdefault("name", "backtest")
        if meta.setdefault("tenant", tenant) != tenant:
            raise ApiError(422, "the spec names another tenant than the URL", errors=[Problem("metadata.tenant", "")])
    return doc


def _data(data: Any) -> tuple[bytes | None, str | None]:
    if data is None:
        return None, None
    if not isinstance(data, dict) or data.get("format") not in FORMATS or not isinstance(data.get("base64"), str):
        raise ApiError(
            422, "invalid data", errors=[Problem("data", "needs format (ndjson, csv, parquet) and base64 content")]
        )
    try:
        raw = base64.b64decode(data["base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "invalid data", errors=[Problem("data.base64", "is not base64")]) from None
    return raw, FORMATS[data["format"]]
