"""`stratops validate FILE…`: check specs without a fleet repo."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import Problem, UserError
from ..spec import load_spec


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Flag subscriptions to symbols this recorded data lacks (default: the feed's bundled sample).",
)
def validate(files: tuple[Path, ...], data: Path | None) -> None:
    """Validate strategy spec files; print every problem (spec, code, parameters, caps) with its field path.

    The code is read with `ast` only, never imported.
    """
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
        for note in unknown_symbols(strategy.subscriptions, data):
            click.secho(f"  warning: {note}", fg="yellow", err=True)
    if failed:
        raise SystemExit(2)


def unknown_symbols(subscriptions: tuple[str, ...], data: Path | None) -> list[str]:
    """Subscriptions to symbols the feed's data does not carry (they would never receive an event)."""
    from executor.feed import sample_path
    from executor.records import DataError, load_records
    from executor.topics import TopicFilter, parse_subscription
    from executor.wire import record_topic

    source = data or sample_path()
    try:
        records = load_records(source)
    except DataError as exc:
        raise UserError(f"cannot read {source}", [Problem(w, what) for w, what in exc.problems]) from None
    symbols = {r["symbol"] for r in records}
    topics = {record_topic(r) for r in records}
    name = source.name if data else "the bundled sample feed"
    out = []
    for sub in subscriptions:
        kind, venue, symbol = parse_subscription(sub)
        if venue is None or any(TopicFilter([sub]).accepts(t) for t in topics):
            continue
        what = f"{symbol} on venue {venue}" if symbol and symbol in symbols else (symbol or f"venue {venue}")
        out.append(f"subscription {sub}: {name} carries no {what} (it has {', '.join(sorted(symbols))})")
    return out
