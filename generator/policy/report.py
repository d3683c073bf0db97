"""Text output shaped like the Kyverno CLI's, so people used to `kyverno test` read it at a glance."""

from __future__ import annotations

import json
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from .kyverno_test import Row, TestOutcome
from .model import PolicyResult

HEADERS = ("ID", "POLICY", "RULE", "RESOURCE", "RESULT", "REASON")


def table(rows: Sequence[Sequence[str]], headers: Sequence[str] = HEADERS) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    rule = "│" + "│".join("─" * (w + 2) for w in widths) + "│"

    def line(cells: Sequence[str]) -> str:
        return "│" + "│".join(f" {c:<{w}} " for c, w in zip(cells, widths, strict=True)) + "│"

    return "\n".join([rule, line(headers), rule, *(line(r) for r in rows), rule])


def test_rows(rows: Sequence[Row]) -> list[tuple[str, ...]]:
    return [(str(r.id), r.policy, r.rule, r.resource, "Pass" if r.ok else "Fail", r.reason) for r in rows]


def test_report(outcome: TestOutcome) -> str:
    head = f"Loading test  ( {outcome.path} ) ...\n"
    if outcome.error:
        return head + f"  Error: {outcome.error}\n"
    return head + "  Checking results ...\n\n" + table(test_rows(outcome.rows)) + "\n"


def json_report(outcomes: Sequence[TestOutcome]) -> str:
    """Machine-readable results: per test its rows (the columns of the table) or its error."""
    tests = []
    for o in outcomes:
        rows = [
            dict(zip(HEADERS, (r.id, r.policy, r.rule, r.resource, *row[4:]), strict=True))
            for r, row in zip(o.rows, test_rows(o.rows), strict=True)
        ]
        tests.append({"path": str(o.path), "name": o.name, "error": o.error or None, "results": rows})
    passed = sum(o.passed for o in outcomes)
    failed = sum(o.failed for o in outcomes)
    return json.dumps({"tests": tests, "passed": passed, "failed": failed}, indent=2)


def junit_report(outcomes: Sequence[TestOutcome]) -> str:
    """JUnit XML: one testsuite per Test, one testcase per row; a test that cannot run is an error."""
    root = ET.Element(
        "testsuites", tests=str(sum(len(o.rows) for o in outcomes)), failures=str(sum(o.failed for o in outcomes))
    )
    for o in outcomes:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=o.name,
            file=str(o.path),
            tests=str(len(o.rows)),
            failures=str(sum(not r.ok for r in o.rows)),
            errors=str(int(bool(o.error))),
        )
        if o.error:
            ET.SubElement(suite, "error", message=o.error)
        for r in o.rows:
            case = ET.SubElement(suite, "testcase", classname=r.policy, name=f"{r.resource} {r.rule}".strip())
            if not r.ok:
                ET.SubElement(case, "failure", message=r.reason)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def summary(passed: int, failed: int) -> str:
    return f"Test Summary: {passed} tests passed and {failed} tests failed"


def apply_line(result: PolicyResult) -> str:
    actions = ",".join(result.actions)
    text = f"{result.status.upper():5} {result.policy} {result.resource} [{actions}]"
    return text + (f": {result.message}" if result.message else "")
