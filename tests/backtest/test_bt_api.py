"""The backtest API over a real fleet repo: 202 + id, progress and result, limits, one per tenant."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from executor.feed import sample_path
from executor.records import load_records, write_records
from generator.fleet import Fleet
from tests.service.conftest import make_client
from tests.service.service_helpers import auth

CODE = (Path(__file__).resolve().parents[2] / "examples" / "ma-crossover" / "ma_crossover.py").read_text()


def body(**options) -> dict:
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "ma", "tenant": "alice"},
        "spec": {
            "code": {"inline": CODE, "class": "MovingAverageCrossover"},
            "subscriptions": ["bars.BTC-USD"],
            "params": {"fast": 5, "slow": 20},
        },
    }
    return {"spec": doc, "options": {"mode": "long-short", "fee_taker": 5, **options}}


def wait(client, location: str, tenant: str = "alice", timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(location, headers=auth(tenant)).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"backtest still {job['state']}")


def test_backtest_job_runs_to_a_result_with_uploaded_parquet(fleet: Fleet, tmp_path: Path) -> None:
    data = tmp_path / "btc.parquet"
    write_records(data, [r for r in load_records(sample_path()) if r["symbol"] == "BTC-USD"])
    payload = {**body(), "data": {"format": "parquet", "base64": base64.b64encode(data.read_bytes()).decode()}}
    with make_client(fleet) as client:
        started = client.post("/v1/tenants/alice/backtests", json=payload, headers=auth("alice"))
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        second = client.post("/v1/tenants/alice/backtests", json=body(), headers=auth("alice"))
        assert second.status_code == 409  # one queued or running per tenant
        assert client.get(location, headers=auth("bob")).status_code == 403
        job = wait(client, location)
        assert job["state"] == "done", job
        result = job["result"]
        assert result["params"] == {"fast": 5, "slow": 20, "interval": "1s"}
        assert result["stats"]["fills"] == result["fills_total"] > 0
        assert result["executor"]["events"]["bars"] > 0 and job["progress"] == 1.0
        assert client.post("/v1/tenants/alice/backtests", json=body(), headers=auth("alice")).status_code == 202


def test_bad_requests_are_refused_with_every_problem(fleet: Fleet) -> None:
    with make_client(fleet) as client:
        bad_spec = body()
        bad_spec["spec"]["spec"]["params"] = {"fast": "five"}
        bad_spec["spec"]["spec"]["resources"] = {"cpu": "64"}
        answer = client.post("/v1/tenants/alice/backtests", json=bad_spec, headers=auth("alice"))
        assert answer.status_code == 422
        text = answer.text
        assert "'five' is not a integer" in text and "over the cap" in text
        bad_options = client.post("/v1/tenants/alice/backtests", json=body(mode="yolo", lag=1), headers=auth("alice"))
        assert bad_options.status_code == 422 and "options.lag" in bad_options.text
        big = client.post(
            "/v1/tenants/alice/backtests",
            content=b"{}",
            headers={**auth("alice"), "Content-Length": str(101 * 1024 * 1024), "Content-Type": "application/json"},
        )
        assert big.status_code == 413
        unknown = client.get("/v1/tenants/alice/backtests/0123456789abcdef", headers=auth("alice"))
        assert unknown.status_code == 404


def test_bad_uploaded_data_fails_the_job_with_the_row(fleet: Fleet) -> None:
    csv = b"type,symbol,ts,price,size\ntrade,BTC-USD,1,100,1\ntrade,BTC-USD,2,oops,1\n"
    payload = {**body(), "data": {"format": "csv", "base64": base64.b64encode(csv).decode()}}
    with make_client(fleet) as client:
        started = client.post("/v1/tenants/alice/backtests", json=payload, headers=auth("alice"))
        assert started.status_code == 202
        job = wait(client, started.headers["location"])
        assert job["state"] == "failed"
        assert any("line 3, field 'price'" in p for p in job["error"]["problems"])
