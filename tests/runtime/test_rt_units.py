"""The runtime's pure parts: PodSpec extraction, metrics windows, back-off, the signal tail, the status file."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator import actions
from generator.fleet import Fleet
from generator.runtime import metrics
from generator.runtime.paths import RuntimePaths
from generator.runtime.pod import Backoff
from generator.runtime.podspec import PodSpecError, extract, local_argv, local_path
from generator.runtime.signals import SignalTail
from generator.runtime.status import read_status, write_status
from tests.runtime.rt_helpers import deploy
from tests.support import new_fleet


@pytest.fixture
def objects(fleet: Fleet, tmp_path: Path) -> list[dict]:
    deploy(fleet, tmp_path / "specs", "alpha")
    return actions.rendered_objects(fleet, PurePosixPath("strategies/alice/alpha"), "main")


@pytest.fixture(scope="module")
def objects_once(tmp_path_factory) -> list[dict]:
    fleet = new_fleet(tmp_path_factory.mktemp("once") / "fleet")
    deploy(fleet, tmp_path_factory.mktemp("specs"), "alpha")
    return actions.rendered_objects(fleet, PurePosixPath("strategies/alice/alpha"), "main")


def test_extract_takes_what_the_kubelet_uses(objects: list[dict]) -> None:
    pod = extract("alice/alpha", objects)
    assert pod.argv[1:] == ["-m", "executor", "--config", "/etc/stratops/executor.json"]
    assert (pod.cpu, pod.memory) == ("250m", "256Mi")
    assert pod.startup and pod.startup.path == "/startupz" and pod.startup.failure_threshold == 30
    assert pod.liveness and pod.liveness.period == 10 and pod.readiness and pod.readiness.path == "/readyz"
    assert pod.pre_stop == "/drainz" and pod.grace == 30
    assert set(pod.mounts) == {"/opt/stratops/code", "/etc/stratops", "/var/lib/stratops/state", "/tmp"}
    assert pod.mounts["/opt/stratops/code"].files["momentum.py"].startswith(b"from executor import Strategy")
    config = json.loads(pod.mounts["/etc/stratops"].files["executor.json"])
    assert config["strategy"] == {"name": "alpha", "tenant": "alice"}


def test_template_hash_follows_the_pod_template_only(objects: list[dict]) -> None:
    base = extract("alice/alpha", objects).template_hash
    relabelled = copy.deepcopy(objects)
    deployment = next(o for o in relabelled if o["kind"] == "Deployment")
    deployment["metadata"]["labels"]["extra"] = "x"  # not in the template: no restart
    assert extract("alice/alpha", relabelled).template_hash == base
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5
    assert extract("alice/alpha", relabelled).template_hash != base


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c, p: c.update(image="docker.io/library/python:3"), "runs only ghcr.io/stratops/executor"),
        (lambda c, p: c.update(command=["sh", "-c", "id"]), "runs only `python"),
        (lambda c, p: c.setdefault("env", []).append({"name": "X", "valueFrom": {}}), "literal values"),
        (lambda c, p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "only configMap"),
        (lambda c, p: c["volumeMounts"].append({"name": "nope", "mountPath": "/x"}), "names no volume"),
    ],
)
def test_extract_refuses_what_it_cannot_run_faithfully(objects: list[dict], edit, message: str) -> None:
    objects = copy.deepcopy(objects)
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    edit(pod["containers"][0], pod)
    with pytest.raises(PodSpecError, match=message.replace("(", r"\(").replace("`", "`")):
        extract("alice/alpha", objects)


@pytest.mark.parametrize("path", ["../../escape.py", "/etc/passwd", "a//b", ".", "", "a/./b"])
def test_configmap_item_paths_cannot_leave_the_volume(objects: list[dict], path: str) -> None:
    objects = copy.deepcopy(objects)
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    code = next(v for v in pod["volumes"] if v["name"] == "code")
    code["configMap"]["items"][0]["path"] = path
    with pytest.raises(PodSpecError, match="leaves the volume"):
        extract("alice/alpha", objects)


@pytest.mark.parametrize("name", ["../up", "a/b", "Caps", "", 7])
def test_volume_and_claim_names_are_labels(objects: list[dict], name) -> None:
    objects = copy.deepcopy(objects)
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    state = next(v for v in pod["volumes"] if v["name"] == "state")
    state.pop("emptyDir")
    state["persistentVolumeClaim"] = {"claimName": name}
    with pytest.raises(PodSpecError, match="claimName"):
        extract("alice/alpha", objects)
    state["name"] = name
    with pytest.raises(PodSpecError, match="volume name"):
        extract("alice/alpha", objects)


def test_local_path_maps_the_longest_mount() -> None:
    mounts = {"/etc": "/l/etc", "/etc/stratops": "/l/config"}
    assert local_path("/etc/stratops/executor.json", mounts) == "/l/config/executor.json"
    assert local_path("/etc/hosts", mounts) == "/l/etc/hosts"
    assert local_path("/etcx", mounts) == "/etcx"
    assert local_path("--config", mounts) == "--config"


def test_local_interpreter_is_kept_even_under_a_mounted_path() -> None:
    """A checkout under /tmp puts the venv's Python there; only the container's arguments are mapped."""
    mounts = {"/tmp": "/l/tmp", "/etc/stratops": "/l/config"}
    argv = ["/tmp/checkout/.venv/bin/python3", "-m", "executor", "--config", "/etc/stratops/executor.json"]
    assert local_argv(argv, mounts) == [
        "/tmp/checkout/.venv/bin/python3",
        "-m",
        "executor",
        "--config",
        "/l/config/executor.json",
    ]


def test_backoff_doubles_from_the_base_to_a_cap() -> None:
    kubelet = Backoff(10)
    assert [kubelet.delay(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]
    assert kubelet.reset_after == 600


def _scrape(at: float, buckets: list[tuple[float, float]], events: float) -> metrics.Scrape:
    return metrics.Scrape(at, {"events": events}, buckets)


def test_lag_p99_and_rates_are_over_the_window() -> None:
    old = _scrape(0.0, [(0.001, 1000), (0.01, 1000), (float("inf"), 1000)], 1000)
    new = _scrape(2.0, [(0.001, 1000), (0.01, 1100), (float("inf"), 1100)], 1100)
    assert metrics.rate(new, old, "events") == 50.0
    p99 = metrics.lag_p99_ms(new, old)
    assert p99 is not None and 1.0 < p99 <= 10.0  # all 100 window events were in (1 ms, 10 ms]
    assert metrics.lag_p99_ms(old, old) is None


def test_prometheus_text_of_a_real_executor_registry_parses() -> None:
    from prometheus_client.exposition import generate_latest

    from executor.metrics import ExecutorMetrics

    m = ExecutorMetrics("alpha", "alice")
    m.events["trades"] = 7
    m.inc("signals", 3)
    m.lag.observe_ns(2_000_000)
    scrape = metrics.parse(generate_latest(m.registry).decode(), time.monotonic())
    assert scrape.counters["events"] == 7 and scrape.counters["signals"] == 3
    buckets = dict(scrape.lag_buckets)
    assert (buckets[0.001], buckets[0.002], buckets[float("inf")]) == (0, 1, 1)


def test_proc_sample_of_this_process() -> None:
    sample = metrics.proc_sample(os.getpid(), 1.0)
    assert sample is not None and sample.rss_bytes > 1024**2
    assert metrics.proc_sample(2**22 + 12345, 1.0) is None


@given(st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=8), st.integers(1, 7))
def test_signal_tail_never_loses_or_tears_a_line(tmp_path_factory, chunks: list[bytes], cut: int) -> None:
    path = tmp_path_factory.mktemp("tail") / "signals.ndjson"
    records = [{"strategy": "s", "tenant": "t", "n": i, "blob": c.hex()} for i, c in enumerate(chunks)]
    data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    tail = SignalTail(path, from_end=True)
    seen = []
    with open(path, "wb") as fh:
        for start in range(0, len(data), cut):
            fh.write(data[start : start + cut])
            fh.flush()
            seen += tail.read()
    assert seen == records


def test_read_status_is_none_when_stale_or_dead(fleet: Fleet) -> None:
    paths = RuntimePaths.of(fleet.path)
    paths.create()
    assert read_status(fleet.path) is None
    write_status(paths, {"updated": time.time(), "pid": os.getpid(), "strategies": {}})
    assert read_status(fleet.path) == {
        "updated": pytest.approx(time.time(), abs=5),
        "pid": os.getpid(),
        "strategies": {},
    }
    write_status(paths, {"updated": time.time() - 11, "pid": os.getpid()})
    assert read_status(fleet.path) is None
    write_status(paths, {"updated": time.time(), "pid": 2**22 + 12345})
    assert read_status(fleet.path) is None
    assert read_status(fleet.path / "no-such-repo") is None


def test_socket_paths_fit_the_unix_limit(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 200)
    deep.mkdir()
    import git

    git.Repo.init(deep)
    paths = RuntimePaths.of(deep)
    assert len(str(paths.http_socket("a" * 63 + "/" + "b" * 63))) < 100
    assert len(paths.feed_endpoint) < 100


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = [
    ("spec",),
    ("spec", "template"),
    ("spec", "template", "spec"),
    ("spec", "template", "spec", "containers"),
    ("spec", "template", "spec", "volumes"),
    ("spec", "template", "spec", "terminationGracePeriodSeconds"),
]


@given(
    st.sampled_from(_FIELDS),
    _JSON,
    st.sampled_from(["image", "command", "args", "env", "resources", "volumeMounts", "livenessProbe"]),
    _JSON,
)
def test_extract_of_hand_edited_objects_fails_only_with_a_message(
    objects_once, path, value, field, container_value
) -> None:
    objects = copy.deepcopy(objects_once)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container[field] = container_value
    node = deployment
    for part in path[:-1]:
        node = node[part] if isinstance(node, dict) and isinstance(node.get(part), dict) else {}
    node[path[-1]] = value
    try:
        extract("alice/alpha", objects)
    except PodSpecError as exc:
        assert str(exc)


def test_a_start_the_machine_refuses_backs_off_like_a_crash(objects: list[dict], fleet: Fleet) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from generator.runtime import sandbox
    from generator.runtime.pod import Pod

    objects = copy.deepcopy(objects)
    container = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"]["memory"] = "0"
    paths = RuntimePaths.of(fleet.path)
    paths.create()
    with ThreadPoolExecutor(1) as pool:
        pod = Pod(extract("alice/alpha", objects), "rev", paths, sandbox.Isolation(None, False), pool, Backoff(1))
        pod.tick(100.0)
    assert pod.state == "CrashLoopBackOff" and pod.proc is None
    assert "could not start: memory must be > 0" in pod.message and pod.next_start == 101.0
