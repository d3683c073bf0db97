"""Per-topic sequence tracking: gaps, duplicates and feed restarts (new session id)."""

from __future__ import annotations

from dataclasses import dataclass

OK, GAP, DUPLICATE, NEW_TOPIC, RESTART = "ok", "gap", "duplicate", "new", "restart"


@dataclass(slots=True)
class Verdict:
    status: str
    missed: int = 0
    previous: int = 0


class SequenceTracker:
    """``data`` messages carry seq = previous + 1; heartbeats carry the last data seq."""

    def __init__(self) -> None:
        self._last: dict[bytes, list[int]] = {}  # topic -> [session, last seq]
        self.sessions: set[int] = set()

    def check(self, topic: bytes, session: int, seq: int, heartbeat: bool = False) -> Verdict:
        entry = self._last.get(topic)
        if entry is None or entry[0] != session:
            status = NEW_TOPIC if entry is None else RESTART
            self.sessions.add(session)
            self._last[topic] = [session, seq]
            return Verdict(status, previous=entry[1] if entry else 0)
        last = entry[1]
        expected = last if heartbeat else last + 1
        if seq == expected:
            entry[1] = seq
            return Verdict(OK)
        if seq > expected:
            entry[1] = seq
            return Verdict(GAP, missed=seq - expected, previous=last)
        return Verdict(DUPLICATE, previous=last)
