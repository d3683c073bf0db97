"""The `stratops` CLI: every bad input gets a clear message, exit code 2, and the repo untouched."""

from __future__ import annotations

import os
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
