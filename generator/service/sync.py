"""The `sync` field: whether what runs is what main says, apart from how it runs (`state`).

Like Argo CD's sync status and Flux's Ready-at-revision:
- `OutOfSync`: main holds a revision of the strategy that the runtime (or the cluster) has not
  taken up yet, or refused (Invalid: the last good revision keeps running);
- `Progressing`: taken up, but the pod running it is not there and ready yet (an old pod may
  still be terminating: a rollback is not Synced while the old revision runs); in the cluster:
  the HelmRelease's spec is the one rendered at the revision, but helm-controller has not
  reconciled that generation Ready or the Deployment is not available;
- `Synced`: the strategy's revision on main runs, ready;
- `Unknown`: the runtime or the cluster cannot be asked.
"""

from __future__ import annotations

from typing import Any

UNKNOWN_STATES = {"Unknown"}


def sync_of(desired: str | None, row: dict[str, Any]) -> dict[str, Any]:
    """`{status, revision, message}` for one strategy: `desired` is its revision on main, `row` its status."""
    state = row.get("state")
    if state in UNKNOWN_STATES:
        return {"status": "Unknown", "revision": desired, "message": row.get("message", "")}
    if desired is None:
        return {"status": "OutOfSync", "revision": None, "message": "not on main"}
    if state == "Absent":
        return {"status": "OutOfSync", "revision": desired, "message": "not taken up yet"}
    applied = row.get("revision")  # in the cluster: the commit the live HelmRelease's spec is rendered at
    if applied != desired:
        return {"status": "OutOfSync", "revision": desired, "message": f"runs {str(applied or 'nothing')[:12]}"}
    if state == "Invalid":
        return {"status": "OutOfSync", "revision": desired, "message": "refused: " + str(row.get("message", ""))}
    if row.get("source") == "kubernetes":
        running = applied if (row.get("helmrelease") or {}).get("reconciled") else None
    else:
        running = row.get("running_revision", applied)
    if state != "Running" or not row.get("ready") or running != applied:
        return {"status": "Progressing", "revision": desired, "message": f"{state}: {row.get('message') or ''}"}
    return {"status": "Synced", "revision": desired, "message": ""}
