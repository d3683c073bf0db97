"""The offline engine against the real kyverno CLI (built by `make components`).

- every `kyverno test` folder of policies/ and of tests/policy/fixtures/differential/ (disagreements
  found earlier, kept as regressions), and every ValidatingPolicy folder of Kyverno's own CLI test
  suite (read from the kyverno module source in the Go module cache): `kyverno test` and
  `stratops policy test` must produce the same (policy, rule, resource, result) rows;
- generated workloads and CEL programs (hypothesis, a fixed seed so CI is reproducible; `make bench
  AREAS=policy` runs tens of thousands with fresh seeds): `kyverno apply` and the engine must agree.
"""

from __future__ import annotations

from pathlib import Path

import differential
import kyverno_cli

from generator.policy.kyverno_test import find_test_files, run_test_file

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = Path(__file__).parent / "fixtures" / "differential"
# Kyverno's CLI folders using test features the engine does not support (non-Kubernetes payloads,
# mocked global context): counted as disagreements in docs/benchmarks.md, and each must be an
# explicit error naming the feature, never a silent pass.
UNSUPPORTED = ("envoyPayloads", "httpPayloads", "jsonPayloads", "globalContextEntries")


def engine_rows(test_file: Path, only: set[str] | None = None) -> list[kyverno_cli.Row]:
    rows = []
    for outcome in run_test_file(test_file):
        assert not outcome.error, f"{test_file}: {outcome.error}"
        rows += [(r.policy, r.rule, r.resource, "Pass" if r.ok else "Fail") for r in outcome.rows]
    return [r for r in rows if only is None or r[0] in only]


def _compare(test_files: list[Path], only_vp: bool) -> list[str]:
    want = kyverno_cli.kyverno_test(test_files)
    problems = []
    for test in test_files:
        names = kyverno_cli.vp_policy_names(test) if only_vp else None
        # as sets: for some resources Kyverno's row count depends on Go's map order (an extra
        # `Excluded` pass row), see kyverno_test._compare
        expected = sorted({r for r in want.get(test.resolve(), []) if names is None or r[0] in names})
        if not expected:
            problems.append(f"{test}: kyverno test produced no rows (see its output)")
            continue
        try:
            got = sorted(set(engine_rows(test, names)))
        except AssertionError as exc:
            problems.append(str(exc))
            continue
        if got != expected:
            problems.append(f"{test}:\n  kyverno: {expected}\n  engine:  {got}")
    return problems


def test_policies_and_regressions_agree_with_kyverno_test():
    files = find_test_files([ROOT / "policies", REGRESSIONS])
    assert len(files) >= 12
    problems = _compare(files, only_vp=False)
    assert not problems, "\n".join(problems)


def test_kyverno_cli_validating_policy_suite_agrees():
    src = kyverno_cli.kyverno_source()
    all_files = kyverno_cli.vp_test_files(src)
    unsupported = [f for f in all_files if any(f"{k}:" in f.read_text() for k in UNSUPPORTED)]
    files = [f for f in all_files if f not in unsupported]
    assert len(files) >= 15, "Kyverno's CLI suite has fewer ValidatingPolicy folders than expected"
    problems = _compare(files, only_vp=True)
    assert not problems, "\n".join(problems)
    for f in unsupported:
        errors = [o.error for o in run_test_file(f)]
        assert errors and all(any(k in e for k in UNSUPPORTED) for e in errors), (f, errors)


def test_generated_workloads_agree_with_kyverno_apply(tmp_path: Path):
    """12 programs x 36 objects (Pods, their Deployments and CronJobs) = 432 cases, one kyverno process."""
    expressions, objects = differential.draw_cases(12)
    disagreements = differential.compare(kyverno_cli.kyverno(), tmp_path, expressions, objects)
    assert not disagreements, "\n".join(disagreements[:20])


def test_cel_corpus_agrees_with_kyverno_apply(tmp_path: Path):
    """Every expression of the CEL corpus (libraries, compat rewrites) gives the same result under
    `kyverno apply` as under the engine, on a Pod with nulls and integers."""
    import yaml
    from cel_corpus import EXPRESSIONS, POD

    policies, resources = differential.write_batch(tmp_path, EXPRESSIONS, [POD])
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "alice"}}
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump({"apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Values", "namespaces": [namespace]})
    )
    want = differential.kyverno_results(kyverno_cli.kyverno(), policies, resources, values)
    got = differential.engine_results(policies, resources)
    differ = [
        f"{key[0]} ({EXPRESSIONS[int(key[0][1:])]}): kyverno {want.get(key)}, engine {got.get(key)}"
        for key in sorted(set(want) | set(got))
        if want.get(key) != got.get(key)
    ]
    assert not differ, "\n".join(differ)
    assert set(want.values()) == {"pass"}, want
