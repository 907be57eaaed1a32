"""The ``accord`` command: thin click commands over ledger/, domain/ and projections/."""

from __future__ import annotations

import sys

import click

from cli import audit_cmd, certificate_cmd, charter_cmd, keys_cmd, read_cmd, receipt_cmd, serve_cmd, statements_cmd, sync_cmd, witness_cmd, witnessing
from cli.options import AccordGroup


@click.group(cls=AccordGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="accord")
def accord() -> None:
    """Accord: a signed, event-sourced ledger of collective decisions.

    \b
    Example, a delegation casting a vote:
      accord vote P-3 approve --key de.key --store sqlite:///accord.db
    """


for module in (keys_cmd, charter_cmd, statements_cmd, read_cmd, witness_cmd, witnessing, audit_cmd, certificate_cmd, receipt_cmd, serve_cmd, sync_cmd):
    for command in module.COMMANDS:
        accord.add_command(command)


@accord.command()
@click.argument("directory", type=click.Path(file_okay=False), default="demo-out")
def demo(directory: str) -> None:
    """Tell the organization's story on a fresh SQLite ledger in DIRECTORY.

    \b
    Example:
      accord demo /tmp/accord-demo
    """
    from cli.demo import run_demo

    run_demo(directory, click.echo)


@accord.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script of SHELL (click's), to source from your shell's startup file.

    \b
    Example:
      accord completion bash > ~/.local/share/bash-completion/completions/accord
      eval "$(accord completion zsh)"
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # click has bash, zsh and fish
    click.echo(completer(accord, {}, "accord", "_ACCORD_COMPLETE").source())


def main() -> None:
    sys.exit(accord.main(prog_name="accord"))
