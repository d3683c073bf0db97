"""Who acts: a user within a tenant (or an admin), and the git identity their commits carry.

A user name reaches git author headers and commit trailers, so it is held to a small alphabet:
lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit, at most
64 characters (no spaces, newlines, '<', '>' or '@'). A tenant user `ann` of tenant `alice`
commits as `ann <ann@alice.stratops>`; an admin user `root` as `root <root@stratops>`. The
email is how a review tells its author and approvers apart, so no two users share one.
"""

from __future__ import annotations

import re

import git

from .errors import Problem, UserError

USER_PATTERN = r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?"
_USER = re.compile(rf"^{USER_PATTERN}$")
ADMIN_USER = "admin"  # the user of an admin token that names none
DOMAIN = "stratops"


def is_user(name: object) -> bool:
    return isinstance(name, str) and bool(_USER.fullmatch(name)) and ".." not in name


def check_user(name: object, where: str = "user") -> str:
    if not is_user(name):
        raise UserError(
            "invalid user name",
            [
                Problem(
                    where,
                    f"{str(name)[:80]!r} is not a user name",
                    "use lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit, "
                    "at most 64 characters",
                )
            ],
        )
    return str(name)


def user_email(user: str, tenant: str | None) -> str:
    """`ann@alice.stratops` for a tenant's user, `root@stratops` for an admin (tenants never end in `stratops`)."""
    return f"{user}@{tenant}.{DOMAIN}" if tenant else f"{user}@{DOMAIN}"


def actor(user: str, tenant: str | None) -> git.Actor:
    return git.Actor(check_user(user), user_email(user, tenant))


def tenant_user(email: str, tenant: str) -> str | None:
    """The user name when `email` is a user of `tenant` (`ann@alice.stratops` -> ann), else None."""
    user, sep, domain = email.partition("@")
    return user if sep and domain == f"{tenant}.{DOMAIN}" and is_user(user) else None
