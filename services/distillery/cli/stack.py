"""``distillery up | down | status``: the local stack."""

from __future__ import annotations

import json

import click

from distillery.cli.flags import json_option


@click.command("up")
@json_option
def up_command(as_json: bool) -> None:
    """Start (or find running) the local stack: S3 server, Ray head and the services; print the endpoints."""
    from distillery.stack.local import status, up

    up()
    info = status()
    if as_json:
        click.echo(json.dumps(info))
        return
    for name, address in info["endpoints"].items():
        click.echo(f"{name:<13} {address}")
    click.echo(f"team          {info['default_team']} (token in {info['home']}/token)")


@click.command("down")
def down_command() -> None:
    """Stop everything `distillery up` started, and nothing else."""
    from distillery.stack.local import down

    click.echo("stopped" if down() else "not running")


@click.command("status")
def status_command() -> None:
    """The local stack's endpoints and processes, as JSON."""
    from distillery.stack.local import status

    click.echo(json.dumps(status(), indent=2))
