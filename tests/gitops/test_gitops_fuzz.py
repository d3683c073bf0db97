"""Property tests: whatever a user types, tenant, review and check answer with findings or a UserError."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import actions, review, tenants
from generator.check import check_repo
from generator.errors import UserError
from generator.fleet import Fleet
from tests.support import AUTHOR, new_fleet, repo_fingerprint, write_spec

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return new_fleet(tmp_path_factory.mktemp("fuzz") / "fleet")


@_SETTINGS
@given(
    name=_TEXT,
    cpu=_TEXT | st.sampled_from(["1", "500m", "2.5"]),
    memory=_TEXT | st.just("1Gi"),
    count=st.integers(-5, 500),
)
def test_tenant_add_takes_any_input(fleet: Fleet, name: str, cpu: str, memory: str, count: int):
    before = repo_fingerprint(fleet.path)
    try:
        outcome = tenants.add_tenant(fleet, name, cpu, memory, count, AUTHOR)
    except UserError as exc:
        assert exc.problems and repo_fingerprint(fleet.path) == before
        return
    folder = fleet.read_folder(f"infrastructure/tenants/{name}")
    assert folder is not None and outcome.key == name and "/" not in name and ".." not in name


@_SETTINGS
@given(branch=_TEXT | st.from_regex(r"review/[a-z]{1,5}/[a-z]{1,5}/[0-9a-f]{12}", fullmatch=True))
def test_review_branch_names_are_validated(fleet: Fleet, branch: str):
    before = repo_fingerprint(fleet.path)
    for call in (lambda: review.show(fleet, branch), lambda: review.merge(fleet, branch, AUTHOR)):
        with pytest.raises(UserError):
            call()
    assert repo_fingerprint(fleet.path) == before


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_TEXT | st.sampled_from(["kind: [", "a: b\na: c\n", "- 1\n- 2\n", "apiVersion: v1\n", "\ud7ff: x"]))
def test_check_names_any_broken_helmrelease(tmp_path_factory: pytest.TempPathFactory, text: str):
    fleet = new_fleet(tmp_path_factory.mktemp("fuzzcheck") / "fleet")
    tenants.add_tenant(fleet, "alice", "2", "4Gi", 5, AUTHOR)
    actions.deploy(fleet, actions.load_strategy(fleet, write_spec(Path(fleet.path.parent, "s"))), AUTHOR)
    assert check_repo(fleet).ok
    (fleet.path / "strategies/alice/momentum-btc/helmrelease.yaml").write_text(text)
    report = check_repo(fleet)
    assert not report.ok
    assert any(f.file.startswith("strategies/alice/momentum-btc") for f in report.errors), report.errors
