"""The `stratops` command line: thin commands over generator.actions."""

from __future__ import annotations

import sys

import click

from executor.commands import commands as executor_commands

from ..errors import UserError
from ..policy.commands import policy
from . import backtest_cmd, cluster_cmd, fleet_cmds, gitops_cmds, runtime_cmds, serve_cmd, validate_cmd


class _Stratops(click.Group):
    """Prints user errors as messages (exit 2), never as tracebacks."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.secho(f"error: {exc.title}", fg="red", err=True)
            for problem in exc.problems:
                click.echo(f"  - {problem}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Stratops)
@click.version_option(package_name="stratops")
def main() -> None:
    """Run trading strategies as GitOps: every deploy is a commit in the fleet repo."""


for command in (
    *fleet_cmds.COMMANDS,
    *gitops_cmds.COMMANDS,
    *executor_commands,
    validate_cmd.validate,
    backtest_cmd.backtest,
    policy,
    *runtime_cmds.COMMANDS,
    serve_cmd.serve,
    *cluster_cmd.COMMANDS,
):
    main.add_command(command)
