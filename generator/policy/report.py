"""Text output shaped like the Kyverno CLI's, so people used to `kyverno test` read it at a glance."""

from __future__ import annotations

from collections.abc import Sequence

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
    head = f"Loading test  ( {outcome.path} ) ...\n  Checking results ...\n"
    return head + "\n" + table(test_rows(outcome.rows)) + "\n"


def summary(passed: int, failed: int) -> str:
    return f"Test Summary: {passed} tests passed and {failed} tests failed"


def apply_line(result: PolicyResult) -> str:
    actions = ",".join(result.actions)
    text = f"{result.status.upper():5} {result.policy} {result.resource} [{actions}]"
    return text + (f": {result.message}" if result.message else "")
