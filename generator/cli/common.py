"""Options shared by commands: the fleet repo and the author."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import click
import git

from ..errors import Problem, UserError
from ..fleet import Fleet

repo_option = click.option(
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("STRATOPS_FLEET", "."),
    show_default="$STRATOPS_FLEET or .",
    help="The fleet repo.",
)
author_option = click.option(
    "--author", "author", default=None, help='Commit author, "Name <email>" (default: git config user).'
)
tenant_option = click.option(
    "--as-tenant", "acting_tenant", default=None, help="Act as this tenant: refuse anything of another tenant."
)


def open_fleet(repo: Path) -> Fleet:
    return Fleet(repo)


def author_of(text: str | None) -> git.Actor:
    text = text or os.environ.get("STRATOPS_AUTHOR") or _git_user()
    match = re.fullmatch(r"\s*([^<>]+?)\s*<([^<>\s]+)>\s*", text or "")
    if not match:
        raise UserError("invalid author", [Problem("--author", repr(text), 'write it as "Name <email>"')])
    return git.Actor(match.group(1), match.group(2))


def _git_user() -> str:
    def config(key: str) -> str:
        result = subprocess.run(["git", "config", "--get", key], capture_output=True, text=True, check=False)
        return result.stdout.strip()

    name, email = config("user.name"), config("user.email")
    user = os.environ.get("USER", "user")
    return f"{name or user} <{email or f'{user}@localhost'}>"
