"""`stratops serve`: the HTTP API over the fleet repo, and `stratops serve token add` for its tokens."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import Problem, UserError
from ..identity import check_user
from .common import repo_option

tokens_option = click.option(
    "--tokens",
    "tokens_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("STRATOPS_TOKENS"),
    show_default="$STRATOPS_TOKENS",
    help="YAML/JSON file with hashed tokens and per-tenant limits.",
)


@click.group(invoke_without_command=True)
@repo_option
@tokens_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--max-body", default=1024 * 1024, show_default=True, type=click.IntRange(1024), help="Body cap, bytes.")
@click.option(
    "--status-source",
    type=click.Choice(["local", "kubernetes"]),
    default="local",
    show_default=True,
    help="Where strategy status comes from: the local runtime (`stratops up`) or the cluster.",
)
@click.option("--kubeconfig", default=None, help="Kubeconfig for --status-source kubernetes (default: in-cluster).")
@click.option("--context", "kube_context", default=None, help="Kubeconfig context.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning"]))
@click.pass_context
def serve(
    ctx: click.Context,
    repo: Path,
    tokens_file: Path | None,
    host: str,
    port: int,
    max_body: int,
    status_source: str,
    kubeconfig: str | None,
    kube_context: str | None,
    log_level: str,
) -> None:
    """Serve the HTTP API for the fleet repo (OpenAPI at /docs)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from ..service.app import Settings, create_app
    from ..service.kube_status import KubeStatus
    from ..service.tokens import load_tokens

    tokens = load_tokens(tokens_file)
    if not len(tokens):
        raise UserError(
            "no API tokens configured",
            [
                Problem(
                    "--tokens", "no tokens file and no STRATOPS_ADMIN_TOKEN", "run `stratops serve token add TENANT`"
                )
            ],
        )
    kube = KubeStatus.connect(kubeconfig, kube_context) if status_source == "kubernetes" else None
    app = create_app(Settings(repo=repo, tokens=tokens, max_body=max_body, kube=kube))
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30)


@serve.group()
def token() -> None:
    """Manage the API tokens file."""


@token.command("add")
@click.argument("tenant", required=False, metavar="[USER@]TENANT")
@click.option("--admin", is_flag=True, help="Create an admin token instead of a tenant's.")
@click.option("--user", default=None, help="The person the token names (default: the tenant's name, or admin).")
@tokens_option
def token_add(tenant: str | None, admin: bool, user: str | None, tokens_file: Path | None) -> None:
    """Create a token for a user of TENANT (or --admin); only its SHA-256 is stored. Prints the token once.

    `token add ann@alice` (or `token add alice --user ann`) names user ann of tenant alice: the API
    authors ann's commits and records ann's review approvals. A token without a user is the
    tenant's own (its user is named after the tenant).
    """
    from ..service.tokens import add_token

    if tokens_file is None:
        raise UserError("no tokens file", [Problem("--tokens", "missing", "pass --tokens FILE or set STRATOPS_TOKENS")])
    if admin == (tenant is not None):
        raise UserError(
            "name a tenant or pass --admin", [Problem("TENANT", "give one of the two", "e.g. `token add ann@alice`")]
        )
    if tenant is not None and "@" in tenant:
        named, _, tenant = tenant.rpartition("@")
        if user is not None and user != named:
            raise UserError("two user names", [Problem("--user", f"{user!r} and {named!r}", "give the user once")])
        user = named
    click.echo(add_token(tokens_file, None if admin else tenant, None if user is None else check_user(user, "--user")))
