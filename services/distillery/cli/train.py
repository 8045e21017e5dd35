"""``distillery train`` and ``distillery trainer serve | jobs | status | watch | cancel``."""

from __future__ import annotations

import logging
import os
import signal
import sys

import click
import grpc

from distillery.cli.connect import rpc_failure, service_address, team_token
from distillery.cli.exit_codes import CommandError, ExitCode, exit_with_state, for_job_state
from distillery.cli.flags import json_option, metrics_port_option, start_metrics, token_option
from distillery.cli.output import echo_json
from distillery.cli.registry import registry_option
from distillery.core.ports import PORTS

trainer_option = click.option("--trainer", "trainer", default=None, envvar="DISTILLERY_TRAINER",
                              help="host:port of the trainer (default: local stack).")


def _client(trainer: str | None, token: str | None):
    from distillery.trainer.client import TrainerClient

    return TrainerClient(service_address("trainer", trainer), team_token(token))


def _ask(trainer: str | None, token: str | None, method: str, *args):
    """One unary call; a refusal becomes a one-line error."""
    with _client(trainer, token) as client:
        try:
            return getattr(client, method)(*args)
        except grpc.RpcError as exc:
            raise rpc_failure("trainer", exc) from None


def _state(job) -> str:
    from distillery.v1 import trainer_pb2 as pb

    return pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()


def _progress_line(job) -> str:
    m = job.metrics
    line = f"{job.id} {_state(job)}: step {m.step}/{m.total_steps or '?'}"
    if m.step:
        line += f", loss {m.loss:.4f} (first {m.first_loss:.4f}), {m.tokens_per_s:.0f} tok/s"
    if job.last_checkpoint_step:
        line += f", checkpoint @{job.last_checkpoint_step}"
    if job.restarts:
        line += f", {job.restarts} restart(s)"
    return line


def _watch(client, job_id: str, as_json: bool):
    """Print a progress line per new step until the job ends; return its last view."""
    last, printed_step = None, None
    try:
        for job in client.watch(job_id):
            last = job
            if not as_json and job.metrics.step != printed_step:
                click.echo(_progress_line(job), err=True)
                printed_step = job.metrics.step
    except grpc.RpcError as exc:
        raise rpc_failure("trainer", exc) from None
    return last


def _follow_or_cancel(client, job_id: str, as_json: bool):
    """``train``'s follow: stopping this command (Ctrl-C, or SIGTERM from a CI runner's timeout)
    cancels the job. It stops at the next step boundary after writing a checkpoint there; this
    waits for that (a second Ctrl-C stops waiting) and returns the job as it ended."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            return _watch(client, job_id, as_json)
        except KeyboardInterrupt:
            pass
        try:
            client.cancel(job_id)
        except grpc.RpcError as exc:
            raise rpc_failure("trainer", exc) from None
        click.echo(("\n" if sys.stderr.isatty() else "") + f"cancelling {job_id}: it stops at the next step boundary and writes a checkpoint there "
                   "(Ctrl-C again to stop waiting)", err=True)
        try:
            return _watch(client, job_id, as_json)
        except KeyboardInterrupt:
            raise CommandError(f"not waiting: job {job_id} stops at its next step boundary (`distillery trainer "
                               f"status {job_id}` says where); run the same command again to resume",
                               ExitCode.CANCELLED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _ended(job, as_json: bool) -> None:
    """A followed job's end: the model's NAME@VERSION (or the job as JSON) and the exit code of its state."""
    if as_json:
        echo_json(job)
    state = _state(job)
    if state == "succeeded":
        if not as_json:
            click.echo(job.model.split("/", 1)[1])
        return
    if state == "cancelled" and job.last_checkpoint_step:
        raise CommandError(f"trainer: job {job.id} cancelled at step {job.last_checkpoint_step} after writing a "
                           "checkpoint there; run the same command again to resume from it", ExitCode.CANCELLED)
    from distillery.trainer.client import ended_without_model

    raise CommandError(ended_without_model(job), for_job_state(state))  # `failed (bad input): CAUSE`


@click.command("train")
@click.option("--dataset", required=True, metavar="NAME@V", help="A verified thought dataset in the registry.")
@click.option("--base", default="smollm2-135m-instruct", show_default=True,
              help="Student to start from: smollm2-135m-instruct, a registry model NAME@V, or a local HF directory "
                   "(causal or seq2seq; pushed to your team's registry first, as base-DIRNAME).")
@click.option("--no-local-paths", is_flag=True,
              help="Refuse a directory as --base (how the jobs controller runs this on a tenant's behalf).")
@click.option("--out", required=True, help="Name of the model to register (the same job resumes).")
@click.option("--types", "thought_types", default="etd", show_default=True,
              help="etd (all three), eotd, potd, cotd, or comma-separated thought types.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--gpu", "use_gpu", is_flag=True, help="One GPU per worker (NCCL).")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None, help="Default 3.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after S steps (instead of epochs).")
@click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--batch-tokens", type=click.IntRange(min=64), default=None, help="Padded tokens per batch and worker.")
@click.option("--max-length", type=click.IntRange(min=16), default=None)
@click.option("--lora", is_flag=True, help="Train LoRA adapters (merged into the registered model).")
@click.option("--lora-r", type=click.IntRange(min=1), default=None)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None, help="Steps between checkpoints.")
@click.option("--max-failures", type=click.IntRange(min=0), default=None, help="Worker-group restarts allowed.")
@click.option("--seed", type=int, default=None)
@click.option("--share", is_flag=True, help="Let every team read the model.")
@click.option("--detach", is_flag=True, help="Print the job id and return; follow with `trainer watch`.")
@click.option("--local", "in_process", is_flag=True,
              help="Train in this process (no trainer service, no Ray): the local launcher on this machine's device.")
@click.option("--device", default=None, help="With --local: cpu, cuda, cuda:N (default: cuda if there is one).")
@trainer_option
@registry_option
@token_option
@json_option
def train_command(dataset, base, no_local_paths, out, thought_types, workers, use_gpu, epochs, max_steps,
                  learning_rate, batch_tokens, max_length, lora, lora_r, checkpoint_every, max_failures, seed, share,
                  detach, in_process, device, trainer, registry, token, as_json):
    """Fine-tune a student on a thought dataset with Ray Train (or --local: in this process); prints the model's
    NAME@VERSION."""
    if lora_r is not None and not lora:
        raise click.UsageError("--lora-r needs --lora")
    if device is not None and not in_process:
        raise click.UsageError("--device needs --local (the service places workers with --gpu)")
    if in_process and detach:
        raise click.UsageError("--local runs in this process: it cannot --detach")
    if not no_local_paths and os.path.isdir(base):
        # The trainer service takes no paths from callers (on a shared node a path could name
        # another team's files). This process reads the user's own directory and hands it over
        # through the registry, as the team's own (unshared) model.
        base = _push_local_base(base, registry, token)
    options = {"dataset": dataset, "base": base, "out": out, "thought_types": thought_types, "workers": workers,
               "use_gpu": use_gpu, "epochs": epochs, "max_steps": max_steps, "learning_rate": learning_rate,
               "batch_tokens": batch_tokens, "max_length": max_length, "checkpoint_every": checkpoint_every,
               "max_failures": max_failures, "seed": seed,
               "lora": ({"r": lora_r} if lora_r else {}) if lora else None}
    config = trainer_config({name: value for name, value in options.items() if value is not None})
    if in_process:
        from distillery.cli.train_local import train_locally

        train_locally(config, share, registry, token, device, as_json)
        return
    with _client(trainer, token) as client:
        try:
            job = client.submit(config, share=share)
        except grpc.RpcError as exc:
            raise rpc_failure("trainer", exc) from None
        if detach:
            echo_json(job) if as_json else click.echo(job.id)
            return
        click.echo(f"{job.id}: training {out} on {dataset} (checkpoints in {job.run})", err=True)
        job = _follow_or_cancel(client, job.id, as_json)
    _ended(job, as_json)


def trainer_config(options: dict):
    """The ``TrainerConfig`` the options make; its rules (e.g. epochs excludes max-steps) refuse
    bad combinations, named by their flag."""
    from pydantic import ValidationError

    from distillery.trainer.trainer_config import TrainerConfig

    try:
        return TrainerConfig(**options)
    except ValidationError as exc:
        raise click.UsageError("; ".join(
            f"{_flag(str(e['loc'][0])) if e['loc'] else 'options'}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors())) from None


def _flag(field: str) -> str:
    return {"thought_types": "--types", "use_gpu": "--gpu", "learning_rate": "--lr"}.get(
        field, "--" + field.replace("_", "-"))


def _push_local_base(directory: str, registry: str | None, token: str | None) -> str:
    """``directory`` as a model in the caller's namespace: the version holding the same files
    if there is one (a resubmitted job keeps its run key and resumes), else a new one."""
    import hashlib
    from pathlib import Path

    from distillery.cli.connect import registry_address
    from distillery.student.model_refs import safe_name
    from distillery.registry.client import RegistryClient, header

    root = Path(directory).resolve()
    content = hashlib.sha256()  # as the registry computes content_sha256 for pushed files
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        content.update(f"{path.relative_to(root).as_posix()}\0{digest.hexdigest()}\n".encode())
    name = f"base-{safe_name(root.name)}"[:100]
    with RegistryClient(registry_address(registry), team_token(token)) as client:
        try:
            try:
                manifest = client.show(f"{name}@sha256:{content.hexdigest()}")
            except grpc.RpcError as exc:
                if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    raise
                click.echo(f"pushing {root} to the registry as {name}", err=True)
                manifest = client.push_files(header(name, "model", stage="import", meta={"source": "local"}), root)
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None
    return manifest.ref


@click.group("trainer")
def trainer_group() -> None:
    """Training jobs: list, inspect, follow, cancel; and the service itself."""


@trainer_group.command("jobs")
@trainer_option
@token_option
@json_option
def jobs_command(trainer, token, as_json):
    """Your team's jobs, oldest first (kept across restarts of the service)."""
    jobs = _ask(trainer, token, "list")
    if as_json:
        echo_json(jobs)
        return
    for job in jobs:
        click.echo(f"{_progress_line(job)}{'  -> ' + job.model if job.model else ''}")


@trainer_group.command("status")
@click.argument("job_id")
@trainer_option
@token_option
@json_option
def status_command(job_id, trainer, token, as_json):
    """One job: state, metrics, workers (rank, pid, node), checkpoint. Exits with the job's state:
    0 succeeded, 1 failed, 8 cancelled, 9 still queued or running."""
    job = _ask(trainer, token, "get", job_id)
    if as_json:
        echo_json(job)
    else:
        click.echo(_progress_line(job))
        for worker in job.workers:
            click.echo(f"  worker {worker.rank}: pid {worker.pid} on {worker.node}")
        if job.model:
            click.echo(f"  {job.model}")
        elif job.error:
            from distillery.trainer.client import ended_without_model

            click.echo(f"  {ended_without_model(job)}")  # with the kind: whether the same job could succeed
    exit_with_state(_state(job))


@trainer_group.command("watch")
@click.argument("job_id")
@trainer_option
@token_option
@json_option
def watch_command(job_id, trainer, token, as_json):
    """Follow a job until it ends; prints the model's NAME@VERSION and exits with the job's state.
    Ctrl-C only stops watching (exit 130): the job goes on."""
    with _client(trainer, token) as client:
        try:
            job = _watch(client, job_id, as_json)
        except KeyboardInterrupt:
            raise CommandError(f"detached: job {job_id} goes on (`distillery trainer watch {job_id}` to follow it "
                               f"again, `distillery trainer cancel {job_id}` to stop it)", ExitCode.INTERRUPTED) from None
    _ended(job, as_json)


@trainer_group.command("cancel")
@click.argument("job_id")
@trainer_option
@token_option
def cancel_command(job_id, trainer, token):
    """Stop a job at its next step boundary, after a checkpoint there (submit it again to resume);
    returns once it has stopped, with its last line."""
    job = _ask(trainer, token, "cancel", job_id)
    with _client(trainer, token) as client:
        job = _watch(client, job_id, as_json=True) or job  # quietly, until it has stopped
    click.echo(_progress_line(job) + (f"  ({job.error})" if job.error else ""))


@trainer_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=PORTS["trainer"], show_default=True)
@click.option("--registry", "registry", required=True, help="host:port of the registry.")
@click.option("--s3-endpoint", required=True, envvar="DISTILLERY_S3_ENDPOINT", help="host:port of the checkpoint store.")
@click.option("--s3-access-key", required=True, envvar="DISTILLERY_S3_ACCESS_KEY")
@click.option("--s3-secure", is_flag=True)
@click.option("--bucket", default="distillery-checkpoints", show_default=True)
@click.option("--ray-address", default=None, envvar="RAY_ADDRESS", help="Ray cluster to use (default: start a local one).")
@click.option("--ray-num-cpus", type=click.IntRange(min=1), default=None, help="CPUs of the local Ray cluster.")
@metrics_port_option
def serve_command(host, port, registry, s3_endpoint, s3_access_key, s3_secure, bucket, ray_address, ray_num_cpus,
                  metrics_port):
    """Serve TrainerService. The S3 secret comes from DISTILLERY_S3_SECRET_KEY."""
    from distillery.core.s3 import S3Config
    from distillery.registry.principals import PrincipalCache
    from distillery.trainer.service_config import TrainerServiceConfig
    from distillery.trainer.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secret = os.environ.get("DISTILLERY_S3_SECRET_KEY")
    if not secret:
        raise click.UsageError("set DISTILLERY_S3_SECRET_KEY")
    config = TrainerServiceConfig(
        checkpoints=S3Config(endpoint=s3_endpoint, access_key=s3_access_key, secret_key=secret, bucket=bucket,
                             secure=s3_secure),
        ray_address=ray_address, ray_num_cpus=ray_num_cpus)
    start_metrics(host, metrics_port)
    serve(f"{host}:{port}", registry, config, PrincipalCache(registry))
