"""RFC 9457 problem details: every error the API returns, and how a UserError maps to a status code."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..actions import StaleBase
from ..errors import Problem, UserError

PROBLEM_TYPE = "https://stratops.io/problems/"

# UserError titles from generator.actions/fleet that mean something other than "invalid input" (422).
_STATUS_BY_TITLE = (
    ("is not deployed", 404),
    ("no review branch", 404),
    ("no tenant", 404),
    ("would exceed the quota", 409),
    ("cannot merge", 409),
    ("cannot approve", 403),
    ("is closed", 409),
    ("was closed", 409),
    ("unknown revision", 404),
    ("the fleet repo is busy", 409),
    ("moved during the commit", 409),
    ("keep changing", 409),
    ("belongs to another tenant", 409),
    ("spec is for another tenant", 403),
)


class ApiError(Exception):
    """A problem with an explicit status; `errors` are the where/what/fix items."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        errors: list[Problem] | None = None,
        headers: dict[str, str] | None = None,
        kind: str | None = None,
        extensions: dict[str, Any] | None = None,
    ):
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail
        self.errors = errors or []
        self.headers = headers or {}
        self.kind = kind or _slug(title)
        self.extensions = extensions or {}  # RFC 9457 extension members


def _slug(title: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split()[:6]) or "error"


def status_of(error: UserError) -> int:
    return next((code for text, code in _STATUS_BY_TITLE if text in error.title), 422)


_KIND = {403: "forbidden", 404: "not-found", 409: "conflict", 422: "invalid-input"}


def from_user_error(error: UserError) -> ApiError:
    if isinstance(error, StaleBase):
        return ApiError(
            412,
            error.title,
            error.render(),
            error.problems,
            kind="stale-base",
            extensions={
                "base": error.base,
                "current": error.current,
                "diff": error.diff_text,
                "objects": [{"key": c.key, "status": c.status, "text": c.text} for c in error.changes],
            },
        )
    status = status_of(error)
    return ApiError(status, error.title, error.render(), error.problems, kind=_KIND[status])


def problem_body(error: ApiError, instance: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + error.kind,
        "title": error.title,
        "status": error.status,
        "detail": error.detail or error.title,
    }
    if instance:
        body["instance"] = instance
    if error.errors:
        body["errors"] = [{"where": p.where, "what": p.what, "fix": p.fix} for p in error.errors]
    return body | error.extensions


def problem_response(error: ApiError, instance: str = "") -> JSONResponse:
    return JSONResponse(
        problem_body(error, instance),
        status_code=error.status,
        headers=error.headers,
        media_type="application/problem+json",
    )


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return problem_response(exc, request.url.path)


async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UserError)
    return problem_response(from_user_error(exc), request.url.path)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        Problem(".".join(str(p) for p in e.get("loc", ())), e.get("msg", "invalid"), "see the API schema at /docs")
        for e in exc.errors()
    ]
    return problem_response(ApiError(400, "invalid request", "the request does not match the API", problems))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    return problem_response(ApiError(exc.status_code, title, str(exc.detail), headers=exc.headers), request.url.path)


HANDLERS = {
    ApiError: _api_error,
    UserError: _user_error,
    RequestValidationError: _validation_error,
    StarletteHTTPException: _http_error,
}
