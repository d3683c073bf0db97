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
    def feed_endpoint(self) -> str:
        return f"ipc://{self.sockets / 'feed.sock'}"

    @property
    def sink_endpoint(self) -> str:
        return f"ipc://{self.sockets / 'sink.sock'}"

    def strategy_dir(self, key: str) -> Path:
        tenant, name = key.split("/")
        return self.root / "strategies" / tenant / name

    def http_socket(self, key: str) -> Path:
        return self.sockets / (hashlib.sha256(key.encode()).hexdigest()[:16] + ".sock")

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.sockets, 0o700)


def git_dir(repo_path: Path) -> Path:
    try:
        return Path(git.Repo(Path(repo_path)).git_dir).resolve()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(
            f"{repo_path} is not a fleet repo",
            [Problem(str(repo_path), "not a git repository", f"create one with `stratops init {repo_path}`")],
        ) from None
