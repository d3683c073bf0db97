"""The commit queue's lanes: one tenant's changes run one after another in arrival order; tenants run side by side."""

from __future__ import annotations

import threading
import time
import zlib

from generator.fleet import Fleet
from generator.service.commits import CommitQueue


def keys_on_distinct_lanes(lanes: int) -> list[str]:
    by_lane: dict[int, str] = {}
    for n in range(100):
        by_lane.setdefault(zlib.crc32(f"tenant-{n}".encode()) % lanes, f"tenant-{n}")
    return [by_lane[lane] for lane in range(lanes)]


def test_a_tenants_changes_apply_in_order_and_tenants_overlap(fleet: Fleet):
    queue = CommitQueue(fleet.path, lanes=2)
    log: list[tuple[str, int, str]] = []
    lock = threading.Lock()

    def job(key: str, n: int):
        def run(lane_fleet: Fleet) -> int:
            assert lane_fleet is not fleet  # each lane has its own Fleet (gitpython is not thread-safe)
            with lock:
                log.append((key, n, "start"))
            time.sleep(0.02)
            with lock:
                log.append((key, n, "end"))
            return n

        return run

    try:
        a, b = keys_on_distinct_lanes(2)
        futures = [queue.submit(job(key, n), key) for n in range(5) for key in (a, b)]
        assert [f.result(timeout=30) for f in futures] == [n for n in range(5) for _ in (a, b)]
    finally:
        queue.close()
    for key in (a, b):
        events = [(n, what) for k, n, what in log if k == key]
        assert events == [(n, what) for n in range(5) for what in ("start", "end")]  # in order, never overlapping
    running, overlapped = set(), False
    for key, _, what in log:
        if what == "start":
            running.add(key)
            overlapped |= len(running) > 1
        else:
            running.discard(key)
    assert overlapped, "two tenants' changes never ran side by side"
