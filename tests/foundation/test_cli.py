"""The `stratops` CLI: every bad input gets a clear message, exit code 2, and the repo untouched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.fleet import Fleet
from tests.support import MOMENTUM, repo_fingerprint, write_spec


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_deploy_list_history_stop_roundtrip(fleet: Fleet, spec_dir: Path):
    spec = write_spec(spec_dir)
    code, out = run("deploy", str(spec), "--repo", str(fleet.path), "--author", "Bo <bo@example.com>")
    assert code == 0 and "deploy alice/momentum-btc: committed" in out
    code, out = run("list", "--repo", str(fleet.path))
    assert "alice/momentum-btc\tMomentum\tcpu=250m memory=256Mi" in out
    code, out = run("history", "alice/momentum-btc", "--repo", str(fleet.path))
    assert "Bo" in out and "deploy alice/momentum-btc" in out
    code, out = run("stop", "alice/momentum-btc", "--repo", str(fleet.path))
    assert code == 0 and "stop alice/momentum-btc: committed" in out


def test_validate_prints_every_problem(spec_dir: Path):
    spec = write_spec(spec_dir, name="Bad_Name", extra="  colour: red\n")
    code, out = run("validate", str(spec))
    assert code == 2
    assert "metadata.name: 'Bad_Name' is not valid" in out
    assert "spec: unknown field(s) 'colour'" in out


BAD_SPECS = {
    "invalid YAML": lambda d: _raw(d, "apiVersion: stratops.io/v1\nkind: [\n"),
    "unknown field": lambda d: write_spec(d, extra="  colour: red\n"),
    "missing class": lambda d: write_spec(d, cls="Nope"),
    "syntax error": lambda d: write_spec(d, code="class Momentum(:\n"),
    "traversal name": lambda d: write_spec(d, name="../x"),
    "underscore name": lambda d: write_spec(d, name="A_B"),
    "64-char name": lambda d: write_spec(d, name="a" * 64),
    "over the cap": lambda d: (
        write_spec(d, extra="").write_text(write_spec(d).read_text().replace("cpu: 250m", "cpu: 16"))
        or d / "momentum-btc.yaml"
    ),
    "unparsable quantity": lambda d: (
        write_spec(d).write_text(write_spec(d).read_text().replace("memory: 256Mi", "memory: 1.5.3Gi"))
        or d / "momentum-btc.yaml"
    ),
    "code over 512 KiB": lambda d: write_spec(d, code=MOMENTUM + "#" * 600_000),
    "missing file": lambda d: d / "nope.yaml",
}


def _raw(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s.yaml").write_text(text)
    return folder / "s.yaml"


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_input_exits_2_and_leaves_the_repo_untouched(case: str, fleet: Fleet, spec_dir: Path):
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = BAD_SPECS[case](spec_dir)
    before = repo_fingerprint(fleet.path)
    code, out = run("deploy", str(spec), "--repo", str(fleet.path))
    assert code == 2, out
    assert out.startswith("error: ") and "Traceback" not in out
    assert repo_fingerprint(fleet.path) == before


def test_spec_for_another_tenant_exits_2(fleet: Fleet, spec_dir: Path):
    before = repo_fingerprint(fleet.path)
    code, out = run(
        "deploy", str(write_spec(spec_dir, tenant="bob")), "--repo", str(fleet.path), "--as-tenant", "alice"
    )
    assert code == 2 and "spec is for another tenant" in out
    assert repo_fingerprint(fleet.path) == before


def test_non_fleet_directory_exits_2(tmp_path: Path, spec_dir: Path):
    code, out = run("deploy", str(write_spec(spec_dir)), "--repo", str(tmp_path))
    assert code == 2 and "is not a fleet repo" in out and "stratops init" in out


def test_console_script_runs_as_a_real_process(fleet: Fleet, spec_dir: Path):
    env = {**os.environ, "STRATOPS_FLEET": str(fleet.path), "STRATOPS_AUTHOR": "Cy <cy@example.com>"}
    result = subprocess.run(
        [sys.executable, "-m", "generator.cli", "deploy", str(write_spec(spec_dir))],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert fleet.repo.commit("main").author.name == "Cy"


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("tenant: alice}", "tenant: 'alice\n\n'}", "metadata.tenant"),
        ("params: {window: 20}", "params: {a: &a [1, 2], b: *a}", "alias *a"),
        ("params: {window: 20}", "params: {deep: " + "[" * 80 + "]" * 80 + "}", "nested more than 64 levels"),
    ],
    ids=["tenant-newline", "alias", "deep"],
)
def test_hostile_spec_files_exit_2(fleet: Fleet, spec_dir: Path, old: str, new: str, where: str):
    spec = write_spec(spec_dir)
    spec.write_text(spec.read_text().replace(old, new))
    before = repo_fingerprint(fleet.path)
    for command in (["deploy", str(spec), "--repo", str(fleet.path)], ["validate", str(spec)]):
        code, out = run(*command)
        assert code == 2 and where in out and "Traceback" not in out, out
    assert repo_fingerprint(fleet.path) == before


def test_history_of_an_unknown_strategy_says_not_deployed(fleet: Fleet):
    code, out = run("history", "alice/nothing-here", "--repo", str(fleet.path))
    assert code == 2 and "alice/nothing-here is not deployed" in out, out


def test_init_takes_an_empty_git_init_folder(tmp_path: Path, spec_dir: Path):
    folder = tmp_path / "fresh"
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(folder)], check=True)
    code, out = run("deploy", str(write_spec(spec_dir)), "--repo", str(folder))
    assert code == 2 and f"stratops init {folder}" in out  # the advice ...
    code, out = run("init", str(folder), "--author", "A <a@example.com>")
    assert code == 0, out  # ... works
    fleet = Fleet(folder)
    assert fleet.repo.active_branch.name == "main" and fleet.head()
    code, out = run("init", str(folder), "--author", "A <a@example.com>")
    assert code == 2 and "exists and is not empty" in out  # a fleet is never overwritten


def test_a_stratops_helm_that_does_not_exist_is_an_error_naming_it(
    fleet: Fleet, spec_dir: Path, tmp_path: Path, monkeypatch
):
    from generator import helm

    monkeypatch.setenv("STRATOPS_HELM", "/nonexistent/helm")
    code, out = run("deploy", str(write_spec(spec_dir)), "--repo", str(fleet.path))
    assert code == 2 and "STRATOPS_HELM" in out and "/nonexistent/helm" in out, out
    # no helm anywhere: PATH holds git only, and no .tools/helm
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git"))
    monkeypatch.delenv("STRATOPS_HELM")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(helm, "_LOCAL_HELM", tmp_path / ".tools" / "helm")
    helm._helm_executable.cache_clear()
    try:
        code, out = run("deploy", str(write_spec(spec_dir)), "--repo", str(fleet.path))
    finally:
        helm._helm_executable.cache_clear()
    assert code == 2 and "no helm binary found" in out and "make tools" in out, out


def test_signals_show_when_and_sensible_numbers(fleet: Fleet):
    runtime = fleet.path / ".git" / "stratops-runtime"
    runtime.mkdir(parents=True)
    record = {
        "tenant": "alice",
        "strategy": "momentum-btc",
        "side": "buy",
        "symbol": "BTC-USD",
        "strength": 0.12345678901234567,
        "size": 0.30000000000000004,
        "reason": "cross",
        "ts": 1_700_000_000_000_000_000,
        "received_ts": 1_764_657_000_123_456_789,
    }
    (runtime / "signals.ndjson").write_text(json.dumps(record) + "\n")
    code, out = run("signals", str(fleet.path))
    assert code == 0, out
    assert out.strip() == "2025-12-02 06:30:00.123Z  alice/momentum-btc  BUY  BTC-USD  strength=0.1235 size=0.3 cross"


def test_deploy_with_a_stale_base_is_refused_with_the_diff(fleet: Fleet, spec_dir: Path):
    spec = write_spec(spec_dir)
    repo = ["--repo", str(fleet.path), "--author", "A <a@example.com>"]
    assert run("deploy", str(spec), *repo)[0] == 0
    first = fleet.history("strategies/alice/momentum-btc")[0].sha
    spec.write_text(spec.read_text().replace("window: 20", "window: 30"))
    assert run("deploy", str(spec), "--base", first[:12], *repo)[0] == 0  # the edit began at the latest
    second = fleet.history("strategies/alice/momentum-btc")[0].sha
    other = write_spec(spec_dir / "other", name="other")
    assert run("deploy", str(other), "--base", first, *repo)[0] == 0  # a new strategy: nothing to be stale
    # a second tab still on `first`: its deploy would silently undo window 30
    spec.write_text(spec.read_text().replace("window: 30", "window: 40"))
    before = repo_fingerprint(fleet.path)
    code, out = run("deploy", str(spec), "--base", first, *repo)
    assert code == 4, out
    assert f"alice/momentum-btc changed since revision {first[:12]}" in out and second[:12] in out
    assert "window" in out and "30" in out  # the diff of what changed meanwhile
    assert repo_fingerprint(fleet.path) == before
    # another strategy's deploy does not make the latest base stale
    assert run("deploy", str(spec), "--base", second, *repo)[0] == 0
    assert "window: 40" in fleet.read_file("strategies/alice/momentum-btc/strategy.yaml").decode()
    assert run("deploy", str(spec), "--base", "nope", *repo)[0] == 2
