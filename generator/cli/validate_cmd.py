"""`stratops validate FILE…`: check specs without a fleet repo."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from ..spec import load_spec


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Validate strategy spec files; print every problem with its field path."""
    failed = 0
    for path in files:
        try:
            strategy = load_spec(path)
        except UserError as exc:
            failed += 1
            click.secho(f"{path}: invalid", fg="red", err=True)
            for problem in exc.problems:
                click.echo(f"  - {problem}", err=True)
            continue
        click.echo(f"{path}: ok ({strategy.key}, digest {strategy.digest[:12]})")
    if failed:
        raise SystemExit(2)
