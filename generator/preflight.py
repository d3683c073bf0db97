"""Nothing reaches git that the cluster would reject.

values schema -> helm template (real helm) -> Kubernetes schemas -> policies,
on exactly the objects Flux would produce from the folder about to be committed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jsonschema
import yaml

from . import kubeschema
from .errors import Problem, UserError
from .helm import HelmMissing
from .helm_controller import merge
from .jsonschemas import Draft202012
from .manifests import Rendered, render_each


@dataclass(frozen=True)
class Finding:
    stage: str  # values | render | kubernetes | policy
    severity: str  # error | warning
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.stage}] {self.where}: {self.message}"


@dataclass
class Findings:
    """A list of findings, any of them an error or a warning; `ok` when none is an error."""

    findings: list = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Report(Findings):
    findings: list[Finding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    rendered: Rendered | None = None

    def raise_for_errors(self, subject: str) -> None:
        if self.errors:
            raise UserError(
                f"preflight refused {subject}", [Problem(f"[{f.stage}] {f.where}", f.message) for f in self.errors]
            )


class PolicyEvaluator(Protocol):
    def evaluate(
        self, obj: dict[str, Any], namespace: dict[str, Any] | None = None, operation: str = "CREATE"
    ) -> list[Any]: ...


@cache
def _values_validator(chart_dir: Path) -> tuple[dict[str, Any], jsonschema.Draft202012Validator]:
    defaults = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    schema = json.loads((chart_dir / "values.schema.json").read_text())
    return defaults, Draft202012(schema)


def check_folder(
    files: dict[str, bytes],
    origin: str,
    chart_root: Path,
    namespace: dict[str, Any] | None = None,
    policies: PolicyEvaluator | None = None,
) -> Report:
    """Run every stage on a folder; each problem becomes a finding, none is an exception.

    Every stage runs on what rendered: a HelmRelease helm cannot render still has its values checked, and
    the other objects their schemas and policies. What a stage could not look at is said in a finding.
    """
    report = Report()
    started = time.perf_counter()
    try:
        report.rendered = render_each(files, origin, chart_root)
    except HelmMissing:
        raise  # no finding of the folder: nothing could be checked
    except UserError as exc:
        report.findings += _render_findings(exc, origin)
        report.findings.append(_unchecked(origin, "values, Kubernetes schemas and policies", "kustomize build"))
        return report
    report.timings["render"] = time.perf_counter() - started
    for exc in report.rendered.problems:
        report.findings += _render_findings(exc, origin)
    for release in report.rendered.failed:
        what = "chart's objects against the Kubernetes schemas and policies"
        if release not in report.rendered.values:
            what = f"values and {what}"
        report.findings.append(_unchecked(f"{origin}: HelmRelease {release}", what, "render"))
    _timed(report, "values", lambda: _check_values(report.rendered, chart_root))
    _timed(report, "kubernetes", lambda: _check_schemas(report.rendered))
    if policies is not None:
        _timed(report, "policy", lambda: _check_policies(report.rendered, namespace, policies))
    return report


def _unchecked(where: str, what: str, stage: str) -> Finding:
    """A stage that could not run: said, not silently skipped (a warning: the failure itself is the error)."""
    return Finding("render", "warning", where, f"{what} not checked: they need the {stage} that failed")


def _render_findings(exc: UserError, origin: str) -> list[Finding]:
    return [Finding("render", "error", p.where, p.what) for p in exc.problems] or [
        Finding("render", "error", origin, exc.title)
    ]


def _timed(report: Report, stage: str, run) -> None:
    started = time.perf_counter()
    report.findings += run()
    report.timings[stage] = time.perf_counter() - started


def _check_values(rendered: Rendered, chart_root: Path) -> list[Finding]:
    defaults, validator = _values_validator((chart_root / "charts" / "strategy-executor").resolve())
    findings = []
    for release, values in rendered.values.items():
        for error in validator.iter_errors(merge(defaults, values)):
            path = ".".join(map(str, error.absolute_path)) or "(top level)"
            findings.append(Finding("values", "error", f"HelmRelease {release} values.{path}", error.message))
    return findings


def _check_schemas(rendered: Rendered) -> list[Finding]:
    objects = [o for o in rendered.all_objects() if kubeschema.has_schema(o)]
    return [Finding("kubernetes", "error", p.where, p.what) for o in objects for p in kubeschema.validate(o)]


def _check_policies(rendered: Rendered, namespace: dict[str, Any] | None, policies: PolicyEvaluator) -> list[Finding]:
    findings = []
    for obj in rendered.all_objects():  # a hand-added manifest is admitted like the chart's objects
        for result in policies.evaluate(obj, namespace):
            if result.status in ("fail", "error"):
                severity = "error" if "Deny" in result.actions or result.status == "error" else "warning"
                findings.append(
                    Finding("policy", severity, f"{result.policy} on {kubeschema.object_ref(obj)}", result.message)
                )
    return findings
