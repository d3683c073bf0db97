"""Every policy's kyverno-test folder, and upstream Kyverno folders, pass as `kyverno test` would."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from policy_helpers import POLICIES, UPSTREAM

from generator.policy.commands import policy
from generator.policy.kyverno_test import find_test_files, run_test_file

POLICY_DIRS = sorted(p.parent for p in POLICIES.glob("*/*.yaml"))


def test_every_policy_has_a_fixture_folder():
    assert len(POLICY_DIRS) >= 12
    for d in POLICY_DIRS:
        test = d / ".kyverno-test" / "kyverno-test.yaml"
        assert test.is_file(), f"{d.name} has no .kyverno-test/kyverno-test.yaml"
        text = test.read_text()
        for kind in ("Pod", "Deployment", "CronJob"):
            assert f"kind: {kind}" in text, f"{d.name}: no {kind} rows"


@pytest.mark.parametrize("folder", POLICY_DIRS, ids=lambda p: p.name)
def test_policy_folder_passes_via_engine(folder: Path):
    (outcome,) = run_test_file(folder / ".kyverno-test" / "kyverno-test.yaml")
    assert not outcome.error, outcome.error
    assert outcome.rows, "no result rows"
    failures = [r for r in outcome.rows if not r.ok]
    assert not failures, failures
    reasons = {r.reason for r in outcome.rows}
    assert reasons <= {"Ok", "Excluded"}


def test_all_policies_pass_via_cli():
    result = CliRunner().invoke(policy, ["test", str(POLICIES)])
    assert result.exit_code == 0, result.output
    assert "│ ID │ POLICY" in result.output
    assert "0 tests failed" in result.output


@pytest.mark.parametrize("folder", sorted(p for p in UPSTREAM.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_upstream_folder_runs_unchanged(folder: Path):
    result = CliRunner().invoke(policy, ["test", str(folder)])
    assert result.exit_code == 0, result.output
    assert "Test Summary:" in result.output and " 0 tests failed" in result.output


def test_mismatch_exits_nonzero(tmp_path: Path):
    src = UPSTREAM / "disallow-host-namespaces"
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "p.yaml").write_text((src / "disallow-host-namespaces.yaml").read_text())
    (tmp_path / "t" / "resource.yaml").write_text((src / ".kyverno-test" / "resource.yaml").read_text())
    (tmp_path / "t" / "kyverno-test.yaml").write_text(
        "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\nmetadata: {name: t}\npolicies: [p.yaml]\n"
        "resources: [resource.yaml]\nresults:\n"
        "- {policy: disallow-host-namespaces, resources: [badpod01], result: pass}\n"
        "- {policy: disallow-host-namespaces, resources: [nosuchpod], result: pass}\n"
    )
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert result.exit_code == 1
    assert "Want pass, got fail" in result.output
    assert "Not found" in result.output
    assert "Test Summary: 0 tests passed and 2 tests failed" in result.output


def test_no_test_files_is_success(tmp_path: Path):
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert result.exit_code == 0
    assert find_test_files([tmp_path]) == []
