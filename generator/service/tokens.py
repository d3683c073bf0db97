"""Bearer tokens and per-tenant limits, from a YAML/JSON file and the environment.

Only SHA-256 digests of tokens are stored: tokens are 256-bit random strings made by
`stratops serve token add`, so a fast hash is enough (nothing to brute-force) and a
presented token is found by its digest, then confirmed with a constant-time compare.

A token names a user within its tenant (generator.identity): a token entry is a digest
(the tenant-wide token of older files: its user is named after the tenant) or
`{digest: "sha256:<hex>", user: ann}`. File format:

    admin: {tokens: ["sha256:<hex>", {digest: "sha256:<hex>", user: root}]}
    defaults: {max_strategies: 100, rate_per_s: 10, burst: 40}
    tenants:
      alice:
        tokens: ["sha256:<hex>", {digest: "sha256:<hex>", user: ann}]
        max_strategies: 20
        max_cpu: "1"
        max_memory: 1Gi

Environment: STRATOPS_ADMIN_TOKEN (a plain token) and STRATOPS_TENANT_TOKENS
("alice=TOKEN,ann@alice=TOKEN"), hashed as they are read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import git
import yaml

from ..errors import Problem, UserError
from ..identity import ADMIN_USER, actor, is_user
from ..spec import is_dns_label
from ..yamlio import load_one

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TOKEN_PREFIX = "sto_"


@dataclass(frozen=True)
class Limits:
    max_strategies: int = 100
    rate_per_s: float = 10.0
    burst: int = 40
    max_cpu: str | None = None
    max_memory: str | None = None


@dataclass(frozen=True)
class Principal:
    tenant: str | None  # None for the admin
    admin: bool
    limits: Limits = field(default_factory=Limits)
    user: str = ""  # the person within the tenant; "" means the default (the tenant's name, or "admin")

    @property
    def name(self) -> str:
        """Who is counted for rate limits and idempotency keys: the tenant (or "admin")."""
        return "admin" if self.admin else str(self.tenant)

    @property
    def caller(self) -> str:
        """Whose Idempotency-Keys these are: each user's own (a token without a user keeps the tenant's)."""
        return f"{self.name}/{self.user}" if self.user else self.name

    @property
    def user_name(self) -> str:
        return self.user or (ADMIN_USER if self.admin else str(self.tenant))

    @property
    def actor(self) -> git.Actor:
        """The git author of this caller's commits: `ann <ann@alice.stratops>`, an admin `root <root@stratops>`."""
        return actor(self.user_name, None if self.admin else self.tenant)

    def may_act_for(self, tenant: str) -> bool:
        return self.admin or self.tenant == tenant


class TokenStore:
    def __init__(self, principals: dict[str, Principal], limits: dict[str, Limits], defaults: Limits):
        self._by_digest = principals
        self._limits = limits
        self.defaults = defaults

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, token: str) -> Principal | None:
        # Looked up by digest: any timing difference tells about the SHA-256 of a guess, never about a token.
        return self._by_digest.get(token_digest(token))

    def limits(self, tenant: str) -> Limits:
        return self._limits.get(tenant, self.defaults)


def token_digest(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def load_tokens(path: Path | None, env: Mapping[str, str] = os.environ, base: Limits = Limits()) -> TokenStore:
    """Tokens and limits from `path` and `env`; `base` are the limits the file's `defaults` start from."""
    doc = _read(path) if path else {}
    where = str(path) if path else "environment"
    defaults = _limits(doc.get("defaults") or {}, base, f"{where}: defaults")
    principals: dict[str, Principal] = {}
    limits: dict[str, Limits] = {}
    admin = doc.get("admin") or {}
    for digest, user in _digests(admin, f"{where}: admin"):
        principals[digest] = Principal(None, True, defaults, user)
    tenants = doc.get("tenants") or {}
    if not isinstance(tenants, dict):
        raise _bad(where, "tenants", "must be a map of tenant -> {tokens, limits}")
    for tenant, entry in tenants.items():
        if not is_dns_label(tenant) or not isinstance(entry, dict):
            raise _bad(where, f"tenants.{tenant}", "tenant names are DNS-1123 labels mapping to {tokens: [...]}")
        limits[tenant] = _limits(entry, defaults, f"{where}: tenants.{tenant}")
        for digest, user in _digests(entry, f"{where}: tenants.{tenant}"):
            principals[digest] = Principal(tenant, False, limits[tenant], user)
    if env.get("STRATOPS_ADMIN_TOKEN"):
        principals[token_digest(env["STRATOPS_ADMIN_TOKEN"])] = Principal(None, True, defaults)
    for item in filter(None, env.get("STRATOPS_TENANT_TOKENS", "").split(",")):
        who, sep, token = item.strip().partition("=")
        user, at, tenant = who.rpartition("@")
        if not sep or not is_dns_label(tenant) or not token or (at and not is_user(user)):
            raise _bad("STRATOPS_TENANT_TOKENS", repr(who[:80]), "write it as tenant=TOKEN,user@tenant=TOKEN")
        limits.setdefault(tenant, defaults)
        principals[token_digest(token)] = Principal(tenant, False, limits[tenant], user)
    return TokenStore(principals, limits, defaults)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the tokens file {path}", [Problem(str(path), str(exc))]) from None
    doc = load_one(text, str(path)) if text.strip() else {}
    if not isinstance(doc, dict):
        raise _bad(str(path), "(top level)", "must be a map with admin, defaults and tenants")
    return doc


def _digests(entry: Any, where: str) -> list[tuple[str, str]]:
    """(digest, user) of each token; a bare digest has the default user ("")."""
    tokens = entry.get("tokens", []) if isinstance(entry, dict) else None
    if not isinstance(tokens, list):
        raise _bad(where, "tokens", 'a list of "sha256:<64 hex>" digests (make them with `stratops serve token add`)')
    out = []
    for n, item in enumerate(tokens):
        if isinstance(item, str) and _DIGEST.match(item):
            out.append((item, ""))
        elif isinstance(item, dict) and set(item) == {"digest", "user"} and isinstance(item["digest"], str):
            if not _DIGEST.match(item["digest"]) or not is_user(item["user"]):
                raise _bad(where, f"tokens[{n}]", 'a "sha256:<64 hex>" digest and a user name (lowercase, digits, ._-)')
            out.append((item["digest"], item["user"]))
        else:
            raise _bad(
                where,
                "tokens",
                'a list of "sha256:<64 hex>" digests or {digest, user} (make them with `stratops serve token add`)',
            )
    return out


def _limits(entry: dict[str, Any], base: Limits, where: str) -> Limits:
    out = base
    for key, kind in (("max_strategies", int), ("rate_per_s", float), ("burst", int)):
        if key in entry:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise _bad(where, key, "a positive number")
            out = replace(out, **{key: kind(value)})
    for key in ("max_cpu", "max_memory"):
        if key in entry:
            if not isinstance(entry[key], str | int | float) or isinstance(entry[key], bool):
                raise _bad(where, key, "a Kubernetes quantity such as 1, 500m or 2Gi")
            out = replace(out, **{key: str(entry[key])})
    return out


def _bad(where: str, field_: str, fix: str) -> UserError:
    return UserError("invalid tokens configuration", [Problem(f"{where}: {field_}", "is not valid", fix)])


def add_token(path: Path, tenant: str | None, user: str | None = None) -> str:
    """Append a new token for `user` of `tenant` (None: admin) to the file; return the plain token (shown once)."""
    doc = _read(path) if path.exists() else {}
    if tenant is not None and not is_dns_label(tenant):
        raise _bad(str(path), repr(tenant), "tenant names are DNS-1123 labels")
    if user is not None and not is_user(user):
        raise _bad(str(path), f"user {user[:80]!r}", "use lowercase letters, digits, '.', '_' and '-' (at most 64)")
    token = new_token()
    entry = doc.setdefault("admin", {}) if tenant is None else doc.setdefault("tenants", {}).setdefault(tenant, {})
    digest = token_digest(token)
    entry.setdefault("tokens", []).append({"digest": digest, "user": user} if user else digest)
    text = json.dumps(doc, indent=2) + "\n" if path.suffix == ".json" else yaml.safe_dump(doc, sort_keys=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    load_tokens(path, {})
    return token
