"""Approvals, comments and closing of a review, kept in git as commits on the review branch.

Each act is a commit that changes no file, authored by whoever acted, on top of the branch:

    approve review/alice/x/0123456789ab          comment on review/…       close review/…

    Looks right.                                 <the comment>             <the reason>

    Review-Action: approve                       Review-Action: comment    Review-Action: close
    Review-Head: <the commit approved>

`git log main..review/alice/x/…` is the review's whole record; a merge takes the branch tip as its
second parent, so the record stays reachable from main. Commits that change files are the
review's content: their authors are the review's authors, and approvals given before the last
of them are stale. The rules (how many approvals, from whom) are the tenant's
(generator.review_rules); an author's approval never counts and is refused.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import git

from . import review
from .errors import Problem, UserError
from .fleet import MAIN_BRANCH, Fleet
from .identity import tenant_user
from .review_rules import ReviewRules
from .tenants import review_rules

if TYPE_CHECKING:
    from .actions import Outcome

ACTION = "Review-Action"
ACTIONS = ("approve", "comment", "close")
MAX_TEXT = 4000
MAX_REASON = 200
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*): (.*)$")


@dataclass(frozen=True)
class Act:
    action: str
    name: str
    email: str
    time: int
    sha: str
    text: str

    @property
    def who(self) -> str:
        return f"{self.name} <{self.email}>"

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "user": self.name,
            "email": self.email,
            "time": self.time,
            "sha": self.sha,
            "text": self.text,
        }


@dataclass
class ReviewState:
    branch: str
    tenant: str
    name: str
    tip: str
    head: str  # the last commit that changed files: what is reviewed
    rules: ReviewRules
    authors: dict[str, str] = field(default_factory=dict)  # email -> "Name <email>"
    acts: list[Act] = field(default_factory=list)  # every record, oldest first
    approvals: list[Act] = field(default_factory=list)  # approvals of the current head
    closed: Act | None = None

    def counted(self) -> list[Act]:
        """Approvals that count: one per user, by an allowed user of the tenant, never by an author."""
        seen: dict[str, Act] = {}
        for act in self.approvals:
            user = tenant_user(act.email, self.tenant)
            if user and self.rules.allows(user) and act.email not in self.authors:
                seen.setdefault(act.email, act)
        return list(seen.values())

    @property
    def missing(self) -> int:
        return max(0, self.rules.approvals - len(self.counted()))

    def blockers(self) -> list[Problem]:
        """Why a merge is refused now (empty: it may be merged)."""
        if self.closed:
            return [
                Problem(
                    "review",
                    f"closed by {self.closed.who}: {_first_line(self.closed.text)}",
                    "a closed review is never merged; deploy a new revision for review",
                )
            ]
        if self.missing:
            got = ", ".join(a.who for a in self.counted()) or "none yet"
            return [
                Problem(
                    "approvals",
                    f"{len(self.counted())} of {self.rules.approvals} needed ({got})",
                    f"ask {_approvers_text(self)} to approve it",
                )
            ]
        return []

    def may_approve(self, who: git.Actor) -> str:
        """Why `who` may not approve ("" when they may)."""
        user = tenant_user(who.email, self.tenant)
        if self.closed:
            return f"the review was closed by {self.closed.who}"
        if who.email in self.authors:
            return "you are an author of this review: an author's approval never counts"
        if user is None:
            return f"only users of tenant {self.tenant} approve its reviews"
        if not self.rules.allows(user):
            approvers = ", ".join(self.rules.approvers or ())
            return f"{user} is not an approver of tenant {self.tenant} (approvers: {approvers})"
        if any(a.email == who.email for a in self.approvals):
            return "you already approved this revision"
        return ""

    def as_json(self, viewer: git.Actor | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": "closed" if self.closed else "open",
            "head": self.head,
            "tip": self.tip,
            "authors": list(self.authors.values()),
            "rules": self.rules.as_json(),
            "approvals": [a.as_json() | {"counted": a in self.counted()} for a in self.approvals],
            "comments": [a.as_json() for a in self.acts if a.action == "comment" or (a.action == "approve" and a.text)],
            "events": [a.as_json() for a in self.acts],
            "closed": self.closed.as_json() if self.closed else None,
            "missing": self.missing,
            "mergeable": not self.blockers(),
            "blockers": [str(p) for p in self.blockers()],
        }
        if viewer is not None:
            why = self.may_approve(viewer)
            out["viewer"] = {
                "user": viewer.name,
                "email": viewer.email,
                "author": viewer.email in self.authors,
                "may_approve": not why,
                "why_not": why,
            }
        return out


def _approvers_text(state: ReviewState) -> str:
    users = state.rules.approvers
    who = f"a user of tenant {state.tenant}" if users is None else "one of " + ", ".join(users)
    return who + " who is not an author"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:120] if text.strip() else "(no reason given)"


# --- reading ------------------------------------------------------------------------------------


def trailers(message: str) -> dict[str, list[str]]:
    """The trailers of a commit message: the `Key: value` lines of its last paragraph (git's convention)."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    out: dict[str, list[str]] = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.match(line)
        if not match:
            return {}
        out.setdefault(match.group(1), []).append(match.group(2).strip())
    return out


def state(fleet: Fleet, branch: str) -> ReviewState:
    """Everything recorded on a review branch, read from its commits since main."""
    tenant, name, tip = review.resolve_branch(fleet, branch)
    commits = list(fleet.repo.iter_commits(f"{MAIN_BRANCH}..{tip}", reverse=True))
    found = ReviewState(branch, tenant, name, tip, tip, review_rules(fleet, tenant))
    for commit in commits:
        message = commit.message if isinstance(commit.message, str) else commit.message.decode(errors="replace")
        action = (trailers(message).get(ACTION) or [""])[-1]
        same_tree = len(commit.parents) == 1 and commit.parents[0].tree.binsha == commit.tree.binsha
        if action in ACTIONS and same_tree:
            act = Act(
                action, commit.author.name, commit.author.email, commit.authored_date, commit.hexsha, _body(message)
            )
            found.acts.append(act)
            if action == "approve":
                found.approvals.append(act)
            elif action == "close":
                found.closed = act
        else:  # content: its author is an author of the review; earlier approvals are stale
            found.head = commit.hexsha
            found.authors[commit.author.email] = f"{commit.author.name} <{commit.author.email}>"
            found.approvals.clear()
    return found


def _body(message: str) -> str:
    """The free text of a record: what lies between the subject and the trailers."""
    paragraphs = message.strip().split("\n\n")
    return "\n\n".join(paragraphs[1:-1]).strip()


# --- recording ----------------------------------------------------------------------------------


def clean_text(text: object, where: str, required: bool, limit: int = MAX_TEXT) -> str:
    """A comment or reason: text of at most `limit` characters, no control characters but newlines and tabs."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise UserError(f"invalid {where}", [Problem(where, "is not text", "send a string")])
    text = text.replace("\r\n", "\n").strip()
    problems = []
    if required and not text:
        problems.append(Problem(where, "is empty", "say why, in a few words"))
    if len(text) > limit:
        problems.append(Problem(where, f"{len(text)} characters", f"at most {limit}"))
    if any(ord(c) < 32 and c not in "\n\t" or c in "\x7f\u2028\u2029" for c in text):
        problems.append(Problem(where, "holds control characters", "send plain text"))
    if problems:
        raise UserError(f"invalid {where}", problems)
    return text


def one_line(text: object, where: str) -> str:
    """A reason that goes into a trailer: one line of at most MAX_REASON characters."""
    cleaned = clean_text(text, where, True, MAX_REASON)
    if "\n" in cleaned or "\t" in cleaned:
        raise UserError(f"invalid {where}", [Problem(where, "spans several lines", "write one line")])
    return cleaned


def with_trailers(message: str, pairs: list[tuple[str, str]], cwd: str) -> str:
    """`message` with `pairs` appended as trailers, by `git interpret-trailers` itself."""
    args = ["git", "interpret-trailers", "--if-exists", "addIfDifferent"]
    for key, value in pairs:
        args += ["--trailer", f"{key}: {value}"]
    return subprocess.run(args, input=message, cwd=cwd, capture_output=True, text=True, check=True).stdout


def act(fleet: Fleet, branch: str, action: str, who: git.Actor, text: str = "", push: bool = True) -> Outcome:
    """Record `who`'s approval, comment or close on the review branch (refused when the rules forbid it)."""
    from .actions import Outcome, push_outcome

    text = clean_text(text, "reason" if action == "close" else "comment", action in ("comment", "close"))
    with fleet.lock():
        current = state(fleet, branch)
        _allowed(current, action, who)
        subject = {"approve": "approve", "comment": "comment on", "close": "close"}[action] + f" {branch}"
        pairs = [(ACTION, action)] + ([("Review-Head", current.head)] if action == "approve" else [])
        # The trailers are a paragraph of their own after the text, so no text is ever read as a trailer.
        message = "\n\n".join([subject, *([text] if text else []), "".join(f"{k}: {v}\n" for k, v in pairs)])
        sha = fleet.commit_folders({}, message, who, branch=branch, parent=current.tip, allow_empty=True)
    outcome = Outcome(action, f"{current.tenant}/{current.name}", sha, branch=branch, message=subject)
    return push_outcome(fleet, outcome, push, rebase=False)


def _allowed(current: ReviewState, action: str, who: git.Actor) -> None:
    if action == "approve":
        why = current.may_approve(who)
        if why:
            own = who.email in current.authors
            title = "cannot approve your own review" if own else f"cannot approve {current.branch}"
            raise UserError(title, [Problem("approval", why, _approvers_text(current) + " approves it")])
    elif current.closed:
        raise UserError(
            f"review {current.branch} is closed",
            [Problem("review", f"closed by {current.closed.who}", "deploy a new revision for review")],
        )


def merge_trailers(current: ReviewState, override: tuple[git.Actor, str] | None) -> list[tuple[str, str]]:
    """The audit trailers of a merge commit: where it was reviewed, who approved, who overrode and why."""
    pairs = [("Reviewed-on", current.branch), ("Review-Head", current.tip)]
    pairs += [("Approved-by", a.who) for a in current.counted()]
    if override is not None:
        by, reason = override
        pairs += [("Override-by", f"{by.name} <{by.email}>"), ("Override-reason", reason)]
    return pairs
