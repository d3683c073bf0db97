"""A tenant's review rules: how many approvals a review needs, and who may give them.

They live with the tenant's other settings, as annotations of its namespace in the fleet repo
(infrastructure/tenants/<tenant>/namespace.yaml), so every change of a rule is a commit:

    stratops.io/review-approvals: "2"          # approvals needed before a merge (1 to 10)
    stratops.io/review-approvers: "ann,bob"    # user names, or "*" for any user of the tenant

A tenant without them needs one approval from any of its users. The author of a review never
counts, whatever the rules say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import Problem, UserError
from .identity import is_user

APPROVALS = "stratops.io/review-approvals"
APPROVERS = "stratops.io/review-approvers"
ANY_USER = "*"
MAX_APPROVALS = 10
MAX_APPROVERS = 100


@dataclass(frozen=True)
class ReviewRules:
    approvals: int = 1
    approvers: tuple[str, ...] | None = None  # None: any user of the tenant

    def allows(self, user: str) -> bool:
        return self.approvers is None or user in self.approvers

    def annotations(self) -> dict[str, str]:
        return {APPROVALS: str(self.approvals), APPROVERS: ",".join(self.approvers) if self.approvers else ANY_USER}

    def describe(self) -> str:
        who = "any user of the tenant" if self.approvers is None else ", ".join(self.approvers)
        return f"{self.approvals} approval{'s' if self.approvals != 1 else ''} from {who}"

    def as_json(self) -> dict[str, Any]:
        return {"approvals": self.approvals, "approvers": list(self.approvers) if self.approvers else ANY_USER}


def parse_approvals(value: object, where: str = "--approvals") -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if isinstance(value, bool) or not 1 <= number <= MAX_APPROVALS:
        raise UserError(
            "invalid review rules",
            [Problem(where, f"{str(value)[:40]!r}", f"give a whole number from 1 to {MAX_APPROVALS}")],
        )
    return number


def parse_approvers(value: str, where: str = "--approvers") -> tuple[str, ...] | None:
    """ "*" (or "any") -> None; "ann,bob" -> ("ann", "bob"), each a valid user name."""
    text = str(value).strip()
    if text in (ANY_USER, "any"):
        return None
    names = [n.strip() for n in text.split(",")]
    bad = [n for n in names if not is_user(n)]
    if bad or not names or len(names) > MAX_APPROVERS:
        raise UserError(
            "invalid review rules",
            [
                Problem(
                    where,
                    f"{', '.join(repr(b[:40]) for b in bad) or text[:40]!r} is not a list of user names",
                    f'write user names separated by commas (at most {MAX_APPROVERS}), or "*" for any user',
                )
            ],
        )
    return tuple(dict.fromkeys(names))


def rules_of(namespace: dict[str, Any]) -> ReviewRules:
    """The rules a tenant namespace carries; a malformed annotation falls back to the strictest reading."""
    annotations = (namespace.get("metadata") or {}).get("annotations") or {}
    defaults = ReviewRules()
    try:
        approvals = parse_approvals(annotations[APPROVALS]) if APPROVALS in annotations else defaults.approvals
    except UserError:
        approvals = MAX_APPROVALS
    try:
        approvers = parse_approvers(annotations[APPROVERS]) if APPROVERS in annotations else defaults.approvers
    except UserError:
        approvers = ()  # nobody: only an explicit override merges until the rule is fixed
    return ReviewRules(approvals, approvers)
