"""Request bodies -> validated strategies, and preflight findings for the check endpoint."""

from __future__ import annotations

import re
from typing import Any

from .. import actions
from ..errors import Problem, UserError
from ..fleet import Fleet
from ..render import folder_files, strategy_dir
from ..spec import Strategy, strategy_from_document
from ..yamlio import load_json, load_one
from .limits import effective_caps
from .problems import ApiError
from .tokens import Limits

_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
_CODE_POSITION = re.compile(r"^(spec\.code\.[a-z]+)(?: \([^)]*\))?:(\d+):(\d+)$")
ORIGIN = "spec"


def spec_document(body: bytes, content_type: str, tenant: str, name: str) -> dict[str, Any]:
    """`{"spec": {...}}` as JSON, or the Strategy document as YAML; metadata defaults to the path."""
    media = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "body is not UTF-8", errors=[Problem("body", f"byte {exc.start}", "send UTF-8")]) from None
    if media in _YAML_TYPES:
        doc = load_one(text, ORIGIN, aliases=False)
    elif media in ("application/json", ""):
        doc = _json_spec(text)
    else:
        raise ApiError(
            415 if media else 400,
            "unsupported media type",
            errors=[Problem("Content-Type", repr(media), 'send application/json {"spec": ...} or application/yaml')],
        )
    if not isinstance(doc, dict):
        raise ApiError(422, "the spec must be a map", errors=[Problem(ORIGIN, f"got {type(doc).__name__}")])
    meta = doc.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta.setdefault("name", name)
        meta.setdefault("tenant", tenant)
        wrong = [(k, meta[k], want) for k, want in (("name", name), ("tenant", tenant)) if meta[k] != want]
        if wrong:
            raise ApiError(
                422,
                "the spec names another strategy than the URL",
                errors=[
                    Problem(f"metadata.{k}", f"{got!r}, the URL says {want!r}", "make them equal")
                    for k, got, want in wrong
                ],
            )
    return doc


def _json_spec(text: str) -> Any:
    try:
        body = load_json(text, "body")
    except UserError as exc:
        raise ApiError(400, exc.title, errors=exc.problems) from None
    if not isinstance(body, dict) or set(body) != {"spec"}:
        raise ApiError(
            422, 'the body must be {"spec": <Strategy document>}', errors=[Problem("body", "has other fields")]
        )
    return body["spec"]


def strategy_of(fleet: Fleet, doc: dict[str, Any], tenant: str, limits: Limits) -> Strategy:
    return strategy_from_document(doc, ORIGIN, None, effective_caps(fleet, tenant, limits))


def check(fleet: Fleet, doc_or_error: dict[str, Any] | UserError, tenant: str, limits: Limits) -> dict[str, Any]:
    """The full preflight without a commit: spec errors, then render, schemas and policies."""
    try:
        if isinstance(doc_or_error, UserError):
            raise doc_or_error
        strategy = strategy_of(fleet, doc_or_error, tenant, limits)
    except UserError as exc:
        findings = [_spec_finding(p) for p in exc.problems] or [
            {"stage": "spec", "severity": "error", "where": ORIGIN, "message": exc.title}
        ]
        return {"ok": False, "findings": findings}
    folder = strategy_dir(strategy.tenant, strategy.name)
    report = actions.preflight(fleet, folder, folder_files(strategy), strategy.tenant)
    findings = [
        {"stage": f.stage, "severity": f.severity, "where": f.where, "message": f.message} for f in report.findings
    ]
    return {
        "ok": report.ok,
        "findings": findings,
        "timings_ms": {k: v * 1000 for k, v in report.timings.items()},
        "parameters": strategy.parameters,  # declarations (spec + class, read by ast): the console's form
        "params": strategy.params,
    }


def _spec_finding(problem: Problem) -> dict[str, Any]:
    finding: dict[str, Any] = {
        "stage": "spec",
        "severity": "error",
        "where": problem.where,
        "message": f"{problem.what} ({problem.fix})" if problem.fix else problem.what,
    }
    position = _CODE_POSITION.match(problem.where)
    if position:
        finding["field"], finding["line"], finding["column"] = position[1], int(position[2]), int(position[3])
    elif problem.where.startswith(f"{ORIGIN}:"):  # a YAML syntax error in the spec text
        line = problem.where.split(":")[1]
        finding["line"] = int(line) if line.isdigit() else None
    elif problem.where != "(top level)":
        finding["field"] = problem.where
    return finding
