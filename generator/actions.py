"""What users do to the fleet: init, deploy, stop, rollback, list, history, diff.

CLI and HTTP handlers are thin over these functions. Each mutation: validate
-> render -> preflight (outside the lock, it is the slow part) -> commit inside
the lock, after checking that the chart and policies it was checked against are
still the ones on the branch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import git

from . import fleet as fleet_mod
from . import layout, remote, review
from .diff import ObjectDiff, diff_objects
from .errors import Problem, UserError
from .fleet import MAIN_BRANCH, Change, Fleet
from .fleet_source import check_url
from .manifests import render_folder
from .preflight import Report, check_folder
from .render import SPEC_FILE, STRATEGIES_DIR, folder_files, strategy_dir
from .spec import UNCAPPED, Caps, Strategy, is_dns_label, load_spec, strategy_from_document
from .tenants import fleet_policies, quota_problems, require_tenant, tenant_caps, tenant_namespace
from .yamlio import load_one

# A last check of what is about to be committed (the service's per-tenant limits), run under the lock.
Admit = Callable[[Fleet, PurePosixPath, dict[str, bytes]], None]


@dataclass
class Outcome:
    action: str
    key: str
    commit: str | None
    branch: str = MAIN_BRANCH
    message: str = ""
    report: Report | None = None
    summary: str = ""
    warnings: list[str] = field(default_factory=list)
    remote: str | None = None  # the remote pushed to; None when the fleet has none
    pushed: bool = False
    unpushed: str = ""  # why the commit is only local (empty when pushed or when there is no remote)


class StaleBase(UserError):
    """A deploy based on a revision of the strategy that is no longer its latest: it would undo a change."""

    exit_code = 4

    def __init__(self, key: str, base: str, last: Change, changes: list[ObjectDiff]):
        self.base, self.current, self.changes = base, last.sha, changes
        super().__init__(
            f"{key} changed since revision {base[:12]}",
            [
                Problem(
                    "base",
                    f"{key} was last changed by {last.sha[:12]} ({last.subject}, by {last.author})",
                    "reload it and apply your edit again, or deploy without a base to overwrite",
                )
            ],
        )

    @property
    def diff_text(self) -> str:
        return "".join(c.text for c in self.changes)


def init(
    path: Path,
    cluster: str,
    author: git.Actor,
    source_url: str | None = None,
    source_secret: str | None = None,
    images: layout.Images | None = None,
) -> Fleet:
    """A new fleet repo; `source_url` is where Flux will fetch it from (tenants' GitRepositories use it),
    `images` where the executor image comes from."""
    check_label(cluster, "cluster")
    if source_url:
        source_url = check_url(source_url)
    if source_secret:
        check_label(source_secret, "source secret")
    images = images or layout.Images()
    check_images(images)
    return fleet_mod.init_repo(path, layout.fleet_files(cluster, source_url, source_secret, images), author)


_IMAGE_PATH = r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+"


def check_images(images: layout.Images) -> None:
    """Image repository `host[:port]/path`, registry prefixes ending in `/`, a pull Secret name: all plain."""
    problems = []
    if not re.fullmatch(_IMAGE_PATH, images.repository) or len(images.repository) > 255:
        problems.append(Problem("--image", repr(images.repository), "write it as registry.example.com/team/executor"))
    for prefix in images.registries:
        if not re.fullmatch(_IMAGE_PATH + "/", prefix) and not re.fullmatch(r"[a-z0-9.-]+(?::[0-9]+)?/", prefix):
            problems.append(
                Problem("--registry", repr(prefix), "write a prefix ending in '/', e.g. registry.example.com/team/")
            )
    if problems:
        raise UserError("invalid image settings", problems)
    if not any(images.repository.startswith(p) for p in images.allowed()):
        raise UserError(
            "the executor image would break the registry policy",
            [Problem("--image", images.repository, f"allow it too: --registry {images.repository.rsplit('/', 1)[0]}/")],
        )
    if images.pull_secret:
        check_label(images.pull_secret, "image pull secret")


def parse_key(key: str) -> tuple[str, str]:
    """`tenant/name` -> (tenant, name), both validated DNS-1123 labels."""
    tenant, sep, name = key.partition("/")
    if not sep:
        raise UserError(f"{key!r} is not a strategy", [Problem("strategy", f"{key!r}", "write it as tenant/name")])
    return check_label(tenant, "tenant"), check_label(name, "name")


def check_label(value: str, what: str) -> str:
    if not is_dns_label(value):
        raise UserError(
            f"invalid {what}",
            [
                Problem(
                    what,
                    f"{value!r} is not a DNS-1123 label",
                    "use lowercase letters, digits and '-', at most 63 characters",
                )
            ],
        )
    return value


# --- deploy ---------------------------------------------------------------------


def load_strategy(fleet: Fleet, spec_path: Path) -> Strategy:
    """Read a spec, with the resource caps of its tenant from the fleet repo."""
    try:
        doc = load_one(spec_path.read_text(encoding="utf-8"), str(spec_path), aliases=False)
    except (OSError, UnicodeDecodeError):
        return load_spec(spec_path)  # reports the read error with the path
    tenant = (
        doc.get("metadata", {}).get("tenant")
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict)
        else None
    )
    caps = tenant_caps(fleet, tenant) if is_dns_label(tenant) else Caps()
    return strategy_from_document(doc, str(spec_path), spec_path.parent, caps)


def deploy(
    fleet: Fleet,
    strategy: Strategy,
    author: git.Actor,
    review_branch: bool = False,
    acting_tenant: str | None = None,
    push: bool = True,
    admit: Admit | None = None,
    base: str | None = None,
) -> Outcome:
    """Commit the strategy; with `base` (the strategy's revision the edit started from) refuse a stale edit."""
    if acting_tenant is not None and acting_tenant != strategy.tenant:
        raise UserError(
            "spec is for another tenant",
            [
                Problem(
                    "metadata.tenant",
                    f"{strategy.tenant!r}, but you act as {acting_tenant!r}",
                    "deploy only your own strategies",
                )
            ],
        )
    folder = strategy_dir(strategy.tenant, strategy.name)
    files = folder_files(strategy)
    if base is not None:
        base = resolve(fleet, base, acting_tenant)
        require_base(fleet, folder, strategy.key, base)  # early, for a fast answer; again under the lock
        admit = _with_base(admit, strategy.key, base)
    current = fleet.read_folder(folder)
    _check_owner(current, strategy.tenant, folder)
    if current == files:
        return Outcome(
            "deploy",
            strategy.key,
            None,
            message=f"{strategy.key} is already deployed with this spec; nothing to commit",
        )
    branch = f"review/{strategy.tenant}/{strategy.name}/{strategy.digest[:12]}" if review_branch else MAIN_BRANCH
    if review_branch and (opened := _open_review(fleet, branch, strategy.key)):
        return opened
    subject = f"deploy {strategy.key}"
    body = _describe_change(current, files)
    trailers = {"Strategy": strategy.key, "Spec-Digest": f"sha256:{strategy.digest}", "Action": "deploy"}
    message = _message(subject, body, trailers)
    outcome = _commit_checked(fleet, folder, files, author, message, branch, strategy.tenant, push, admit)
    outcome.action = "deploy"
    if review_branch:
        old_objects = rendered_objects(fleet, folder, MAIN_BRANCH)
        outcome.summary = review.summary(strategy.key, current, files, old_objects, outcome.report)
    return outcome


def _open_review(fleet: Fleet, branch: str, key: str) -> Outcome | None:
    """A review of this very spec exists already: its record (approvals, comments) is kept, never rewritten."""
    from . import approvals

    if branch not in review.branch_tips(fleet):
        return None
    record = approvals.state(fleet, branch)
    if record.closed:
        raise UserError(
            f"the review {branch} of this spec was closed",
            [Problem("review", f"closed by {record.closed.who}", "change the strategy to open a new review")],
        )
    return Outcome("deploy", key, None, branch=branch, message=f"{key} is already open for review on {branch}")


def require_base(fleet: Fleet, folder: PurePosixPath, key: str, base: str) -> None:
    """The folder's last change must be `base` or before it: else someone changed it since the edit began.

    The strategy's own revision counts, not main's: another strategy's deploy never makes an edit stale.
    """
    changes = fleet.history(folder, limit=1)
    if changes and not fleet.repo.is_ancestor(changes[0].sha, base):
        raise StaleBase(
            key,
            base,
            changes[0],
            diff_objects(rendered_objects(fleet, folder, base), rendered_objects(fleet, folder, MAIN_BRANCH)),
        )


def _with_base(admit: Admit | None, key: str, base: str) -> Admit:
    def check(fleet: Fleet, folder: PurePosixPath, files: dict[str, bytes]) -> None:
        require_base(fleet, folder, key, base)
        if admit is not None:
            admit(fleet, folder, files)

    return check


def _check_owner(current: dict[str, bytes] | None, tenant: str, folder: PurePosixPath) -> None:
    if not current or SPEC_FILE not in current:
        return
    doc = load_one(current[SPEC_FILE].decode(), f"{folder}/{SPEC_FILE}")
    owner = (doc.get("metadata") or {}).get("tenant") if isinstance(doc, dict) else None
    if owner != tenant:
        raise UserError(
            "the strategy folder belongs to another tenant",
            [
                Problem(
                    str(folder),
                    f"strategy.yaml says tenant {owner!r}",
                    "fix the fleet repo by hand or pick another name",
                )
            ],
        )


def _describe_change(old: dict[str, bytes] | None, new: dict[str, bytes] | None) -> str:
    if old is None:
        return "New strategy."
    if new is None:
        return "Strategy removed."
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return "Changed: " + ", ".join(changed) + "."


def _message(subject: str, body: str, trailers: dict[str, str]) -> str:
    return f"{subject}\n\n{body}\n\n" + "".join(f"{k}: {v}\n" for k, v in trailers.items())


# --- the checked commit ---------------------------------------------------------


def _commit_checked(
    fleet: Fleet,
    folder: PurePosixPath,
    files: dict[str, bytes] | None,
    author: git.Actor,
    message: str,
    branch: str,
    tenant: str,
    push: bool = True,
    admit: Admit | None = None,
) -> Outcome:
    """Preflight `files` for `folder` (None removes it), commit them, push; refuse on any error finding."""
    for _ in range(3):
        basis, seen = _basis(fleet), fleet.head()
        report = check_change(fleet, folder, files, tenant) if files is not None else None
        with fleet.lock():
            if _basis(fleet) != basis:
                continue  # chart or policies changed under us: check again against the new ones
            if files is not None and fleet.head() != seen:
                _check_quota(fleet, folder, files, tenant)  # another writer may have used the quota meanwhile
            if files is not None and admit is not None:
                admit(fleet, folder, files)
            sha = fleet.commit_folders({folder: files}, message, author, branch=branch, parent=fleet.head())
        outcome = Outcome(
            "",
            f"{tenant}/{folder.name}",
            sha,
            branch=branch,
            report=report,
            message=message.splitlines()[0],
            warnings=[str(w) for w in report.warnings] if report else [],
        )
        return push_outcome(fleet, outcome, push, rebase=branch == MAIN_BRANCH) if sha else outcome
    raise UserError("the fleet's chart or policies keep changing", [Problem(str(folder), "retry later")])


def check_change(
    fleet: Fleet, folder: PurePosixPath, files: dict[str, bytes], tenant: str, rev: str = MAIN_BRANCH
) -> Report:
    """The preflight of a folder plus the tenant's quota, against revision `rev`; raises on any error."""
    require_tenant(fleet, tenant, rev)
    report = preflight(fleet, folder, files, tenant, rev)
    report.raise_for_errors(f"{tenant}/{folder.name}")
    _check_quota(fleet, folder, files, tenant, rev)
    return report


def _check_quota(
    fleet: Fleet, folder: PurePosixPath, files: dict[str, bytes], tenant: str, rev: str = MAIN_BRANCH
) -> None:
    strategy = strategy_of_folder(files, str(folder)) if SPEC_FILE in files else None
    resources = {"cpu": strategy.cpu, "memory": strategy.memory} if strategy else {}
    problems = quota_problems(fleet, tenant, folder.name, resources, rev)
    if problems:
        raise UserError(f"{tenant}/{folder.name} would exceed the quota of tenant {tenant}", problems)


def push_outcome(fleet: Fleet, outcome: Outcome, push: bool = True, rebase: bool = True) -> Outcome:
    """Push the outcome's branch when the fleet has a remote; record what happened on the outcome."""
    if not push:
        return outcome

    def recheck(folder: PurePosixPath, files: dict[str, bytes], rev: str) -> None:
        check_change(fleet, folder, files, folder.parts[1], rev)

    result = remote.publish(fleet, outcome.branch, recheck, rebase=rebase)
    outcome.remote, outcome.pushed = result.remote, result.pushed
    if result.pushed:
        outcome.commit = result.commit
    elif result.remote:
        outcome.unpushed = result.problem
    return outcome


def _basis(fleet: Fleet) -> tuple[str | None, ...]:
    head = fleet.repo.commit(MAIN_BRANCH).tree
    return tuple(_tree_id(head, p) for p in ("charts", "policies", "infrastructure"))


def _tree_id(tree: git.Tree, path: str) -> str | None:
    try:
        return tree[path].hexsha
    except KeyError:
        return None


def preflight(
    fleet: Fleet, folder: PurePosixPath, files: dict[str, bytes], tenant: str, rev: str = MAIN_BRANCH
) -> Report:
    chart_root = fleet_mod.materialize(fleet, "charts", rev)
    if chart_root is None:
        raise UserError(
            "the fleet repo has no charts/",
            [Problem(str(fleet.path), "charts/ is missing", "restore it from `stratops init`")],
        )
    return check_folder(
        files, str(folder), chart_root, tenant_namespace(fleet, tenant, rev), fleet_policies(fleet, rev)
    )


# --- stop and rollback -----------------------------------------------------------


def stop(fleet: Fleet, key: str, author: git.Actor, acting_tenant: str | None = None, push: bool = True) -> Outcome:
    tenant, name = _own_key(key, acting_tenant)
    folder = strategy_dir(tenant, name)
    if fleet.read_folder(folder) is None:
        raise _not_deployed(key)
    trailers = {"Strategy": key, "Action": "stop"}
    outcome = _commit_checked(
        fleet, folder, None, author, _message(f"stop {key}", "Strategy removed.", trailers), MAIN_BRANCH, tenant, push
    )
    outcome.action = "stop"
    return outcome


def rollback(
    fleet: Fleet,
    key: str,
    author: git.Actor,
    to: str | None = None,
    acting_tenant: str | None = None,
    push: bool = True,
    admit: Admit | None = None,
) -> Outcome:
    """Undo the strategy's last change (a revert of that commit for this folder), or restore it as of `to`.

    Restoring the folder's content is what `git revert` of a one-folder commit
    does, and it cannot conflict, so no half-done revert is ever left behind.
    """
    tenant, name = _own_key(key, acting_tenant)
    folder = strategy_dir(tenant, name)
    changes = fleet.history(folder, limit=1)
    if not changes:
        raise _not_deployed(key)
    last = changes[0]
    if to is None:
        parents = fleet.repo.commit(last.sha).parents
        target = fleet.read_folder(folder, parents[0].hexsha) if parents else None
        subject = f'Revert "{last.subject}"'
        body = f"This reverts commit {last.sha}."
    else:
        target_rev = resolve(fleet, to, acting_tenant)
        target = fleet.read_folder(folder, target_rev)
        subject = f"rollback {key} to {target_rev[:12]}"
        body = f"Restores {folder} as of commit {target_rev}."
    if target == fleet.read_folder(folder):
        return Outcome("rollback", key, None, message=f"{key} already matches that revision; nothing to commit")
    trailers = {"Strategy": key, "Action": "rollback"}
    if target is not None:
        trailers["Spec-Digest"] = f"sha256:{strategy_of_folder(target, str(folder)).digest}"
    message = _message(subject, body, trailers)
    outcome = _commit_checked(fleet, folder, target, author, message, MAIN_BRANCH, tenant, push, admit)
    outcome.action = "rollback"
    return outcome


def resolve(fleet: Fleet, rev: str, acting_tenant: str | None = None) -> str:
    """`rev` as a commit SHA. A tenant resolves only what main or its own review branches hold:
    another tenant's review branch is not theirs to read (and may carry their folder rewritten)."""
    if acting_tenant is None:
        return fleet.resolve(rev)
    other = review.REVIEW_PREFIX in rev and f"{review.REVIEW_PREFIX}{acting_tenant}/" not in rev
    sha = None if other else fleet.resolve(rev)
    if sha is None or not review.reachable_for(fleet, sha, acting_tenant):
        raise UserError(
            f"unknown revision {rev!r}",
            [Problem("revision", f"{rev!r} is not on main nor on a review branch of {acting_tenant}", "use your own")],
        )
    return sha


def _own_key(key: str, acting_tenant: str | None) -> tuple[str, str]:
    tenant, name = parse_key(key)
    if acting_tenant is not None and acting_tenant != tenant:
        raise UserError("strategy belongs to another tenant", [Problem("strategy", key, "act on your own strategies")])
    return tenant, name


def _not_deployed(key: str) -> UserError:
    return UserError(f"{key} is not deployed", [Problem("strategy", key, "see `stratops list`")])


def strategy_of_folder(files: dict[str, bytes], origin: str) -> Strategy:
    doc = load_one(files[SPEC_FILE].decode(), f"{origin}/{SPEC_FILE}") if SPEC_FILE in files else None
    return strategy_from_document(doc, f"{origin}/{SPEC_FILE}", files, UNCAPPED)


# --- reading ----------------------------------------------------------------------


def list_strategies(fleet: Fleet, tenant: str | None = None, rev: str = MAIN_BRANCH) -> list[dict[str, Any]]:
    out = []
    for folder in fleet.list_folders(STRATEGIES_DIR, 2, rev):
        if tenant and folder.parts[1] != tenant:
            continue
        data = fleet.read_file(f"{folder}/{SPEC_FILE}", rev)
        doc = load_one(data.decode(), str(folder)) if data else {}
        spec = doc.get("spec", {}) if isinstance(doc, dict) else {}
        out.append(
            {
                "tenant": folder.parts[1],
                "name": folder.parts[2],
                "class": spec.get("code", {}).get("class"),
                "subscriptions": spec.get("subscriptions", []),
                "resources": spec.get("resources", {}),
            }
        )
    return out


def history(fleet: Fleet, key: str, limit: int = 100) -> list[Change]:
    """The commits that changed the strategy's folder, newest first; refused when it never existed."""
    tenant, name = parse_key(key)
    changes = fleet.history(strategy_dir(tenant, name), limit=limit)
    if not changes:
        raise _not_deployed(key)
    return changes


def diff(fleet: Fleet, rev1: str = "HEAD~1", rev2: str = "HEAD") -> list[ObjectDiff]:
    """The change in rendered Kubernetes objects between two revisions of the fleet."""
    old, new = fleet.resolve(rev1), fleet.resolve(rev2)
    if _tree_id(fleet.repo.commit(old).tree, "charts") != _tree_id(fleet.repo.commit(new).tree, "charts"):
        folders = set(fleet.list_folders(STRATEGIES_DIR, 2, old)) | set(fleet.list_folders(STRATEGIES_DIR, 2, new))
    else:
        folders = fleet.changed_folders(old, new, STRATEGIES_DIR, 2)
    out: list[ObjectDiff] = []
    for folder in sorted(folders):
        out += diff_objects(rendered_objects(fleet, folder, old), rendered_objects(fleet, folder, new))
    return out


def rendered_objects(fleet: Fleet, folder: PurePosixPath, rev: str) -> list[dict[str, Any]]:
    files = fleet.read_folder(folder, rev)
    if files is None:
        return []
    chart_root = fleet_mod.materialize(fleet, "charts", rev)
    return render_folder(files, str(folder), chart_root).all_objects()
