"""Tokens: hashed storage, the file format, the environment, `stratops serve token add`, and refusals."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.cli import main
from generator.errors import UserError
from generator.identity import actor, check_user
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


# --- users ------------------------------------------------------------------------------------


def test_a_token_file_written_before_users_still_works(tmp_path: Path):
    """A file of bare digests (as `token add` wrote before tokens named users) loads unchanged."""
    path = tmp_path / "tokens.yaml"
    old, admin = "sto_old-alice-token", "sto_old-admin-token"
    path.write_text(
        f"admin: {{tokens: ['{token_digest(admin)}']}}\n"
        f"tenants:\n  alice: {{tokens: ['{token_digest(old)}'], max_strategies: 3}}\n"
    )
    store = load_tokens(path, {})
    alice = store.authenticate(old)
    assert (alice.tenant, alice.user_name, alice.limits.max_strategies) == ("alice", "alice", 3)
    assert (alice.actor.name, alice.actor.email) == ("alice", "alice@alice.stratops")
    assert store.authenticate(admin).actor.email == "admin@stratops"
    # Adding a user's token to that file keeps the old entries as they were.
    ann = add_token(path, "alice", "ann")
    store = load_tokens(path, {})
    assert store.authenticate(old).user_name == "alice" and store.authenticate(ann).user_name == "ann"
    assert store.authenticate(ann).tenant == "alice" and store.authenticate(ann).limits.max_strategies == 3


def test_token_add_names_a_user(tmp_path: Path):
    path = tmp_path / "tokens.yaml"
    for args in (["ann@alice"], ["alice", "--user", "ann"]):
        result = CliRunner().invoke(main, ["serve", "token", "add", *args, "--tokens", str(path)])
        assert result.exit_code == 0, result.output
        who = load_tokens(path, {}).authenticate(result.output.strip())
        assert (who.tenant, who.user_name) == ("alice", "ann")
    root = CliRunner().invoke(main, ["serve", "token", "add", "--admin", "--user", "root", "--tokens", str(path)])
    assert load_tokens(path, {}).authenticate(root.output.strip()).actor.email == "root@stratops"
    env = load_tokens(None, {"STRATOPS_TENANT_TOKENS": "sam@alice=tok-sam,alice=tok-alice"})
    assert env.authenticate("tok-sam").user_name == "sam" and env.authenticate("tok-alice").user_name == "alice"


BAD_USERS = ["Ann", "ann bob", "ann\nAuthor: x", "a<b>", "ann@evil", "-ann", "ann.", "a..b", "x" * 65, "", "ann\x00"]


@pytest.mark.parametrize("user", BAD_USERS)
def test_user_names_that_could_reach_a_git_header_are_refused(tmp_path: Path, user: str):
    path = tmp_path / "tokens.yaml"
    result = CliRunner().invoke(main, ["serve", "token", "add", "alice", "--user", user, "--tokens", str(path)])
    assert result.exit_code == 2 and "user" in result.output, result.output
    assert not path.exists()
    digest = token_digest("t")
    path.write_text(json.dumps({"tenants": {"alice": {"tokens": [{"digest": digest, "user": user}]}}}))
    with pytest.raises(UserError):
        load_tokens(path, {})
    with pytest.raises(UserError):
        load_tokens(None, {"STRATOPS_TENANT_TOKENS": f"{user}@alice=tok"})


@settings(max_examples=400, deadline=None)
@given(st.text(min_size=0, max_size=80))
def test_fuzz_user_names(name: str):
    """Any text is a valid user name or a UserError; a valid one is one plain token in a git author line."""
    try:
        user = check_user(name)
    except UserError as exc:
        assert exc.problems[0].where == "user"
        return
    assert 1 <= len(user) <= 64 and user == name
    assert not set(user) & set("<>@ \t\r\n\x00,:") and user.isascii()
    identity = actor(user, "alice")
    line = f"{identity.name} <{identity.email}>"
    assert re.fullmatch(r"[a-z0-9._-]+ <[a-z0-9._-]+@alice\.stratops>", line)
