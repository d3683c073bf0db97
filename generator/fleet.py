"""The fleet repo through gitpython: atomic commits of whole strategy folders, history, revisions.

A commit is built from objects only — blobs, trees, commit — and published by a
compare-and-swap of the branch ref, so a failure or a kill before that point
leaves the repo untouched. The work tree and index are brought in line after
the ref moved; a journal lets the next run finish that step if it was cut short.
Only the trees on the path to the changed folder are rewritten, so the cost of
a commit does not grow with the number of strategies.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any

import git
from git.objects.fun import tree_entries_from_data, tree_to_stream
from gitdb import IStream

from .errors import Problem, UserError

MARKER_FILE = "stratops.yaml"
MAIN_BRANCH = "main"
_TREE_MODE = 0o040000
_FILE_MODE = 0o100644
_NULL_SHA = "0" * 40


@dataclass(frozen=True)
class Change:
    sha: str
    author: str
    email: str
    date: int
    subject: str
    trailers: dict[str, str]


class Fleet:
    """An opened fleet repo. Mutations must run inside `with fleet.lock():`."""

    def __init__(self, path: Path):
        self.path = Path(path).resolve()
        try:
            self.repo = git.Repo(self.path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise not_a_fleet(self.path, "not a git repository") from None
        if self.repo.working_tree_dir and Path(self.repo.working_tree_dir).resolve() != self.path:
            raise not_a_fleet(self.path, "is inside a git repository, not at its top")
        if self.read_file(MARKER_FILE) is None:
            raise not_a_fleet(self.path, f"has no {MARKER_FILE} on {MAIN_BRANCH}")

    # --- locking and recovery -------------------------------------------------

    @contextmanager
    def lock(self, timeout: float = 120.0) -> Iterator[None]:
        """Serialize every writer of this repo (processes and threads alike)."""
        lock_path = Path(self.repo.git_dir) / "stratops.lock"
        with open(lock_path, "a+") as handle:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise UserError(
                            "the fleet repo is busy",
                            [Problem(str(self.path), f"another stratops held the lock for {timeout:.0f}s", "retry")],
                        ) from None
                    time.sleep(0.02)
            try:
                self._finish_interrupted_sync()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def _journal(self) -> Path:
        return Path(self.repo.git_dir) / "stratops-sync"

    def _finish_interrupted_sync(self) -> None:
        if not self._journal.exists():
            return
        parts = self._journal.read_text().split()  # [old, new, folders...]
        branch = self._checked_out_branch()
        if len(parts) >= 2 and branch:  # killed before or after the ref moved: sync to where the branch is now
            self._sync_worktree(parts[0], self.head(branch) or parts[1], parts[2:])
        self._journal.unlink(missing_ok=True)

    # --- reading -------------------------------------------------------------

    def head(self, branch: str = MAIN_BRANCH) -> str | None:
        try:
            return self.repo.rev_parse(f"refs/heads/{branch}").hexsha
        except (git.BadName, ValueError):
            return None

    def resolve(self, rev: str) -> str:
        try:
            return self.repo.rev_parse(rev).hexsha
        except (git.BadName, ValueError, IndexError):
            raise UserError(
                f"unknown revision {rev!r}",
                [Problem("revision", f"{rev!r} names no commit", "use a commit SHA, a branch, or HEAD~N")],
            ) from None

    def read_file(self, path: str, rev: str = MAIN_BRANCH) -> bytes | None:
        try:
            return self.repo.commit(rev).tree[path].data_stream.read()
        except (KeyError, git.BadName, ValueError):
            return None

    def read_folder(self, folder: PurePosixPath | str, rev: str = MAIN_BRANCH) -> dict[str, bytes] | None:
        """The files directly in a folder at a revision, or None if the folder does not exist there."""
        try:
            tree = self.repo.commit(rev).tree[str(folder)]
        except (KeyError, git.BadName, ValueError):
            return None
        return {b.name: b.data_stream.read() for b in tree.blobs}

    def list_folders(self, parent: str, depth: int, rev: str = MAIN_BRANCH) -> list[PurePosixPath]:
        """Folders `depth` levels below `parent` (e.g. strategies/<tenant>/<name> with depth 2)."""
        try:
            level = [self.repo.commit(rev).tree[parent]]
        except (KeyError, git.BadName, ValueError):
            return []
        for _ in range(depth):
            level = [t for tree in level for t in tree.trees]
        return [PurePosixPath(t.path) for t in level]

    def changed_folders(self, old: str, new: str, prefix: str, depth: int) -> set[PurePosixPath]:
        names = self.repo.git.diff("--name-only", "--no-renames", old, new, "--", prefix).splitlines()
        return {
            PurePosixPath(*PurePosixPath(n).parts[: depth + 1])
            for n in names
            if len(PurePosixPath(n).parts) > depth + 1
        }

    def history(self, folder: PurePosixPath | str, rev: str = MAIN_BRANCH, limit: int = 100) -> list[Change]:
        commits = self.repo.iter_commits(rev, paths=str(folder), max_count=limit)
        return [_change(c) for c in commits]

    # --- writing -------------------------------------------------------------

    def commit_folders(
        self,
        changes: dict[PurePosixPath, dict[str, bytes] | None],
        message: str,
        author: git.Actor,
        branch: str = MAIN_BRANCH,
        parent: str | None = None,
        extra_parents: tuple[str, ...] = (),
        allow_empty: bool = False,
    ) -> str | None:
        """Replace (or remove, with None) whole folders in one commit on `branch`.

        Returns the new commit SHA, or None when nothing would change (no empty commits, unless
        `allow_empty`: a review's approvals and comments are commits that change no file).
        """
        parent = parent or self.head(branch) or self.head()
        sha = self.create_commit(changes, message, author, parent, extra_parents=extra_parents, allow_empty=allow_empty)
        if sha is None:
            return None
        self._publish(branch, self.head(branch) or _NULL_SHA, sha, [str(f) for f in changes])
        return sha

    def create_commit(
        self,
        changes: dict[PurePosixPath, dict[str, bytes] | None],
        message: str,
        author: git.Actor,
        parent: str,
        file_changes: dict[str, tuple[bytes, int] | None] | None = None,
        extra_parents: tuple[str, ...] = (),
        allow_empty: bool = False,
    ) -> str | None:
        """A commit on `parent` with whole folders replaced and single files set (blob id, mode) or removed.

        It is not on any branch yet; returns None when the tree would not change (and no merge is recorded).
        """
        base_tree = self.repo.commit(parent).tree.binsha
        edits: dict[str, Any] = {}
        for folder, files in changes.items():
            _set_edit(edits, folder.parts, self._write_folder(files) if files else None)
        for path, blob in (file_changes or {}).items():
            _set_edit(edits, PurePosixPath(path).parts, blob)
        root = self._apply(base_tree, edits)
        if root == base_tree and not extra_parents and not allow_empty:
            return None
        committer = git.Actor("stratops", "stratops@localhost")
        commit = git.Commit.create_from_tree(
            self.repo,
            git.Tree(self.repo, root),
            message,
            parent_commits=[self.repo.commit(p) for p in (parent, *extra_parents)],
            head=False,
            author=author,
            committer=committer,
        )
        return commit.hexsha

    def move_branch(self, branch: str, old: str, new: str) -> None:
        """Point `branch` from `old` to `new` (compare-and-swap), bringing a checked-out work tree along."""
        if old == new:
            return
        checked_out = self._checked_out_branch() == branch
        if checked_out:
            self.repo.git.read_tree("-m", "-u", old, new)
        try:
            self.repo.git.update_ref(f"refs/heads/{branch}", new, old)
        except git.GitCommandError:
            if checked_out:
                self.repo.git.read_tree("-m", "-u", new, old)
            raise UserError(
                "the fleet repo moved during the update", [Problem(branch, "ref changed", "retry")]
            ) from None

    def _publish(self, branch: str, old: str, new: str, folders: list[str]) -> None:
        checked_out = self._checked_out_branch() == branch
        if checked_out:
            staged = self._journal.with_suffix(".tmp")  # whole or absent after a kill, never torn
            staged.write_text(" ".join([old, new, *folders]))
            os.replace(staged, self._journal)
        try:
            self.repo.git.update_ref(f"refs/heads/{branch}", new, old)
        except git.GitCommandError:
            self._journal.unlink(missing_ok=True)
            raise UserError(
                "the fleet repo moved during the commit", [Problem(branch, "ref changed", "retry")]
            ) from None
        if checked_out:
            self._sync_worktree(old, new, folders)
        # Objects are written loose, bypassing `git commit`, so ask for git's own housekeeping as it
        # would: a no-op until thousands of loose objects pile up, then a pack built in the background.
        subprocess.run(["git", "gc", "--auto", "--quiet"], cwd=self.repo.git_dir, check=False, capture_output=True)

    def _checked_out_branch(self) -> str | None:
        if self.repo.bare:
            return None
        try:
            return self.repo.active_branch.name
        except TypeError:  # detached HEAD
            return None

    def _sync_worktree(self, old: str, new: str, folders: list[str]) -> None:
        """Bring index and files of the changed folders to `new`, touching only their paths.

        A two-tree `read-tree -m -u` would stat every file of the repo (0.4 s at 10,000 strategies);
        this costs the changed files plus one rewrite of the index. It is idempotent, so the journal
        can replay it after a kill.
        """
        lines = []
        for folder in folders:
            stale = self._tree_files(old, folder).keys() | _files_under(self.path / folder, self.path)
            lines += [f"0 {_NULL_SHA}\t{path}" for path in sorted(stale)]
            shutil.rmtree(self.path / folder, ignore_errors=True)
            for path, (mode, binsha) in sorted(self._tree_files(new, folder).items()):
                target = self.path / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.repo.odb.stream(binsha).read())
                target.chmod(0o755 if mode & 0o111 else 0o644)
                lines.append(f"{mode:o} {binsha.hex()}\t{path}")
        if lines:
            subprocess.run(
                ["git", "update-index", "--index-info"],
                cwd=self.path,
                input="\n".join(lines) + "\n",
                text=True,
                check=True,
                capture_output=True,
            )
        self._journal.unlink(missing_ok=True)

    def _tree_files(self, rev: str, folder: str) -> dict[str, tuple[int, bytes]]:
        """path -> (mode, blob id) of every file under `folder` at `rev` (empty when absent)."""
        try:
            tree = self.repo.commit(rev).tree[folder]
        except (KeyError, ValueError):
            return {}
        return {b.path: (b.mode, b.binsha) for b in tree.traverse() if b.type == "blob"}

    def _write_blob(self, data: bytes) -> bytes:
        return self.repo.odb.store(IStream(b"blob", len(data), BytesIO(data))).binsha

    def _write_tree(self, entries: list[tuple[bytes, int, str]]) -> bytes:
        entries = sorted(entries, key=lambda e: e[2] + ("/" if e[1] == _TREE_MODE else ""))
        buffer = BytesIO()
        tree_to_stream(entries, buffer.write)
        data = buffer.getvalue()
        return self.repo.odb.store(IStream(b"tree", len(data), BytesIO(data))).binsha

    def _write_folder(self, files: dict[str, bytes]) -> bytes:
        return self._write_tree([(self._write_blob(data), _FILE_MODE, name) for name, data in files.items()])

    def _read_tree(self, binsha: bytes) -> list[tuple[bytes, int, str]]:
        return tree_entries_from_data(self.repo.odb.stream(binsha).read())

    def _apply(self, tree: bytes | None, edits: dict[str, Any]) -> bytes | None:
        """Return `tree` with `edits` applied: name -> nested edits (dict), a new tree id, or None to remove.

        Each touched tree is read and written once, so a commit of many folders costs what its paths cost.
        """
        entries = {e[2]: e for e in (self._read_tree(tree) if tree else [])}
        for name, edit in edits.items():
            if isinstance(edit, tuple):  # a single file: (blob id, mode)
                entries[name] = (edit[0], edit[1], name)
                continue
            if isinstance(edit, dict):
                current = entries.get(name)
                edit = self._apply(current[0] if current and current[1] == _TREE_MODE else None, edit)
            if edit is None:
                entries.pop(name, None)
            else:
                entries[name] = (edit, _TREE_MODE, name)
        return self._write_tree(list(entries.values())) if entries else None


def _set_edit(edits: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    *parents, leaf = parts
    node = edits
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _files_under(folder: Path, root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def _change(commit: git.Commit) -> Change:
    trailers = {}
    for line in commit.message.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.replace("-", "").isalnum() and key[:1].isupper():
            trailers[key] = value.strip()
    return Change(
        commit.hexsha,
        commit.author.name,
        commit.author.email,
        commit.authored_date,
        commit.summary if isinstance(commit.summary, str) else commit.summary.decode(),
        trailers,
    )


def not_a_fleet(path: Path, why: str) -> UserError:
    return UserError(
        f"{path} is not a fleet repo", [Problem(str(path), why, f"create one with `stratops init {path}`")]
    )


def init_repo(path: Path, files: dict[str, bytes], author: git.Actor) -> Fleet:
    """Create a fleet repo with its first commit holding `files` (paths relative to the root)."""
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not _fresh_git_repo(path):
        raise UserError(
            f"cannot create a fleet repo at {path}",
            [
                Problem(
                    str(path), "exists and is not empty", "pick a new or empty folder (or one just made by `git init`)"
                )
            ],
        )
    repo = git.Repo.init(path, initial_branch=MAIN_BRANCH)
    repo.git.symbolic_ref("HEAD", f"refs/heads/{MAIN_BRANCH}")  # a `git init` of its own may have named another
    for name, data in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if name.endswith((".sh", "hook")) or name.startswith(".githooks/"):
            os.chmod(target, 0o755)
    repo.git.add("--all")
    committer = git.Actor("stratops", "stratops@localhost")
    repo.index.commit("init fleet repo", author=author, committer=committer)
    return Fleet(path)


def _fresh_git_repo(path: Path) -> bool:
    """A folder holding nothing but the .git of a `git init` without a single commit or branch."""
    if [p.name for p in path.iterdir()] != [".git"] or not (path / ".git").is_dir():
        return False
    try:
        repo = git.Repo(path)
    except git.InvalidGitRepositoryError:
        return False
    return not repo.bare and not repo.heads and repo.working_tree_dir is not None


def materialize(fleet: Fleet, folder: str, rev: str = MAIN_BRANCH) -> Path | None:
    """A read-only copy of a folder at a revision, cached by tree id (charts, policies)."""
    try:
        tree = fleet.repo.commit(rev).tree[folder]
    except (KeyError, git.BadName, ValueError):
        return None
    root = Path(fleet.repo.git_dir) / "stratops-cache" / tree.hexsha
    if not (root / folder).is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{tree.hexsha}.", dir=root.parent))
        for blob in tree.traverse():
            if blob.type == "blob":
                target = staging / blob.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(blob.data_stream.read())
        try:
            staging.rename(root)
        except OSError:  # another process materialized the same tree first
            shutil.rmtree(staging, ignore_errors=True)
    return root
