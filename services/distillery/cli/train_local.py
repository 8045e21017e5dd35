"""``distillery train --local``: the same job as the trainer service runs, in this process.

No trainer service and no Ray cluster: the local launcher (:mod:`distillery.trainer.local`)
trains on this machine's device. The registry is still where the dataset comes from and the
model goes, with the caller's token, so the result is the same registered student with the
same lineage (``launcher: local``). The run directory is
``$DISTILLERY_HOME/runs/<team>/<out>-<run key>``: the same command resumes there.

Ctrl-C stops at the next step boundary, writes a checkpoint there, says so and exits
``CANCELLED`` (8); a second Ctrl-C stops at once (from the last checkpoint written, also 8).
A cancel at the last step is simply the end: the model is registered.
"""

from __future__ import annotations

import signal
import threading

import click
import grpc

from distillery.cli.connect import registry_address, rpc_failure, team_token
from distillery.cli.exit_codes import CommandError, ExitCode
from distillery.cli.json_shapes import LocalTraining
from distillery.cli.output import echo_json


def train_locally(config, share: bool, registry: str | None, token: str | None, device: str | None,
                  as_json: bool) -> None:
    from distillery.core.service_errors import ServiceRefused
    from distillery.registry.client import RegistryClient
    from distillery.student.models import models_dir
    from distillery.trainer.errors import InvalidConfig
    from distillery.trainer.local import latest_checkpoint, train_local
    from distillery.trainer.pinning import pin
    from distillery.trainer.registration import register_model
    from distillery.trainer.students import base_model_dir

    address, token = registry_address(registry), team_token(token)
    with RegistryClient(address, token) as client:
        try:
            team = client.whoami().team
            config = pin(config, client)  # as the service pins: the run key must name exact versions
            rows = client.read_rows(config.dataset)
        except InvalidConfig as exc:  # as the service answers it: INVALID_ARGUMENT
            raise CommandError(f"trainer: {exc}", ExitCode.INVALID) from None
        except ServiceRefused as exc:
            raise rpc_failure("registry", exc.error) from None
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None
    base_dir = base_model_dir(config.base, address, token)
    run_dir = models_dir().parent / "runs" / (team or "admin") / f"{config.out}-{config.run_key()}"
    click.echo(f"training {config.out} on {config.dataset} in this process (run directory {run_dir})", err=True)

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: _ask_to_stop(stop))
    try:
        run = train_local(config, rows, base_dir, run_dir, device=device, on_event=_progress, should_stop=stop.is_set)
    except KeyboardInterrupt:
        latest = latest_checkpoint(run_dir)
        raise CommandError(f"stopped at once; {_resume_hint(latest)}", ExitCode.CANCELLED) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    if run.cancelled:
        raise CommandError(f"cancelled at step {run.steps} after writing a checkpoint there ({run_dir}); run the "
                           "same command again to resume from it", ExitCode.CANCELLED)
    ref = register_model(config, config.dataset, run.model_dir, run.metrics, str(run_dir), registry_address=address,
                         token=token, share=share, launcher="local")
    if as_json:
        echo_json(LocalTraining(model=ref, steps=run.steps, metrics=run.metrics, run=str(run_dir)))
    else:
        click.echo(ref.split("/", 1)[1])


def _resume_hint(latest) -> str:
    if latest is None:
        return "no checkpoint was written yet: the same command starts over"
    return f"the same command resumes from the checkpoint {latest}"


def _ask_to_stop(stop: threading.Event) -> None:
    if stop.is_set():
        raise KeyboardInterrupt  # a second Ctrl-C: stop now, from the last checkpoint
    stop.set()
    click.echo("cancelling: stopping at the next step boundary after writing a checkpoint there (Ctrl-C again to "
               "stop at once, from the last checkpoint)", err=True)


def _progress(event: dict) -> None:
    if event["kind"] == "start":
        click.echo(f"{event['total_steps']} steps, {event['examples_per_worker']} examples, batch "
                   f"{event['batch_tokens']} tokens ({event['batch_tokens_source']})", err=True)
    elif event["kind"] == "metrics":
        click.echo(f"step {event['step']}/{event['total_steps']}: loss {event['loss']:.4f}, "
                   f"{event['tokens_per_s']:.0f} tok/s", err=True)
    elif event["kind"] == "checkpoint":
        click.echo(f"checkpoint @{event['step']}", err=True)
    elif event["kind"] == "cancelled":
        click.echo(f"stopped at step {event['step']}", err=True)
