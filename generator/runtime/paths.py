"""Where the runtime keeps its files: REPO/.git/stratops-runtime/ (never committed) and a short socket dir.

Unix socket paths are limited to 107 bytes, and a repo path alone can exceed that, so the
sockets live in /tmp/stratops-<uid>-<digest of the state dir>/ (mode 0700) instead.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from ..errors import Problem, UserError

STATE_DIR = "stratops-runtime"


@dataclass(frozen=True)
class RuntimePaths:
    root: Path  # REPO/.git/stratops-runtime
    sockets: Path

    @classmethod
    def of(cls, repo_path: Path) -> RuntimePaths:
        root = git_dir(repo_path) / STATE_DIR
        digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
        return cls(root, Path(tempfile.gettempdir()) / f"stratops-{os.getuid()}-{digest}")

    @property
    def ident(self) -> str:
        """Short id of this runtime (names its cgroups)."""
        return self.sockets.name.rsplit("-", 1)[1]

    @property
    def pid_file(self) -> Path:
        return self.root / "up.pid"

    @property
    def status_file(self) -> Path:
        return self.root / "status.json"

    @property
    def signals_file(self) -> Path:
        return self.root / "signals.ndjson"

    @property
    def feed_clock(self) -> Path:
        """How the feed re-stamps its replayed data, per pass (written by the feed, read by the bars route)."""
        return self.root / "feed-clock.json"

    @property
    def sink_routes(self) -> Path:
        """Strategy -> its own sink socket (written by `up`, read by the sink)."""
        return self.root / "sink-routes.json"

    @property
    def sink_stats(self) -> Path:
        """Per-strategy signal counts and drops (written by the sink, read by `up`)."""
        return self.root / "sink-stats.json"

    @property
    def seccomp_filter(self) -> Path:
        return self.root / "seccomp.bpf"

    @property
    def feed_dir(self) -> Path:
        """The feed's socket alone in a folder: sandboxes bind the folder read-only (a restarted feed shows)."""
        return self.sockets / "feed"

    @property
    def feed_endpoint(self) -> str:
        return f"ipc://{self.feed_dir / 'feed.sock'}"

    def sink_dir(self, key: str) -> Path:
        return self.sockets / "sink" / _digest(key)

    def sink_endpoint(self, key: str) -> str:
        return f"ipc://{self.sink_dir(key) / 'sink.sock'}"

    def strategy_dir(self, key: str) -> Path:
        tenant, name = key.split("/")
        return self.root / "strategies" / tenant / name

    def http_socket(self, key: str) -> Path:
        return self.sockets / (_digest(key) + ".sock")

    def create(self) -> None:
        """The runtime's own files: root's alone (0700), never inside a sandbox."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.sockets.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.sockets, 0o700)
        for folder in (self.feed_dir, self.sockets / "sink"):
            folder.mkdir(mode=0o755, exist_ok=True)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def git_dir(repo_path: Path) -> Path:
    try:
        return Path(git.Repo(Path(repo_path)).git_dir).resolve()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(
            f"{repo_path} is not a fleet repo",
            [Problem(str(repo_path), "not a git repository", f"create one with `stratops init {repo_path}`")],
        ) from None
