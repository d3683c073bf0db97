"""Executor output, read by the runtime from a pipe and capped before it reaches the disk.

The executor never holds a file: its stdout and stderr are the write end of a pipe, and one
thread here reads every executor's read end. Per executor: 64 KiB/s sustained (bursts of
256 KiB), beyond which output is read and dropped, and counted; the file is rotated at 5 MiB
(executor.log -> executor.log.1), so at most 10 MiB are kept. A note in the log says how much
was dropped when writing resumes.
"""

from __future__ import annotations

import json
import os
import selectors
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .rate import TokenBucket

RATE = 64 * 1024
BURST = 256 * 1024
ROTATE_BYTES = 5 * 1024 * 1024  # two files: 10 MiB kept
CHUNK = 65536


@dataclass
class _Stream:
    key: str
    path: Path
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(RATE, BURST))
    unreported: int = 0


class LogPipes:
    """Owns the read ends; `open(key, path)` returns the write end to give the executor."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.dropped: dict[str, int] = {}  # key -> bytes dropped since `up` started (status)
        self.pending: list[tuple[int, _Stream]] = []
        self.wake_r, self.wake_w = os.pipe()
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="logs", daemon=True)
        self.thread.start()

    def open(self, key: str, path: Path) -> int:
        read, write = os.pipe()
        os.set_blocking(read, False)
        self.pending.append((read, _Stream(key, path)))
        os.write(self.wake_w, b"x")
        return write

    def close(self) -> None:
        self.stopping = True
        os.write(self.wake_w, b"x")
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stopping:
            for key, _mask in self.selector.select(timeout=1.0):
                if key.data is None:
                    os.read(self.wake_r, 4096)
                    while self.pending:
                        fd, stream = self.pending.pop(0)
                        self.selector.register(fd, selectors.EVENT_READ, stream)
                else:
                    self._pump(key.fd, key.data)

    def _pump(self, fd: int, stream: _Stream) -> None:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # every writer closed: the executor and its children are gone
            self.selector.unregister(fd)
            os.close(fd)
            return
        allowed = int(stream.bucket.take(len(data)))
        if allowed < len(data):
            self._drop(stream, len(data) - allowed)
        if allowed:
            self._write(stream, data[:allowed])

    def _drop(self, stream: _Stream, size: int) -> None:
        stream.unreported += size
        self.dropped[stream.key] = self.dropped.get(stream.key, 0) + size

    def _write(self, stream: _Stream, data: bytes) -> None:
        if stream.unreported:
            note = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "level": "warning",
                "logger": "stratops.runtime",
                "msg": f"log rate above {RATE // 1024} KiB/s: {stream.unreported} bytes dropped",
            }
            data = b"\n" + json.dumps(note).encode() + b"\n" + data
            stream.unreported = 0
        try:
            if stream.path.exists() and stream.path.stat().st_size + len(data) > ROTATE_BYTES:
                os.replace(stream.path, stream.path.with_name(stream.path.name + ".1"))
            fd = os.open(stream.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError:
            self._drop(stream, len(data))
