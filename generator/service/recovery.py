"""Start-up repair of a fleet repo after a crash (kill -9 mid-commit).

Commits themselves are atomic (objects first, then a compare-and-swap of the ref, see
generator.fleet), so only the work tree and index can be left behind: the fleet's
journal finishes an interrupted sync, and this module clears a stale `index.lock`
left by a killed git process and re-syncs strategies/ if it still differs from main.
"""

from __future__ import annotations

import fcntl
import logging
import time
from pathlib import Path

from ..fleet import MAIN_BRANCH, Fleet
from ..render import STRATEGIES_DIR

log = logging.getLogger("stratops.service")
STALE_LOCK_WAIT_S = 2.0
SYNC_JOURNAL = "stratops-sync"  # written by Fleet before it moves a checked-out branch


def recover(repo: Path) -> list[str]:
    """Make the work tree match main again; return what was repaired (empty when nothing was)."""
    fleet = Fleet(repo)
    git_dir = Path(fleet.repo.git_dir)
    done = []
    with open(git_dir / "stratops.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # no stratops writer runs while we look at git's own lock
        index_lock = git_dir / "index.lock"
        deadline = time.monotonic() + STALE_LOCK_WAIT_S
        while index_lock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # a git command run by hand would finish and remove it
        if index_lock.exists():
            index_lock.unlink(missing_ok=True)
            done.append("removed a stale .git/index.lock")
    if (git_dir / SYNC_JOURNAL).exists():
        done.append("finished a work-tree sync cut short by a kill")
    with fleet.lock():  # replays the journal
        if fleet.repo.head.is_detached or fleet.repo.active_branch.name != MAIN_BRANCH:
            return done
        dirty = fleet.repo.git.status("--porcelain", "--untracked-files=all", "--", STRATEGIES_DIR)
        if dirty:
            fleet.repo.git.reset("-q", MAIN_BRANCH, "--", STRATEGIES_DIR)
            if fleet.list_folders(STRATEGIES_DIR, 0):
                fleet.repo.git.checkout("-f", MAIN_BRANCH, "--", STRATEGIES_DIR)
            fleet.repo.git.clean("-fdq", "--", STRATEGIES_DIR)
            done.append(f"restored {len(dirty.splitlines())} paths under {STRATEGIES_DIR}/ to {MAIN_BRANCH}")
    for line in done:
        log.warning("recovery: %s", line)
    return done
