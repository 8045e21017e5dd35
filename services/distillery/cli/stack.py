"""``distillery up | down | status``: the local stack."""

from __future__ import annotations

import json

import click

from distillery.cli.flags import json_option
from distillery.cli.json_shapes import StackStatus


@click.command("up")
@json_option
def up_command(as_json: bool) -> None:
    """Start (or find running) the local stack: S3 server, Ray head and the services; print the endpoints."""
    from distillery.stack.local import status, up

    up()
    info = StackStatus.model_validate(status()).model_dump(mode="json")
    if as_json:
        click.echo(json.dumps(info))
        return
    rows = [*info["endpoints"].items(), ("team", f"{info['default_team']} (token in {info['home']}/token)")]
    click.echo(columns(rows))


def columns(rows) -> str:
    """``KEY  VALUE`` lines, the keys padded to the longest one (a long endpoint name keeps its column)."""
    width = max((len(key) for key, _ in rows), default=0)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


@click.command("down")
def down_command() -> None:
    """Stop everything `distillery up` started, and nothing else."""
    from distillery.stack.local import down

    click.echo("stopped" if down() else "not running")


@click.command("status")
def status_command() -> None:
    """The local stack's endpoints and processes, as JSON."""
    from distillery.stack.local import status

    click.echo(json.dumps(StackStatus.model_validate(status()).model_dump(mode="json"), indent=2))
