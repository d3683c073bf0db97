"""Hung-handler watchdog: a daemon thread that trips when one handler call runs too long."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable

log = logging.getLogger("executor.watchdog")
EXIT_WATCHDOG = 3


class Watchdog:
    """The event loop calls :meth:`begin`/:meth:`end` around each handler (two attribute writes).

    On a trip the watchdog calls ``on_trip(reason)`` (liveness goes false), logs the stack of the
    stuck thread, waits ``exit_delay`` seconds so probes and supervisors can observe it, then ends
    the process with exit code 3: a hung Python thread cannot be stopped safely from outside.
    """

    def __init__(
        self,
        timeout: float,
        exit_delay: float,
        on_trip: Callable[[str], None],
        exit_fn: Callable[[int], None] = os._exit,
    ) -> None:
        self.timeout_ns = int(timeout * 1e9)
        self.exit_delay = exit_delay
        self.on_trip = on_trip
        self.exit_fn = exit_fn
        self.busy_since = 0
        self.busy_what = ""
        self.tripped = False
        self._thread_id = threading.get_ident()
        self._stop = threading.Event()
        self._interval = max(0.01, min(0.1, timeout / 10))

    def begin(self, what: str) -> None:
        self.busy_what = what
        self.busy_since = time.monotonic_ns()

    def end(self) -> None:
        self.busy_since = 0

    def start(self) -> None:
        threading.Thread(target=self._loop, name="watchdog", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            since = self.busy_since
            if since and time.monotonic_ns() - since > self.timeout_ns:
                self._trip()
                return

    def _trip(self) -> None:
        self.tripped = True
        reason = f"handler {self.busy_what} exceeded its deadline of {self.timeout_ns / 1e9:g}s"
        frame = sys._current_frames().get(self._thread_id)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
        self.on_trip(reason)
        log.error(
            "watchdog tripped: %s; exiting in %gs",
            reason,
            self.exit_delay,
            extra={"fields": {"event": "watchdog_trip", "stack": stack}},
        )
        time.sleep(self.exit_delay)
        for stream in (sys.stderr, sys.stdout):
            with contextlib.suppress(Exception):  # best effort before a hard exit
                stream.flush()
        self.exit_fn(EXIT_WATCHDOG)
