"""The Markdown summary of a proposed change: spec, code and rendered-object diffs, preflight results."""

from __future__ import annotations

from typing import Any

from .diff import diff_objects, text_diff
from .preflight import Report
from .render import SPEC_FILE


def summary(
    key: str,
    old: dict[str, bytes] | None,
    new: dict[str, bytes] | None,
    old_objects: list[dict[str, Any]],
    report: Report | None,
) -> str:
    old, new = old or {}, new or {}
    parts = [f"# Review: {key}", "", _verdict(report), ""]
    parts += _section("Spec", _file_diff(old, new, [SPEC_FILE]))
    code_files = sorted(n for n in old.keys() | new.keys() if n.endswith(".py"))
    parts += _section("Code", _file_diff(old, new, code_files))
    new_objects = report.rendered.all_objects() if report and report.rendered else []
    object_text = "".join(d.text for d in diff_objects(old_objects, new_objects))
    parts += _section("Rendered Kubernetes objects", object_text)
    parts += _findings(report)
    return "\n".join(parts).rstrip() + "\n"


def _verdict(report: Report | None) -> str:
    if report is None:
        return "Removes the strategy."
    if report.errors:
        return f"**Preflight: refused** ({len(report.errors)} errors)"
    warn = f", {len(report.warnings)} warnings" if report.warnings else ""
    return f"**Preflight: passed**{warn}"


def _file_diff(old: dict[str, bytes], new: dict[str, bytes], names: list[str]) -> str:
    return "".join(
        text_diff(old.get(n, b"").decode(errors="replace"), new.get(n, b"").decode(errors="replace"), n) for n in names
    )


def _section(title: str, diff_text: str) -> list[str]:
    body = f"```diff\n{diff_text}```" if diff_text else "_No change._"
    return [f"## {title}", "", body, ""]


def _findings(report: Report | None) -> list[str]:
    if report is None:
        return []
    lines = ["## Preflight", ""]
    stages = ", ".join(f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in report.timings.items())
    lines.append(f"Stages run: {stages}." if stages else "No stage ran.")
    lines += [f"- {'❌' if f.severity == 'error' else '⚠️'} {f}" for f in report.findings]
    return lines + [""]
