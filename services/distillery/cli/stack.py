"""``distillery up | down | status``: the local stack."""

from __future__ import annotations

import json

import click

from distillery.cli.flags import json_option
from distillery.cli.json_shapes import StackStatus
from distillery.cli.output import columns, echo_json


@click.command("up")
@json_option
def up_command(as_json: bool) -> None:
    """Start (or find running) the local stack: S3 server, Ray head and the services; print the endpoints."""
    from distillery.stack.local import up

    up()
    info = _status()
    if as_json:
        echo_json(info)
        return
    rows = [*info["endpoints"].items(), ("team", f"{info['default_team']} (token in {info['home']}/token)")]
    click.echo(columns(rows))


@click.command("down")
def down_command() -> None:
    """Stop everything `distillery up` started, and nothing else."""
    from distillery.stack.local import down

    click.echo("stopped" if down() else "not running")


@click.command("status")
def status_command() -> None:
    """The local stack's endpoints and processes, as JSON."""
    click.echo(json.dumps(_status(), indent=2))


def _status() -> dict:
    """The local stack's status in its published shape (``StackStatus``)."""
    from distillery.stack.local import status

    return StackStatus.model_validate(status()).model_dump(mode="json")
