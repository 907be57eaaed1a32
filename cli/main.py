"""The ``accord`` command."""

from __future__ import annotations

import sys

import click

from ledger.errors import AccordError


@click.group()
def accord() -> None:
    """Accord: a signed, event-sourced ledger of collective decisions."""


@accord.command()
@click.argument("directory", type=click.Path(file_okay=False), default="demo-out")
def demo(directory: str) -> None:
    """Run the demonstration story in DIRECTORY (a fresh SQLite ledger).

    Example: accord demo /tmp/accord-demo
    """
    from cli.demo import run_demo

    run_demo(directory, click.echo)


def main() -> None:
    try:
        accord(standalone_mode=True)
    except AccordError as error:
        click.echo(f"accord: {error}", err=True)
        sys.exit(1)
