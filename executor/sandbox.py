"""rlimits for running an executor as a local process (the local runtime's stand-in for cgroups).

    limits = Limits.from_quantities(cpu="250m", memory="256Mi", cpu_seconds=600)
    subprocess.Popen(cmd, preexec_fn=limits.preexec_fn(), env=limits.env(os.environ), ...)

What each limit does, and what it cannot do:

* ``RLIMIT_AS`` = memory + ``overhead`` (address space, not RSS: shared libraries, thread stacks and
  malloc arenas count, so a small fixed overhead is added; ``env()`` sets ``MALLOC_ARENA_MAX=2`` to keep
  it small). A runaway allocation then fails with ``MemoryError`` inside the handler.
* ``RLIMIT_CPU`` = ``cpu_seconds`` of CPU time in total (soft; SIGXCPU ends the process, hard = +5 s
  then SIGKILL). The CPU *rate* (``250m``) cannot be expressed as an rlimit; cgroups enforce it in
  Kubernetes. Locally the rate is only recorded (``Limits.cpu``).
* ``RLIMIT_NOFILE`` (open files) and ``RLIMIT_NPROC`` (processes of the *user*; ignored for root, which
  is why the executor's audit hook also refuses fork/exec, and why Kubernetes uses a pids cgroup).
* ``RLIMIT_CORE`` = 0: no core dumps of strategy memory.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

MiB = 1024 * 1024
DEFAULT_OVERHEAD = 384 * MiB


def parse_quantity(value: str | int | float) -> Decimal:
    """Kubernetes quantity -> Decimal (``250m`` -> 0.25, ``256Mi`` -> 268435456)."""
    from kubernetes.utils import parse_quantity as k8s_parse  # heavy import: only where limits are built

    return k8s_parse(value)


@dataclass(frozen=True, slots=True)
class Limits:
    cpu: float | None = None  # cores (informational locally)
    memory: int | None = None  # bytes
    cpu_seconds: int | None = None
    open_files: int = 256
    nproc: int | None = 64
    overhead: int = DEFAULT_OVERHEAD

    @classmethod
    def from_quantities(
        cls,
        cpu: str | None = None,
        memory: str | None = None,
        cpu_seconds: int | None = None,
        open_files: int = 256,
        nproc: int | None = 64,
        overhead: int = DEFAULT_OVERHEAD,
    ) -> Limits:
        cores = float(parse_quantity(cpu)) if cpu else None
        mem = int(parse_quantity(memory)) if memory else None
        if cores is not None and cores <= 0:
            raise ValueError(f"cpu must be > 0, got {cpu!r}")
        if mem is not None and mem <= 0:
            raise ValueError(f"memory must be > 0, got {memory!r}")
        return cls(cores, mem, cpu_seconds, open_files, nproc, overhead)

    def rlimits(self) -> dict[int, tuple[int, int]]:
        out: dict[int, tuple[int, int]] = {
            resource.RLIMIT_CORE: (0, 0),
            resource.RLIMIT_NOFILE: (self.open_files, self.open_files),
        }
        if self.memory is not None:
            out[resource.RLIMIT_AS] = (self.memory + self.overhead,) * 2
        if self.cpu_seconds is not None:
            out[resource.RLIMIT_CPU] = (self.cpu_seconds, self.cpu_seconds + 5)
        if self.nproc is not None:
            out[resource.RLIMIT_NPROC] = (self.nproc, self.nproc)
        return out

    def preexec_fn(self) -> Callable[[], None]:
        """A ``preexec_fn`` for subprocess.Popen: only setrlimit calls (async-signal-safe enough)."""
        limits = list(self.rlimits().items())

        def apply() -> None:
            for which, (soft, hard) in limits:
                cur_soft, cur_hard = resource.getrlimit(which)
                if cur_hard != resource.RLIM_INFINITY:
                    hard = min(hard, cur_hard)
                    soft = min(soft, hard)
                resource.setrlimit(which, (soft, hard))

        return apply

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env.update({"MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
        return env
