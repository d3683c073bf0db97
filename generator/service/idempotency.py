"""Idempotency-Key: the first response to a key is stored in SQLite and replayed for every retry.

The store lives in REPO/.git/stratops-service/ (never committed). A row is written as
`pending` before the change is queued and completed by the commit writer right after
the commit, so a retry after a restart gets the stored answer. A pending row left by a
killed process means no answer was ever sent: it is dropped at start and the retry
runs again (deploy and rollback are content-idempotent: a repeat finds nothing to commit).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Problem
from .problems import ApiError

KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:+=/-]{1,128}$")


@dataclass(frozen=True)
class Stored:
    status: int
    body: dict[str, Any]


class IdempotencyStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS requests (scope TEXT, key TEXT, fingerprint TEXT, state TEXT,"
                " status INTEGER, body TEXT, created REAL, PRIMARY KEY (scope, key))"
            )
            self._db.execute("DELETE FROM requests WHERE state = 'pending'")

    @staticmethod
    def check_key(key: str) -> str:
        if not KEY_PATTERN.match(key):
            raise ApiError(
                400,
                "invalid Idempotency-Key",
                errors=[
                    Problem("Idempotency-Key", "has characters outside [A-Za-z0-9._:+=/-] or is too long", "use a UUID")
                ],
            )
        return key

    def begin(self, scope: str, key: str, fingerprint: str) -> Stored | None:
        """Claim the key (None: go ahead) or return the stored answer of an earlier identical request."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO requests VALUES (?, ?, ?, 'pending', NULL, NULL, ?)",
                    (scope, key, fingerprint, time.time()),
                )
                return None
            except sqlite3.IntegrityError:
                row = self._db.execute(
                    "SELECT fingerprint, state, status, body FROM requests WHERE scope = ? AND key = ?", (scope, key)
                ).fetchone()
        if row is None:  # finished and dropped in between: treat as new
            return self.begin(scope, key, fingerprint)
        stored_fingerprint, state, status, body = row
        if stored_fingerprint != fingerprint:
            raise ApiError(
                422,
                "Idempotency-Key reused for another request",
                errors=[Problem("Idempotency-Key", f"{key!r} was used for a different request", "use a new key")],
            )
        if state == "pending":
            raise ApiError(
                409,
                "a request with this Idempotency-Key is in progress",
                errors=[Problem("Idempotency-Key", key, "retry after it finished")],
                headers={"Retry-After": "1"},
            )
        return Stored(status, json.loads(body))

    def finish(self, scope: str, key: str, status: int, body: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE requests SET state = 'done', status = ?, body = ? WHERE scope = ? AND key = ?",
                (status, json.dumps(body), scope, key),
            )

    def abandon(self, scope: str, key: str) -> None:
        """The request failed: forget the key so a corrected retry can run."""
        with self._lock:
            self._db.execute("DELETE FROM requests WHERE scope = ? AND key = ? AND state = 'pending'", (scope, key))

    def close(self) -> None:
        with self._lock:
            self._db.close()
