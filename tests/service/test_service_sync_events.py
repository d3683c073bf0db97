"""The `sync` field against a real `stratops up`, and server-sent events from a real `stratops serve`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from generator import actions
from generator.fleet import Fleet
from generator.service.tokens import add_token
from generator.spec import parse_spec
from tests.runtime.rt_helpers import Up, running, wait_for
from tests.service.conftest import make_client
from tests.service.service_helpers import auth, free_port, spec, start_server
from tests.support import AUTHOR

URL = "/v1/tenants/alice/strategies/momentum-btc"


def deploy(fleet: Fleet, window: int) -> str:
    doc = spec()["spec"]
    doc["spec"]["params"] = {"window": window}
    return actions.deploy(fleet, parse_spec(json.dumps(doc)), AUTHOR).commit or ""


def test_sync_is_synced_only_when_the_new_revision_runs(fleet: Fleet, tmp_path: Path) -> None:
    first = deploy(fleet, 20)
    with make_client(fleet) as client:
        down = client.get(URL + "/status", headers=auth("alice")).json()
        assert down["sync"]["status"] == "Unknown"
        up = Up(fleet.path, tmp_path / "up.log")
        try:
            wait_for(fleet.path, running("alice/momentum-btc"), 30)
            synced = client.get(URL + "/status", headers=auth("alice")).json()["sync"]
            assert synced == {"status": "Synced", "revision": first, "message": ""}

            second = deploy(fleet, 21)  # a new pod template: the old pod is terminated first (Recreate)
            seen: list[tuple[str, str | None, str | None]] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = client.get(URL + "/status", headers=auth("alice")).json()
                seen.append((row["sync"]["status"], row["sync"]["revision"], row.get("running_revision")))
                if row["sync"]["status"] == "Synced":
                    assert row["running_revision"] == second and row["ready"], row
                    break
                time.sleep(0.05)
            statuses = [s for s, _, _ in seen]
            assert statuses[-1] == "Synced" and seen[-1][1] == second, seen
            assert "OutOfSync" in statuses or "Progressing" in statuses, seen
            assert all(rev == second for _, rev, _ in seen)  # the revision of main, never the old one

            rows = client.get("/v1/tenants/alice/strategies", headers=auth("alice")).json()
            assert rows[0]["sync"]["status"] == "Synced" and rows[0]["status"]["state"] == "Running"
        finally:
            up.stop()


def fleet_events(lines: Iterator[str]) -> Iterator[dict]:
    kind = None
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind == "fleet":
            yield json.loads(line[6:])


def test_events_push_the_fleet_view_and_say_when_the_runtime_is_down(fleet: Fleet, tmp_path: Path) -> None:
    deploy(fleet, 20)
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("defaults: {rate_per_s: 1000, burst: 1000}\n")
    alice, bob = add_token(tokens, "alice"), add_token(tokens, "bob")
    port = free_port()
    server = start_server(fleet.path, tokens, port, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}/v1/tenants/alice/events"
    try:
        with httpx.Client(timeout=30) as http:
            assert http.get(base, headers={"Authorization": f"Bearer {bob}"}).status_code == 403
            with http.stream("GET", base, headers={"Authorization": f"Bearer {alice}"}) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                events = fleet_events(response.iter_lines())
                first = next(events)
                assert first["runtime"] == {
                    "source": "local",
                    "reachable": False,
                    "message": "the local runtime is not running (stratops up)",
                }
                assert [r["name"] for r in first["strategies"]] == ["momentum-btc"]
                up = Up(fleet.path, tmp_path / "up.log")
                try:
                    deadline = time.monotonic() + 60
                    for event in events:  # pushed as it changes, no polling
                        row = event["strategies"][0]
                        assert time.monotonic() < deadline, event
                        if event["runtime"]["reachable"] and row["sync"]["status"] == "Synced":
                            break
                    assert row["status"]["state"] == "Running"
                finally:
                    up.stop()
            streams = [http.stream("GET", base, headers={"Authorization": f"Bearer {alice}"}) for _ in range(9)]
            opened = [s.__enter__() for s in streams]
            try:
                assert [r.status_code for r in opened].count(429) == 1  # at most 8 per tenant
            finally:
                for s in streams:
                    s.__exit__(None, None, None)
    finally:
        server.terminate()
        server.wait(10)
