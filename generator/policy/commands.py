"""`stratops policy test` and `stratops policy apply`: thin click wrappers over the engine.

User mistakes (missing file, bad YAML, bad CEL) print one clear line and exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .engine import PolicySet
from .kyverno_test import find_test_files, run_test_file
from .load import iter_yaml_files, load_policy_objects, read_yaml_documents
from .match import ObjectInfo
from .model import PolicyError, PolicyResult
from .report import apply_line, json_report, junit_report, summary, test_report

USAGE_ERROR = 2


def _fail_usage(exc: PolicyError) -> None:
    click.echo(f"Error: {exc}", err=True)
    raise SystemExit(USAGE_ERROR)


@click.group("policy")
def policy() -> None:
    """Evaluate Kyverno ValidatingPolicies offline."""


@policy.command("test")
@click.argument("dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of tables.")
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a JUnit XML report to this file (for CI).",
)
def test_cmd(dirs: tuple[Path, ...], as_json: bool, junit_path: Path | None) -> None:
    """Run every kyverno-test.yaml found under DIRS (default: current directory).

    Every test is run and reported, also after one fails or cannot run; the exit code
    (1) tells at the end whether any did."""
    try:
        files = find_test_files(list(dirs) or [Path(".")])
    except PolicyError as exc:
        _fail_usage(exc)
    outcomes = []
    for f in files:
        for outcome in run_test_file(f):
            outcomes.append(outcome)
            if not as_json:
                click.echo(test_report(outcome))
    passed = sum(o.passed for o in outcomes)
    failed = sum(o.failed for o in outcomes)
    if as_json:
        click.echo(json_report(outcomes))
    elif not files:
        click.echo("No test yamls available")
    else:
        click.echo(summary(passed, failed))
    if junit_path is not None:
        try:
            junit_path.write_text(junit_report(outcomes), encoding="utf-8")
        except OSError as exc:
            click.echo(f"Error: cannot write JUnit report {junit_path}: {exc.strerror or exc}", err=True)
            raise SystemExit(USAGE_ERROR) from None
    if failed:
        raise SystemExit(1)


def _load_manifests(paths: tuple[Path, ...]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for f, _explicit in iter_yaml_files(paths):
        for doc in read_yaml_documents(f):
            if doc.get("kind") == "List":
                objects.extend(doc.get("items") or [])
            elif doc.get("kind") and doc.get("apiVersion"):
                objects.append(doc)
    return objects


def _namespaces(objects: list[dict[str, Any]], values: tuple[Path, ...]) -> dict[str, dict[str, Any]]:
    """Namespace objects from the manifests themselves and from --namespaces files."""
    found = {}
    for obj in objects + _load_manifests(values):
        if obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1":
            found[(obj.get("metadata") or {}).get("name")] = obj
    return found


def apply_policies(
    policy_paths: tuple[Path, ...], manifest_paths: tuple[Path, ...], namespace_paths: tuple[Path, ...] = ()
) -> list[PolicyResult]:
    policies = PolicySet(load_policy_objects(policy_paths))
    objects = _load_manifests(manifest_paths)
    namespaces = _namespaces(objects, namespace_paths)
    results = []
    for obj in objects:
        ns = namespaces.get(ObjectInfo.of(obj).namespace)
        results.extend(policies.evaluate(obj, ns))
    return results


@policy.command("apply")
@click.option(
    "-p",
    "--policy",
    "policy_paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Policy file or directory (repeatable).",
)
@click.option(
    "-r",
    "--resource",
    "manifest_paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Manifest file or directory (repeatable).",
)
@click.option(
    "-n",
    "--namespaces",
    "namespace_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="YAML with Namespace objects for namespaceObject (repeatable).",
)
def apply_cmd(
    policy_paths: tuple[Path, ...], manifest_paths: tuple[Path, ...], namespace_paths: tuple[Path, ...]
) -> None:
    """Evaluate POLICIES on MANIFESTS; exit 1 if a Deny policy fails or errors."""
    try:
        results = apply_policies(policy_paths, manifest_paths, namespace_paths)
    except PolicyError as exc:
        _fail_usage(exc)
    for r in results:
        click.echo(apply_line(r))
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "error", "skip")}
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))
    if any(r.status in ("fail", "error") and "Deny" in r.actions for r in results):
        raise SystemExit(1)
