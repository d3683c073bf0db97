"""The chart's optional PodMonitor: off by default, on from the spec, valid against prometheus-operator's real CRD
(fetched pinned from the Go module proxy by `make crds`), and known to `stratops check` and the preflight."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from generator import actions, crds, helm
from generator.check import check_repo
from generator.fleet import Fleet
from generator.jsonschemas import Draft202012
from generator.render import values_for
from generator.spec import load_spec
from tests.support import AUTHOR, write_spec

CHART = Path(__file__).resolve().parents[2] / "charts" / "strategy-executor"
MONITORED = "  monitoring: {podMonitor: true, interval: 15s}\n"


@pytest.fixture(scope="module")
def crd() -> dict:
    path = crds.crd_path("PodMonitor")
    if not path.is_file():
        message = f"no {path.name} in .tools/crds: run `make crds` (prometheus-operator {crds.VERSION} via Go)"
        if os.environ.get("CI"):
            pytest.fail(message)  # `make test` fetches it: missing in CI is a broken set-up
        pytest.skip(message)
    return yaml.safe_load(path.read_text())


def rendered(spec_dir: Path, extra: str = "") -> list[dict]:
    strategy = load_spec(write_spec(spec_dir, extra=extra))
    return helm.template(CHART, strategy.name, strategy.tenant, values_for(strategy))


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o.get("kind") == kind]


def test_no_podmonitor_unless_the_spec_asks(spec_dir: Path) -> None:
    assert of_kind(rendered(spec_dir / "plain"), "PodMonitor") == []
    assert "podMonitor" not in values_for(load_spec(write_spec(spec_dir / "values")))  # other digests unchanged


def test_the_rendered_podmonitor_is_valid_for_the_real_crd_and_scrapes_the_executor(spec_dir: Path, crd) -> None:
    objects = rendered(spec_dir, MONITORED)
    [monitor] = of_kind(objects, "PodMonitor")
    [deployment] = of_kind(objects, "Deployment")
    real = Draft202012(crds.schema_from_crd(crd, "v1"))
    assert sorted(e.message for e in real.iter_errors(monitor)) == []
    pod = deployment["spec"]["template"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()  # it selects the executor's pod
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    ports = {p["name"]: p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
    # The same schema can fail: an unknown field and a malformed interval are named.
    broken = json.loads(json.dumps(monitor))
    broken["spec"]["podMetricsEndpoints"][0]["interval"] = "15 seconds"
    broken["spec"]["scrapeEvery"] = "15s"
    errors = " | ".join(e.message for e in real.iter_errors(broken))
    assert "scrapeEvery" in errors and "15 seconds" in errors, errors


def test_the_shipped_schema_is_the_real_crds(crd) -> None:
    """`stratops check` validates with generator/schemas/podmonitor-monitoring-v1.json: exactly the pinned CRD's."""
    _, shipped = crds.KINDS[("monitoring.coreos.com/v1", "PodMonitor")]
    assert json.loads((crds.SCHEMA_DIR / shipped).read_text()) == crds.schema_from_crd(crd, "v1")


def test_check_and_preflight_know_the_podmonitor(fleet: Fleet, spec_dir: Path) -> None:
    outcome = actions.deploy(fleet, actions.load_strategy(fleet, write_spec(spec_dir, extra=MONITORED)), AUTHOR)
    assert outcome.commit
    report = check_repo(fleet.path)
    lines = [str(f) for f in report.findings]
    assert not [line for line in lines if "PodMonitor" in line], lines
    # A hand edit of the fleet's copy of the chart that breaks the PodMonitor is caught, at that object.
    template = fleet.path / "charts" / "strategy-executor" / "templates" / "podmonitor.yaml"
    template.write_text(
        template.read_text().replace("  podMetricsEndpoints:", "  scrapeEvery: 15s\n  podMetricsEndpoints:")
    )
    errors = [str(f) for f in check_repo(fleet.path).errors]
    assert any("PodMonitor/" in e and "scrapeEvery" in e for e in errors), errors


def test_a_bad_scrape_interval_in_the_spec_is_refused_with_its_field(spec_dir: Path) -> None:
    from generator.errors import UserError

    with pytest.raises(UserError) as caught:
        load_spec(write_spec(spec_dir, extra="  monitoring: {podMonitor: true, interval: 15 seconds}\n"))
    assert any(p.where == "spec.monitoring.interval" for p in caught.value.problems), caught.value.problems
