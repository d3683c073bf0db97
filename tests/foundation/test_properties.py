"""Property tests: every accepted spec renders to valid, policy-clean objects; every rejected one changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import actions, kubeschema
from generator.errors import UserError
from generator.fleet import Fleet
from generator.render import folder_files
from generator.spec import strategy_from_document
from generator.tenants import default_namespace, fleet_policies
from tests.support import AUTHOR, MOMENTUM, new_fleet, repo_fingerprint

label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
symbol = st.from_regex(r"[A-Z0-9][A-Z0-9-]{0,8}", fullmatch=True)
subscription = st.one_of(
    st.sampled_from(["trades", "quotes", "bars"]),
    st.builds(lambda k, s: f"{k}.{s}", st.sampled_from(["trades", "quotes", "bars"]), symbol),
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=30),
)
params = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.recursive(
        json_scalar,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=8), c, max_size=3),
        max_leaves=6,
    ),
    max_size=5,
)
cpu = st.sampled_from(["10m", "100m", "250m", "1", "1500m", "2"])
memory = st.sampled_from(["64Mi", "128Mi", "256Mi", "1Gi", "4Gi"])
comment = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\r"), max_size=40)


@st.composite
def valid_documents(draw) -> dict:
    spec = {
        "code": {"inline": MOMENTUM + "# " + draw(comment).replace("\n", " ") + "\n", "class": "Momentum"},
        "subscriptions": draw(st.lists(subscription, min_size=1, max_size=4, unique=True)),
        "params": draw(params),
        "resources": {"cpu": draw(cpu), "memory": draw(memory)},
    }
    if draw(st.booleans()):
        spec["state"] = {"persistent": True, "size": draw(st.sampled_from(["1Gi", "5Gi"]))}
    return {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": draw(label), "tenant": draw(label.filter(lambda t: t != "default"))},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def shared_fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    """One fleet repo for all examples: hypothesis runs every example in one call of the test function."""
    return new_fleet(tmp_path_factory.mktemp("properties") / "fleet")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_documents())
def test_accepted_specs_render_to_valid_policy_clean_objects(shared_fleet: Fleet, doc):
    fleet = shared_fleet
    strategy = strategy_from_document(doc)
    folder = f"strategies/{strategy.tenant}/{strategy.name}"
    report = actions.preflight(fleet, Path(folder), folder_files(strategy), strategy.tenant)
    assert report.ok, [str(f) for f in report.findings]
    assert report.rendered.workload() is not None
    for obj in report.rendered.all_objects():
        if kubeschema.has_schema(obj):
            assert kubeschema.validate(obj) == []
    policies = fleet_policies(fleet)
    namespace = default_namespace(strategy.tenant)
    for obj in report.rendered.objects:
        assert all(r.status in ("pass", "skip") for r in policies.evaluate(obj, namespace)), obj["kind"]


mutations = st.sampled_from(
    [
        ("metadata", "name", st.text(max_size=70)),
        ("metadata", "tenant", st.text(max_size=10)),
        ("spec", "subscriptions", st.lists(st.text(max_size=12), max_size=3)),
        ("spec", "resources", st.fixed_dictionaries({"cpu": st.text(max_size=6), "memory": st.text(max_size=6)})),
        ("spec", "code", st.fixed_dictionaries({"inline": st.text(max_size=30), "class": st.text(max_size=8)})),
        ("spec", "extra", st.integers()),
    ]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_documents(), mutations, st.data())
def test_rejected_specs_leave_the_repo_byte_identical(shared_fleet: Fleet, doc, mutation, data):
    section, key, values = mutation
    doc[section][key] = data.draw(values)
    fleet = shared_fleet
    spec_file = shared_fleet.path.parent / "spec.yaml"  # outside the repo, overwritten by each example
    spec_file.write_text(yaml.safe_dump(doc, allow_unicode=True))
    before = repo_fingerprint(fleet.path)
    try:
        strategy = actions.load_strategy(fleet, spec_file)
        actions.deploy(fleet, strategy, AUTHOR)  # a mutation that stays valid must deploy cleanly
    except UserError as exc:
        assert exc.problems  # every rejection says why
        assert repo_fingerprint(fleet.path) == before
        return
    assert fleet.repo.git.status("--porcelain") == ""
