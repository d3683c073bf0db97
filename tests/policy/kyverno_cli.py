"""The real kyverno CLI as the oracle of the differential tests (built by `make components`).

Kyverno's own CLI test suite is read from the kyverno module source in the Go module cache (the
build downloads it), at the version tools/go/kyverno/go.mod pins; nothing of it is copied here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "tools" / "go" / "kyverno"
KYVERNO = Path(os.environ.get("STRATOPS_KYVERNO") or ROOT / ".tools" / "bin" / "kyverno")
VP_KINDS = {"ValidatingPolicy", "NamespacedValidatingPolicy"}

Row = tuple[str, str, str, str]  # (policy, rule, resource, result)


def kyverno() -> Path:
    """The kyverno binary; a missing one fails the test (it is a real part, built by `make components`)."""
    if not os.access(KYVERNO, os.X_OK):
        pytest.fail(
            f"kyverno CLI not found at {KYVERNO}: run `make components COMPONENTS=kyverno` "
            "(the differential tests need it)"
        )
    return KYVERNO


def pinned_version() -> str:
    text = (WRAPPER / "go.mod").read_text()
    match = re.search(r"^\s*github\.com/kyverno/kyverno (v\S+)", text, re.M)
    assert match, "tools/go/kyverno/go.mod does not pin github.com/kyverno/kyverno"
    return match.group(1)


def kyverno_source() -> Path:
    """kyverno's module source in the Go module cache; missing fails (the build downloads it)."""
    cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    src = Path(cache) / "github.com" / "kyverno" / f"kyverno@{pinned_version()}"
    if not (src / "test" / "cli").is_dir():
        pytest.fail(
            f"{src}/test/cli not found: run `make components COMPONENTS=kyverno` (it downloads the kyverno module)"
        )
    return src


def _kinds(files: Iterable[Path]) -> set[str]:
    kinds = set()
    for f in files:
        if f.is_file():
            for doc in yaml.safe_load_all(f.read_text()):
                if isinstance(doc, dict):
                    kinds.add(doc.get("kind"))
    return kinds


def vp_test_files(src: Path) -> list[Path]:
    """Every kyverno-test.yaml of Kyverno's CLI suite whose policies include a ValidatingPolicy."""
    found = []
    for test in sorted((src / "test" / "cli").rglob("kyverno-test.yaml")):
        policies: list[str] = []
        for doc in yaml.safe_load_all(test.read_text()):
            if isinstance(doc, dict):
                policies += [p for p in doc.get("policies") or [] if isinstance(p, str)]
        if _kinds(test.parent / p for p in policies) & VP_KINDS:
            found.append(test)
    return found


def vp_policy_names(test: Path) -> set[str]:
    names = set()
    for doc in yaml.safe_load_all(test.read_text()):
        for p in (doc or {}).get("policies") or []:
            f = test.parent / p
            for pol in yaml.safe_load_all(f.read_text()) if f.is_file() else []:
                if isinstance(pol, dict) and pol.get("kind") in VP_KINDS:
                    names.add(pol["metadata"]["name"])
    return names


_LOADING = re.compile(r"^Loading test\s+\(\s*(.*?)\s*\)\s*\.\.\.", re.M)


def kyverno_test(test_files: list[Path]) -> dict[Path, list[Row]]:
    """Run `kyverno test -o json` once over the folders of `test_files`; rows per test file.

    A test file kyverno could not run has no entry (its error is in the output, and the caller's
    comparison then shows the difference)."""
    folders = sorted({str(t.parent) for t in test_files})
    proc = subprocess.run(
        [str(kyverno()), "test", *folders, "-o", "json", "--remove-color"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    out: dict[Path, list[Row]] = {}
    text = proc.stdout
    marks = list(_LOADING.finditer(text))
    for i, m in enumerate(marks):
        chunk = text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        arrays = re.findall(r"^\[\n.*?^\]\n", chunk, re.M | re.S) or re.findall(r"^\[\]$", chunk, re.M)
        if not arrays:
            continue
        rows = [r for a in arrays for r in json.loads(a)]
        out.setdefault(Path(m.group(1)).resolve(), []).extend(
            (r["POLICY"], r["RULE"], r["RESOURCE"], r["RESULT"]) for r in rows
        )
    return out


def run_apply(policy: Path, resources: Path, values: Path | None = None) -> str:
    """`kyverno apply POLICY --resource RESOURCES [--values-file V] -o json` (the policy report, JSON)."""
    cmd = [str(kyverno()), "apply", str(policy), "--resource", str(resources), "--policy-report", "-o", "json"]
    if values is not None:
        cmd += ["--values-file", str(values)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return proc.stdout + proc.stderr
