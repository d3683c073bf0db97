"""The fleet repo's remote: push after each change, and rebase onto the remote when it moved.

Credentials come from git's own configuration (credential helpers, SSH keys);
git is never allowed to prompt. A push that is not a fast-forward fetches the
remote branch, replays the local commits that are not on it (each strategy
folder as a whole, other files one by one), re-runs the check of every replayed
strategy folder against the new tip, and tries again with back-off. Anything
that cannot be pushed stays committed locally and is reported as unpushed.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

import git

from .errors import UserError
from .fleet import Fleet
from .render import STRATEGIES_DIR

DEFAULT_REMOTE = "origin"
CONFIG_KEY = "stratops.remote"
_RETRYABLE = ("[rejected]", "non-fast-forward", "fetch first", "cannot lock ref", "failed to update ref", "stale info")

# Re-checks a strategy folder about to be replayed onto revision `rev`; raises UserError to refuse it.
Recheck = Callable[[PurePosixPath, dict[str, bytes], str], None]


@dataclass
class PushResult:
    remote: str | None  # None: the fleet has no remote, so there is nothing to push
    pushed: bool = False
    commit: str | None = None  # the branch tip after the push (a rebase makes a new commit)
    rebases: int = 0
    problem: str = ""


def remote_name(fleet: Fleet, explicit: str | None = None) -> str | None:
    """The remote to push to: the one given, else `git config stratops.remote`, else origin if it exists."""
    if explicit:
        return explicit
    section, option = CONFIG_KEY.split(".")
    configured = fleet.repo.config_reader().get_value(section, option, default="")
    if configured:
        return str(configured)
    return DEFAULT_REMOTE if DEFAULT_REMOTE in [r.name for r in fleet.repo.remotes] else None


def publish(
    fleet: Fleet,
    branch: str,
    recheck: Recheck,
    remote: str | None = None,
    attempts: int = 8,
    rebase: bool = True,
) -> PushResult:
    """Push `branch`; on a non-fast-forward, rebase onto the remote and retry (with back-off)."""
    name = remote_name(fleet, remote)
    result = PushResult(name, commit=fleet.head(branch))
    if name is None:
        return result
    if name not in [r.name for r in fleet.repo.remotes]:
        result.problem = f"the fleet repo has no remote {name!r} (add one with `git remote add {name} URL`)"
        return result
    for attempt in range(attempts):
        error = _push(fleet, name, branch)
        if error is None:
            result.pushed = True
            if result.rebases:  # our commit was replayed: the branch tip is its new form
                result.commit = fleet.head(branch)
            return result
        if not rebase or not any(marker in error for marker in _RETRYABLE):
            result.problem = error
            return result
        time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
        try:
            base = fetch(fleet, name, branch)
            if base is not None:
                rebase_onto(fleet, branch, base, recheck)
                result.rebases += 1
        except UserError as exc:
            result.problem = f"rebase onto {name}/{branch} refused: {exc.render()}"
            return result
        except git.GitCommandError as exc:
            result.problem = _git_error(exc.stderr or str(exc))
            return result
    result.problem = f"{name} kept moving: gave up after {attempts} attempts"
    return result


def fetch(fleet: Fleet, remote: str, branch: str) -> str | None:
    """Fetch one branch of the remote; return its tip, or None when the remote has no such branch."""
    run = _git(fleet, "fetch", "--quiet", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")
    if run.returncode != 0:
        if "couldn't find remote ref" in run.stderr:
            return None
        raise git.GitCommandError(["git", "fetch", remote], run.returncode, run.stderr)
    return fleet.repo.rev_parse(f"refs/remotes/{remote}/{branch}").hexsha


def fetch_all(fleet: Fleet, remote: str) -> str:
    """Fetch every branch of the remote (review branches included); return a problem text, empty when fine."""
    run = _git(fleet, "fetch", "--quiet", "--prune", remote, f"+refs/heads/*:refs/remotes/{remote}/*")
    return "" if run.returncode == 0 else _git_error(run.stderr)


def delete_remote_branch(fleet: Fleet, remote: str, branch: str) -> str:
    run = _git(fleet, "push", "--quiet", remote, f":refs/heads/{branch}")
    return "" if run.returncode == 0 else _git_error(run.stderr)


def rebase_onto(fleet: Fleet, branch: str, base: str, recheck: Recheck) -> str:
    """Replay the commits of `branch` that `base` lacks onto `base`; return the new tip."""
    with fleet.lock():
        local = fleet.head(branch)
        if local is None or fleet.repo.is_ancestor(local, base):
            tip = base
        else:
            tip = base
            for commit in fleet.repo.iter_commits(f"{base}..{local}", first_parent=True, reverse=True):
                folders, files = _changes(fleet, commit)
                for folder, content in folders.items():
                    if content is not None:
                        recheck(folder, content, tip)
                merged = tuple(p.hexsha for p in commit.parents[1:])  # a review merge stays a merge
                new = fleet.create_commit(
                    folders, commit.message, commit.author, tip, file_changes=files, extra_parents=merged
                )
                tip = new or tip
        if local:
            fleet.move_branch(branch, local, tip)
        return tip


def _changes(
    fleet: Fleet, commit: git.Commit
) -> tuple[dict[PurePosixPath, dict[str, bytes] | None], dict[str, tuple[bytes, int] | None]]:
    """What a commit changed against its first parent: whole strategy folders, and single other files."""
    parent = commit.parents[0].hexsha if commit.parents else None
    names = fleet.repo.git.diff("--name-only", "--no-renames", parent or _EMPTY_TREE, commit.hexsha).splitlines()
    folders: dict[PurePosixPath, dict[str, bytes] | None] = {}
    files: dict[str, tuple[bytes, int] | None] = {}
    for name in names:
        path = PurePosixPath(name)
        if path.parts[0] == STRATEGIES_DIR and len(path.parts) >= 4:
            folder = PurePosixPath(*path.parts[:3])
            folders.setdefault(folder, fleet.read_folder(folder, commit.hexsha))
        else:
            try:
                blob = commit.tree[name]
                files[name] = (blob.binsha, blob.mode)
            except KeyError:
                files[name] = None
    return folders, files


_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def _push(fleet: Fleet, remote: str, branch: str) -> str | None:
    run = _git(fleet, "push", "--porcelain", remote, f"refs/heads/{branch}:refs/heads/{branch}")
    if run.returncode == 0:
        return None
    return _git_error(run.stdout + run.stderr)


def _git(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return subprocess.run(
        ["git", *args], cwd=fleet.path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _git_error(text: str) -> str:
    """git's own words, on one line; auth failures get the fix."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("To ")]
    message = "; ".join(lines) or "git failed without a message"
    lowered = message.lower()
    if any(w in lowered for w in ("authentication", "permission denied", "could not read username", "403")):
        message += " (credentials come from git: configure a credential helper or an SSH key for this remote)"
    return message
