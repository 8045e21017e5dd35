"""The ``distillery`` command line: one module per command group, all built on the SDKs."""

from __future__ import annotations

import click

import distillery
from distillery.cli.evaluate import eval_command
from distillery.cli.flags import client_tls_options
from distillery.cli.jobs import jobs_group, run_command
from distillery.cli.registry import registry_group, team_group
from distillery.cli.serve import serve_group, solve_command
from distillery.cli.stack import down_command, status_command, up_command
from distillery.cli.teacher import teacher_group
from distillery.cli.train import train_command, trainer_group
from distillery.cli.verify import verifier_group, verify_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(distillery.__version__, prog_name="distillery")
@client_tls_options
def cli() -> None:
    """Distillery: distil a large model's math reasoning into a small one."""


for command in (verify_command, verifier_group, registry_group, team_group, teacher_group, train_command,
                trainer_group, eval_command, serve_group, solve_command, jobs_group, run_command, up_command,
                down_command, status_command):
    cli.add_command(command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
