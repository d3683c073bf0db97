"""The HTTP API over a real fleet repo: every route, problem details, idempotency and limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.fleet import Fleet
from generator.service.tokens import Limits
from tests.service.conftest import make_client
from tests.service.service_helpers import auth, repo_state, spec, user_auth
from tests.support import MOMENTUM

URL = "/v1/tenants/alice/strategies/momentum-btc"
ALICE = auth("alice")


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    return body


def test_deploy_read_history_diff_rollback_stop(client, fleet: Fleet):
    deployed = client.put(URL, json=spec(), headers=ALICE)
    assert deployed.status_code == 200, deployed.text
    first = deployed.json()
    assert first["changed"] and first["branch"] == "main" and fleet.head() == first["commit"]

    rows = client.get("/v1/tenants/alice/strategies", headers=ALICE).json()
    assert [(r["name"], r["class"], r["revision"]) for r in rows] == [("momentum-btc", "Momentum", first["commit"])]
    assert rows[0]["status"]["state"] == "Unknown"  # no local runtime running

    shown = client.get(URL, headers=ALICE).json()
    assert shown["code"] == MOMENTUM and shown["spec"]["metadata"] == {"name": "momentum-btc", "tenant": "alice"}
    assert '"cpu": "250m"' in shown["values"] and shown["revision"] == first["commit"]

    changed = spec()
    changed["spec"]["spec"]["params"] = {"window": 50}
    second = client.put(URL, json=changed, headers=ALICE).json()
    assert second["changed"] and second["commit"] != first["commit"]

    history = client.get(f"{URL}/history", headers=ALICE).json()
    assert [h["sha"] for h in history] == [second["commit"], first["commit"]]
    assert history[0]["action"] == "deploy" and history[0]["author"] == "alice"
    assert history[0]["digest"].startswith("sha256:")

    diff = client.get(f"{URL}/diff", headers=ALICE).json()
    assert diff["from"] == first["commit"] and diff["to"] == second["commit"]
    assert "window" in diff["text"] and all(o["status"] == "changed" for o in diff["objects"])
    explicit = client.get(f"{URL}/diff", params={"from": first["commit"], "to": "main"}, headers=ALICE).json()
    assert explicit["text"] == diff["text"]

    rolled = client.post(f"{URL}/rollback", headers=ALICE).json()
    assert rolled["action"] == "rollback" and rolled["changed"]
    assert fleet.read_folder("strategies/alice/momentum-btc") == fleet.read_folder(
        "strategies/alice/momentum-btc", first["commit"]
    )
    to_second = client.post(f"{URL}/rollback", json={"to": second["commit"]}, headers=ALICE).json()
    assert to_second["changed"] and '"window": 50' in client.get(URL, headers=ALICE).json()["values"]

    stopped = client.delete(URL, headers=ALICE).json()
    assert stopped["action"] == "stop" and fleet.read_folder("strategies/alice/momentum-btc") is None
    _problem(client.get(URL, headers=ALICE), 404)
    _problem(client.delete(URL, headers=ALICE), 404)


def test_unchanged_deploy_reports_the_current_commit(client, fleet: Fleet):
    first = client.put(URL, json=spec(), headers=ALICE).json()
    again = client.put(URL, json=spec(), headers=ALICE).json()
    assert again == {**first, "changed": False, "message": again["message"]}
    assert "nothing to commit" in again["message"]


def test_yaml_body_and_review_branch(client, fleet: Fleet):
    text = (
        "apiVersion: stratops.io/v1\nkind: Strategy\nmetadata: {name: momentum-btc, tenant: alice}\n"
        "spec:\n  code:\n    class: Momentum\n    inline: |\n"
        + "".join(f"      {line}\n" for line in MOMENTUM.splitlines())
        + '  subscriptions: ["trades"]\n'
    )
    response = client.put(f"{URL}?review=true", content=text, headers={**ALICE, "Content-Type": "application/yaml"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["branch"].startswith("review/alice/momentum-btc/") and body["review"]["summary"].startswith("# Review")
    assert fleet.head(body["branch"]) == body["commit"]
    assert fleet.read_folder("strategies/alice/momentum-btc") is None  # main untouched


def test_check_reports_findings_with_lines_and_fields(client, fleet: Fleet):
    before = repo_state(fleet.path)
    ok = client.post(f"{URL}/check", json=spec(), headers=ALICE).json()
    assert ok["ok"] is True and ok["findings"] == []

    broken = client.post(f"{URL}/check", json=spec(code="class Momentum:\n    def f(self:\n"), headers=ALICE).json()
    assert broken["ok"] is False
    [finding] = broken["findings"]
    assert finding["line"] == 2 and finding["field"] == "spec.code.inline" and finding["stage"] == "spec"

    over_cap = spec()
    over_cap["spec"]["spec"]["resources"] = {"cpu": "64", "memory": "256Mi"}
    findings = client.post(f"{URL}/check", json=over_cap, headers=ALICE).json()["findings"]
    assert [f["field"] for f in findings] == ["spec.resources.cpu"]

    yaml_error = client.post(
        f"{URL}/check", content="spec: [\n", headers={**ALICE, "Content-Type": "application/yaml"}
    ).json()
    assert yaml_error["ok"] is False and yaml_error["findings"][0]["line"] == 2

    policy = spec()
    policy["spec"]["spec"]["state"] = {"persistent": True, "size": "1Gi"}
    assert client.post(f"{URL}/check", json=policy, headers=ALICE).json()["ok"] is True
    assert repo_state(fleet.path) == before  # check never commits


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        ({"spec": {"kind": "Strategy"}}, 422, "(top level)"),
        ({"spec": {**spec()["spec"], "metadata": {"name": "other", "tenant": "alice"}}}, 422, "metadata.name"),
        ({"spec": {**spec()["spec"], "metadata": {"name": "momentum-btc", "tenant": "bob"}}}, 422, "metadata.tenant"),
        ({"nospec": 1}, 422, "body"),
        ([1, 2], 422, "body"),
    ],
)
def test_bad_bodies_are_problems_with_errors(client, fleet: Fleet, body, status, where):
    before = repo_state(fleet.path)
    problem = _problem(client.put(URL, json=body, headers=ALICE), status)
    assert where in [e["where"] for e in problem["errors"]]
    assert all(set(e) == {"where", "what", "fix"} for e in problem["errors"])
    assert repo_state(fleet.path) == before


def test_unparsable_bodies(client, fleet: Fleet):
    _problem(client.put(URL, content=b"{not json", headers={**ALICE, "Content-Type": "application/json"}), 400)
    _problem(client.put(URL, content=b"\xff\xfe", headers={**ALICE, "Content-Type": "application/json"}), 400)
    _problem(client.put(URL, content=b"<x/>", headers={**ALICE, "Content-Type": "application/xml"}), 415)
    dup = b'{"spec": {}, "spec": {}}'
    _problem(client.put(URL, content=dup, headers={**ALICE, "Content-Type": "application/json"}), 400)
    _problem(client.post(f"{URL}/rollback", content=b'{"to": 5}', headers=ALICE), 422)
    _problem(client.get(f"{URL}/history?limit=0", headers=ALICE), 400)


def test_idempotency_key_replays_and_refuses_reuse(client, fleet: Fleet):
    headers = {**ALICE, "Idempotency-Key": "k-1"}
    first = client.put(URL, json=spec(), headers=headers)
    again = client.put(URL, json=spec(), headers=headers)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert first.json()["changed"] and again.json()["changed"]  # the stored answer, not a second run

    other = spec()
    other["spec"]["spec"]["params"] = {"window": 9}
    _problem(client.put(URL, json=other, headers=headers), 422)
    _problem(client.put(URL, json=spec(), headers={**ALICE, "Idempotency-Key": "bad key!"}), 400)
    # Keys are per principal: bob's k-1 is another key.
    bob = client.put(
        "/v1/tenants/bob/strategies/x", json=spec("x", "bob"), headers={**auth("bob"), "Idempotency-Key": "k-1"}
    )
    assert bob.status_code == 200 and bob.json()["commit"] != first.json()["commit"]


def test_failed_request_frees_its_idempotency_key(client, fleet: Fleet):
    headers = {**ALICE, "Idempotency-Key": "retry-me"}
    _problem(client.delete(URL, headers=headers), 404)
    client.put(URL, json=spec(), headers=ALICE)
    assert client.delete(URL, headers=headers).status_code == 200


def test_idempotency_survives_a_restart(fleet: Fleet):
    headers = {**ALICE, "Idempotency-Key": "restart-1"}
    with make_client(fleet) as client:
        first = client.put(URL, json=spec(), headers=headers).json()
    with make_client(fleet) as client:
        again = client.put(URL, json=spec(), headers=headers)
    assert again.json() == first and again.headers["idempotent-replayed"] == "true"


def test_body_cap_and_code_cap(fleet: Fleet):
    with make_client(fleet, max_body=64 * 1024) as client:
        before = repo_state(fleet.path)
        big = spec(code=MOMENTUM + "#" * 70_000 + "\n")
        _problem(client.put(URL, json=big, headers=ALICE), 413)

        def chunks():
            yield json.dumps(big).encode()

        _problem(client.put(URL, content=chunks(), headers={**ALICE, "Content-Type": "application/json"}), 413)
        assert repo_state(fleet.path) == before
    with make_client(fleet) as client:
        huge = spec(code=MOMENTUM + "#" * (512 * 1024) + "\n")
        problem = _problem(client.put(URL, json=huge, headers=ALICE), 422)
        assert "524288 bytes" in json.dumps(problem["errors"])


def test_rate_limit_answers_429_with_retry_after(fleet: Fleet):
    with make_client(fleet, limits=Limits(rate_per_s=0.5, burst=3)) as client:
        codes = [client.get("/v1/whoami", headers=ALICE).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/v1/whoami", headers=ALICE)
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/v1/whoami", headers=auth("bob")).status_code == 200  # per tenant


def test_max_strategies_per_tenant(fleet: Fleet):
    with make_client(fleet, limits=Limits(rate_per_s=1000, burst=1000, max_strategies=2)) as client:
        for name in ("a", "b"):
            assert client.put(f"/v1/tenants/alice/strategies/{name}", json=spec(name), headers=ALICE).status_code == 200
        _problem(client.put("/v1/tenants/alice/strategies/c", json=spec("c"), headers=ALICE), 409)
        changed = spec("a")
        changed["spec"]["spec"]["params"] = {"window": 3}
        assert client.put("/v1/tenants/alice/strategies/a", json=changed, headers=ALICE).status_code == 200


def test_tenant_cpu_and_memory_caps_from_the_config(fleet: Fleet, tmp_path: Path):
    with make_client(fleet, limits=Limits(rate_per_s=1000, burst=1000, max_cpu="200m", max_memory="128Mi")) as c:
        problem = _problem(c.put(URL, json=spec(), headers=ALICE), 422)
        assert {e["where"] for e in problem["errors"]} == {"spec.resources.cpu", "spec.resources.memory"}
        small = spec()
        small["spec"]["spec"]["resources"] = {"cpu": "100m", "memory": "128Mi"}
        assert c.put(URL, json=small, headers=ALICE).status_code == 200


def test_market_bars_and_signals(client, fleet: Fleet):
    bars = client.get("/v1/market/BTC-USD/bars", params={"limit": 5, "interval": "1s"}, headers=ALICE).json()
    assert len(bars) == 5 and all(b["symbol"] == "BTC-USD" and b["interval"] == "1s" for b in bars)
    assert [b["ts"] for b in bars] == sorted(b["ts"] for b in bars)
    _problem(client.get("/v1/market/NOPE-USD/bars", headers=ALICE), 404)

    runtime = fleet.path / ".git" / "stratops-runtime"
    runtime.mkdir(parents=True)
    lines = [{"tenant": t, "strategy": "momentum-btc", "seq": i} for i in range(50) for t in ("alice", "bob")]
    (runtime / "signals.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"tenant": "ali')
    got = client.get(f"{URL}/signals", params={"limit": 3}, headers=ALICE).json()
    assert [(s["tenant"], s["seq"]) for s in got] == [("alice", 47), ("alice", 48), ("alice", 49)]


def test_status_from_the_local_runtime(client, fleet: Fleet):
    client.put(URL, json=spec(), headers=ALICE)
    runtime = fleet.path / ".git" / "stratops-runtime"
    runtime.mkdir(parents=True)
    entry = {"state": "Running", "ready": True, "restarts": 1, "message": "", "revision": fleet.head()}
    status = {
        "apiVersion": "stratops.io/v1",
        "kind": "RuntimeStatus",
        "updated": __import__("time").time(),
        "pid": __import__("os").getpid(),
        "strategies": {"alice/momentum-btc": entry},
    }
    (runtime / "status.json").write_text(json.dumps(status))
    got = client.get(f"{URL}/status", headers=ALICE).json()
    assert got["state"] == "Running" and got["source"] == "local" and got["restarts"] == 1
    rows = client.get("/v1/tenants/alice/strategies", headers=ALICE).json()
    assert rows[0]["status"]["state"] == "Running"


def test_problem_details_for_unknown_routes_and_methods(client):
    _problem(client.get("/v1/nothing", headers=ALICE), 404)
    _problem(client.patch(URL, headers=ALICE), 405)
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/openapi.json").json()["info"]["title"] == "stratops"


def test_review_list_show_merge(client, fleet: Fleet):
    deployed = client.put(f"{URL}?review=true", json=spec(), headers=ALICE).json()
    branch = deployed["branch"]
    client.put("/v1/tenants/bob/strategies/x?review=true", json=spec("x", "bob"), headers=auth("bob"))

    listed = client.get("/v1/tenants/alice/reviews", headers=ALICE).json()
    assert [r["branch"] for r in listed] == [branch]  # bob's review is not listed for alice

    shown = client.get(f"/v1/tenants/alice/reviews/{branch}", headers=ALICE).json()
    assert shown["branch"] == branch and shown["markdown"].startswith("# Review") and shown["parts"]["ok"] is True

    bob_branch = client.get("/v1/tenants/bob/reviews", headers=auth("bob")).json()[0]["branch"]
    _problem(client.get(f"/v1/tenants/alice/reviews/{bob_branch}", headers=ALICE), 400)  # not under alice's prefix
    _problem(client.get(f"/v1/tenants/bob/reviews/{bob_branch}", headers=ALICE), 403)
    _problem(client.get("/v1/tenants/alice/reviews/review/alice/momentum-btc/000000000000", headers=ALICE), 404)

    approved = client.post(f"/v1/tenants/alice/reviews/{branch}/approve", headers=user_auth("rita"))
    assert approved.status_code == 200, approved.text
    merged = client.post(f"/v1/tenants/alice/reviews/{branch}/merge", headers=ALICE)
    assert merged.status_code == 200, merged.text
    assert merged.json()["action"] == "merge" and fleet.head() == merged.json()["commit"]
    assert fleet.read_folder("strategies/alice/momentum-btc") is not None
    assert client.get("/v1/tenants/alice/reviews", headers=ALICE).json() == []


def test_deploy_to_a_tenant_never_added_is_404(client, fleet: Fleet):
    before = repo_state(fleet.path)
    problem = _problem(client.put("/v1/tenants/carol/strategies/x", json=spec("x", "carol"), headers=auth(None)), 404)
    assert problem["title"] == "no tenant carol in the fleet"
    assert "stratops tenant add carol" in problem["errors"][0]["fix"]
    assert repo_state(fleet.path) == before


def test_history_of_an_unknown_strategy_is_404(client):
    _problem(client.get("/v1/tenants/alice/strategies/never/history", headers=ALICE), 404)


def test_if_match_refuses_a_stale_deploy_with_412_and_the_diff(client, fleet: Fleet):
    first = client.put(URL, json=spec(), headers=ALICE).json()["commit"]
    shown = client.get(URL, headers=ALICE)
    assert shown.headers["etag"] == f'"{first}"'
    tab_one, tab_two = spec(), spec()
    tab_one["spec"]["spec"]["params"] = {"window": 30}
    tab_two["spec"]["spec"]["params"] = {"window": 40}
    saved = client.put(URL, json=tab_one, headers={**ALICE, "If-Match": shown.headers["etag"]})
    assert saved.status_code == 200, saved.text
    client.put("/v1/tenants/alice/strategies/other", json=spec("other"), headers=ALICE)  # not a change of this one
    before = repo_state(fleet.path)
    stale = _problem(client.put(URL, json=tab_two, headers={**ALICE, "If-Match": f'"{first}"'}), 412)
    assert stale["base"] == first and stale["current"] == saved.json()["commit"]
    assert "window" in stale["diff"] and stale["objects"]
    assert repo_state(fleet.path) == before
    fresh = client.put(URL, json=tab_two, headers={**ALICE, "If-Match": f'"{saved.json()["commit"]}"'})
    assert fresh.status_code == 200, fresh.text
    assert client.put(URL, json=tab_one, headers=ALICE).status_code == 200  # no If-Match: overwrite, as before


def test_market_bars_are_on_the_clock_the_feed_stamped_them_with(client, fleet: Fleet, tmp_path: Path):
    """A real replaying feed at the default `recorded` speed re-stamps the data to the wall clock: the bars route
    answers the bars exactly as a subscriber received them (so signals, stamped with their event's time, fall on
    them), not the data's own 2024 clock."""
    import threading
    import time

    import zmq

    from executor import wire
    from executor.bars import add_bars
    from executor.feed import FeedOptions, Publisher, Replayer, load_records, make_pub_socket, sample_path
    from generator.runtime.paths import RuntimePaths

    clock = RuntimePaths.of(fleet.path).feed_clock
    clock.parent.mkdir(parents=True, exist_ok=True)
    endpoint = f"ipc://{tmp_path / 'feed.sock'}"
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"bars.sample.BTC-USD")
    pub = make_pub_socket(ctx, endpoint, False, 100_000)
    sub.connect(endpoint)
    opts = FeedOptions(speed="recorded", rate=60.0, loop=True, warmup=0.3, clock=clock)
    replayer = Replayer(add_bars(load_records(sample_path())), Publisher(pub), opts)
    feeding = threading.Thread(target=replayer.run, daemon=True)
    feeding.start()
    received: list[dict] = []
    try:
        deadline = time.monotonic() + 20
        while len([b for b in received if b.get("interval") == "1s"]) < 20 and time.monotonic() < deadline:
            if sub.poll(500):
                _, _, payload = sub.recv_multipart()
                bar = wire.unpack_payload(payload)
                if bar.get("symbol") == "BTC-USD":  # not a heartbeat, nor BTC-USDT (the same topic prefix)
                    received.append(bar)
    finally:
        replayer.stop.set()
        feeding.join(10)
        sub.close(0)
        pub.close(0)
    seconds = [b for b in received if b["interval"] == "1s"]
    assert len(seconds) >= 20, received
    assert abs(seconds[-1]["ts"] / 1e9 - time.time()) < 60  # the feed's clock is the wall clock
    answered = client.get("/v1/market/BTC-USD/bars", params={"limit": 600}, headers=ALICE).json()
    by_ts = {b["ts"]: b for b in answered}
    for bar in seconds:
        assert bar["ts"] in by_ts, (bar, answered[-3:])
        assert by_ts[bar["ts"]]["close"] == bar["close"]
    # nothing the feed had not published: at 60x, at most ~a minute of data after what the subscriber last saw
    assert max(by_ts) - seconds[-1]["ts"] < 90e9
    clock.unlink()  # no running feed: the data on its own clock again
    assert client.get("/v1/market/BTC-USD/bars", params={"limit": 1}, headers=ALICE).json()[0]["ts"] < 1.8e18
