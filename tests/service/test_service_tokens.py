"""Tokens: hashed storage, the file format, the environment, `stratops serve token add`, and refusals."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.errors import UserError
from generator.service.tokens import Limits, add_token, load_tokens, token_digest


def test_token_add_stores_only_a_digest(tmp_path: Path):
    path = tmp_path / "tokens.yaml"
    result = CliRunner().invoke(main, ["serve", "token", "add", "alice", "--tokens", str(path)])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("sto_") and len(token) > 40
    text = path.read_text()
    assert token not in text and token_digest(token) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    admin = CliRunner().invoke(main, ["serve", "token", "add", "--admin", "--tokens", str(path)]).output.strip()
    store = load_tokens(path, {})
    assert store.authenticate(token).tenant == "alice" and not store.authenticate(token).admin
    assert store.authenticate(admin).admin
    assert store.authenticate(token + "x") is None and store.authenticate("") is None


def test_file_limits_and_env_tokens(tmp_path: Path):
    path = tmp_path / "tokens.json"
    token = add_token(path, "alice")
    doc = json.loads(path.read_text())
    doc["defaults"] = {"rate_per_s": 5, "burst": 10}
    doc["tenants"]["alice"] |= {"max_strategies": 3, "max_cpu": "1", "max_memory": "512Mi"}
    path.write_text(json.dumps(doc))
    store = load_tokens(path, {"STRATOPS_TENANT_TOKENS": "bob=plain-bob", "STRATOPS_ADMIN_TOKEN": "root"})
    alice = store.authenticate(token)
    assert alice.limits == Limits(max_strategies=3, rate_per_s=5, burst=10, max_cpu="1", max_memory="512Mi")
    assert store.authenticate("plain-bob").tenant == "bob" and store.authenticate("plain-bob").limits.burst == 10
    assert store.authenticate("root").admin


@pytest.mark.parametrize(
    "text",
    [
        "tenants: [alice]",
        "tenants: {alice: {tokens: [plain-token]}}",
        "tenants: {Alice: {tokens: []}}",
        "tenants: {'../x': {tokens: []}}",
        "defaults: {rate_per_s: -1}",
        "defaults: {burst: true}",
        "tenants: {alice: {tokens: [], max_cpu: [1]}}",
        "admin: {tokens: sha256:00}",
        "- a list",
        "a: [",
    ],
)
def test_bad_tokens_files_are_user_errors(tmp_path: Path, text: str):
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        load_tokens(path, {})
    assert caught.value.problems


def test_bad_env_and_missing_file(tmp_path: Path):
    with pytest.raises(UserError):
        load_tokens(None, {"STRATOPS_TENANT_TOKENS": "alice"})
    with pytest.raises(UserError):
        load_tokens(tmp_path / "missing.yaml", {})


def test_serve_refuses_to_start_without_tokens(fleet, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("STRATOPS_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("STRATOPS_TENANT_TOKENS", raising=False)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = CliRunner().invoke(main, ["serve", "--repo", str(fleet.path), "--tokens", str(empty)])
    assert result.exit_code == 2 and "no API tokens configured" in result.output
    bad = CliRunner().invoke(main, ["serve", "token", "add", "Not_A_Label", "--tokens", str(empty)])
    assert bad.exit_code == 2 and "DNS-1123" in bad.output
    neither = CliRunner().invoke(main, ["serve", "token", "add", "--tokens", str(empty)])
    assert neither.exit_code == 2
