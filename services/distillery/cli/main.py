"""The ``distillery`` command line: one module per command group, all built on the SDKs."""

from __future__ import annotations

import os
import sys

import click
import grpc

import distillery
from distillery.cli.evaluate import eval_command
from distillery.cli.exit_codes import ExitCode, rpc_error
from distillery.cli.flags import client_tls_options
from distillery.cli.jobs import jobs_group, run_command
from distillery.cli.registry import registry_group, team_group, whoami_command
from distillery.cli.serve import serve_group, solve_command
from distillery.cli.stack import down_command, status_command, up_command
from distillery.cli.teacher import teacher_group
from distillery.cli.train import train_command, trainer_group
from distillery.cli.verify import verifier_group, verify_command


class DistilleryGroup(click.Group):
    """Every verb's last line of defence, so a script always gets an exit code that means something:
    a refused call it did not catch exits with the refusal's code (never a traceback), and Ctrl-C
    exits 130 with one line (click's own ``Aborted!`` exits 1, like a failure)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except grpc.RpcError as exc:
            raise rpc_error(ctx.invoked_subcommand or "distillery", exc) from None
        except KeyboardInterrupt:
            click.echo(("\n" if sys.stderr.isatty() else "") + "interrupted", err=True)
            ctx.exit(int(ExitCode.INTERRUPTED))


@click.group(cls=DistilleryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(distillery.__version__, prog_name="distillery")
@client_tls_options
@click.option("-v", "--verbose", is_flag=True, expose_value=False, is_eager=True,
              callback=lambda _ctx, _param, on: os.environ.__setitem__("DISTILLERY_VERBOSE", "1") if on else None,
              help="Also show the generation engines' own logs on stderr (default: an engine log file).")
def cli() -> None:
    """Distillery: distil a large model's math reasoning into a small one.

    Exit codes (every verb): 0 ok, 1 failed, 2 usage, 3 invalid input, 4 not found, 5 denied,
    6 quota, 7 unavailable, 8 cancelled, 9 not finished, 130 interrupted (Ctrl-C)."""


for command in (verify_command, verifier_group, registry_group, team_group, whoami_command, teacher_group,
                train_command, trainer_group, eval_command, serve_group, solve_command, jobs_group, run_command,
                up_command, down_command, status_command):
    cli.add_command(command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
