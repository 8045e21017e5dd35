"""``distillery jobs submit | ls | get | watch | cancel | logs | serve`` and ``distillery run``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
import grpc

from distillery.cli.connect import rpc_failure, service_address, team_token
from distillery.cli.exit_codes import CommandError, ExitCode, exit_with_state, for_job_state
from distillery.cli.flags import json_option, metrics_port_option, start_metrics, token_option
from distillery.cli.output import echo_json
from distillery.core.ports import PORTS

jobs_option = click.option("--jobs", "jobs", default=None, envvar="DISTILLERY_JOBS",
                           help="host:port of the jobs controller (default: the local stack's).")
DEFAULT_SPEC = Path("pipelines/local.yaml")
BAR = 24


def _client(jobs: str | None, token: str | None):
    from distillery.jobs.client import JobClient

    return JobClient(service_address("jobs", jobs), team_token(token))


def _call(jobs, token, method, *args):
    with _client(jobs, token) as client:
        try:
            return getattr(client, method)(*args)
        except grpc.RpcError as exc:
            raise rpc_failure("jobs", exc) from None


ENDED = ("succeeded", "failed", "cancelled")


def _now(job) -> float:
    """The clock a job's times are read against: now while it runs, its last change once it ended
    (an old job's stages did not run until the moment someone looked)."""
    return job.updated_at if job.state in ENDED and job.updated_at else time.time()


def _elapsed(stage, now: float) -> str:
    if not stage.started_at:
        return ""
    seconds = max(int((stage.finished_at or now) - stage.started_at), 0)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _tries(attempts: int) -> str:
    return f"{attempts} {'try' if attempts == 1 else 'tries'}"


def progress_line(job) -> str:
    """``job-… etd-local [#########-------] 2/4 train running (attempt 1, 1m05s)``."""
    done = sum(s.state in ("succeeded", "reused") for s in job.stages)
    filled = BAR * done // max(len(job.stages), 1)
    current = next((s for s in job.stages if s.state not in ("succeeded", "reused")), None)
    where = (f"{current.name} {current.state}" + (f" (attempt {current.attempts}, {_elapsed(current, _now(job))})"
                                                   if current.state == "running" else "")) if current else ""
    return f"{job.id} {job.name} [{'#' * filled}{'-' * (BAR - filled)}] {done}/{len(job.stages)} {job.state} {where}"


def stage_table(job) -> str:
    lines, now = [], _now(job)
    for stage in job.stages:
        made = stage.outputs.get("url") or stage.outputs.get("dataset") or stage.outputs.get("model") or ""
        tries, elapsed = _tries(stage.attempts), _elapsed(stage, now)
        lines.append(f"  {stage.name:<10} {stage.state:<10} {tries:<7}  {elapsed:>7}  {made}"
                     + (f"\n             {stage.error.splitlines()[-1][:160]}" if stage.error else ""))
    return "\n".join(lines)


def follow(client, job_id: str, quiet: bool = False):
    """Stream a job's events to stderr (a progress bar on a terminal); returns the final job.

    Ctrl-C detaches: the job goes on, and the command exits 130 saying how to follow or cancel it."""
    tty = sys.stderr.isatty()
    job = None
    try:
        for event in client.watch(job_id):
            job = event.job
            if quiet:
                continue
            # Stamped with when it happened (the job's last change), not when we heard of it.
            stamp = time.strftime("%H:%M:%S ", time.localtime(job.updated_at or time.time()))
            if tty:
                click.echo("\r\033[K" + progress_line(job), err=True, nl=False)
                if event.message:
                    click.echo("\r\033[K" + stamp + event.message, err=True)
            elif event.message:
                click.echo(stamp + event.message, err=True)
    except KeyboardInterrupt:
        click.echo(("\n" if tty else "") + f"detached: job {job_id} goes on (`distillery jobs watch {job_id}` to "
                   f"follow it again, `distillery jobs cancel {job_id}` to stop it)", err=True)
        raise click.exceptions.Exit(int(ExitCode.INTERRUPTED)) from None
    if tty and not quiet:
        click.echo("", err=True)
    return job


@click.group("jobs")
def jobs_group() -> None:
    """Distillation jobs: problems -> teacher -> verified thoughts -> train -> eval -> serve."""


@jobs_group.command("submit")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--watch", "watch_", is_flag=True, help="Follow the job until it ends.")
@jobs_option
@token_option
@json_option
def submit_command(spec, watch_, jobs, token, as_json):
    """Submit SPEC (YAML or JSON); prints the job id. With --watch, exits with the job's state
    (0 succeeded, 1 failed, 8 cancelled); Ctrl-C detaches (130) and the job goes on."""
    with _client(jobs, token) as client:
        try:
            job = client.submit(spec.read_text())
            if watch_:
                job = follow(client, job.id)
        except grpc.RpcError as exc:
            raise rpc_failure("jobs", exc) from None
    echo_json(job) if as_json else click.echo(job.id)
    if watch_:
        exit_with_state(job.state)


@jobs_group.command("ls")
@click.option("--all", "all_teams", is_flag=True, help="Every team's jobs (admin token).")
@jobs_option
@token_option
@json_option
def ls_command(all_teams, jobs, token, as_json):
    """Your team's jobs."""
    listed = _call(jobs, token, "list", all_teams)
    if as_json:
        echo_json(listed)
        return
    for job in listed:
        click.echo(f"{job.id}  {job.team:<12} {job.name:<20} {job.state:<10} "
                   + " ".join(f"{s.name}:{s.state}" for s in job.stages))


@jobs_group.command("get")
@click.argument("job_id")
@jobs_option
@token_option
@json_option
def get_command(job_id, jobs, token, as_json):
    """One job: its stages, attempts, outputs, errors. Exits with its state: 0 succeeded, 1 failed,
    8 cancelled, 9 still queued or running."""
    job = _call(jobs, token, "get", job_id)
    if as_json:
        echo_json(job)
    else:
        click.echo(progress_line(job))
        click.echo(stage_table(job))
        if job.error:
            click.echo(f"error: {job.error}")
    exit_with_state(job.state)


@jobs_group.command("watch")
@click.argument("job_id")
@jobs_option
@token_option
@json_option
def watch_command(job_id, jobs, token, as_json):
    """Follow a job's stages live until it ends; exits with its state (0 succeeded, 1 failed,
    8 cancelled). Ctrl-C detaches (130): the job goes on."""
    with _client(jobs, token) as client:
        try:
            job = follow(client, job_id, quiet=as_json)
        except grpc.RpcError as exc:
            raise rpc_failure("jobs", exc) from None
    echo_json(job) if as_json else click.echo(stage_table(job))
    exit_with_state(job.state)


@jobs_group.command("cancel")
@click.argument("job_id")
@jobs_option
@token_option
def cancel_command(job_id, jobs, token):
    """Stop a job (its running stage's Ray job is stopped)."""
    click.echo(progress_line(_call(jobs, token, "cancel", job_id)))


@jobs_group.command("logs")
@click.argument("job_id")
@click.option("--stage", default="", help="teacher, train, eval-base, eval or serve (default: all).")
@jobs_option
@token_option
def logs_command(job_id, stage, jobs, token):
    """What a job's stages printed."""
    click.echo(_call(jobs, token, "logs", job_id, stage))


@jobs_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=PORTS["jobs"], show_default=True)
@click.option("--registry", required=True, help="host:port of the registry (tokens, problems, outputs).")
@click.option("--s3-endpoint", required=True, envvar="DISTILLERY_S3_ENDPOINT", help="host:port of the state store.")
@click.option("--s3-access-key", required=True, envvar="DISTILLERY_S3_ACCESS_KEY")
@click.option("--s3-secure", is_flag=True)
@click.option("--state-bucket", default="distillery", show_default=True, help="Job records live under _jobs/.")
@click.option("--backend", type=click.Choice(["ray", "kuberay"]), default="ray", show_default=True)
@click.option("--ray-address", default="http://127.0.0.1:8265", show_default=True,
              help="Ray Jobs API (dashboard) of the cluster that runs stages (backend ray).")
@click.option("--teacher", required=True, help="host:port of the teacher service.")
@click.option("--trainer", required=True, help="host:port of the trainer service.")
@click.option("--verifier", required=True, help="host:port of the verifier service.")
@click.option("--serve-http-port", type=int, default=8000, show_default=True, help="Ray Serve's HTTP port.")
@click.option("--serve-grpc-port", type=int, default=9000, show_default=True, help="Ray Serve's gRPC port.")
@click.option("--quotas", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML: {default: {max_concurrent_jobs, max_gpus, max_workers}, teams: {TEAM: {...}}}.")
@click.option("--kuberay-templates", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              envvar="DISTILLERY_RAYJOB_TEMPLATES",
              help="Backend kuberay: the chart's RayJob templates (teams.yaml and <team>.yaml), one per team.")
@click.option("--stage-command", default=None, help="How stage drivers start, before their run id (default: this "
              "Python's `-m distillery.jobs.stage`; `python -m distillery.jobs.stage` with --backend kuberay).")
@click.option("--advertise", default=None, metavar="HOST:PORT",
              help="This service's address as stage drivers reach it (default: --host:--port).")
@metrics_port_option
def serve_command(host, port, registry, s3_endpoint, s3_access_key, s3_secure, state_bucket, backend, ray_address,
                  teacher, trainer, verifier, serve_http_port, serve_grpc_port, quotas, kuberay_templates, stage_command, advertise,
                  metrics_port):
    """Serve JobService. Secrets from the environment: DISTILLERY_S3_SECRET_KEY, DISTILLERY_JOBS_KEY
    (a Fernet key that seals team tokens in the job records)."""
    import logging

    import yaml
    from pydantic import ValidationError

    from distillery.core.s3 import S3Config
    from distillery.jobs.config import ControllerConfig, KubeRaySettings, Quotas
    from distillery.jobs.server import serve
    from distillery.registry.principals import PrincipalCache

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secrets = {name: os.environ.get(name) for name in ("DISTILLERY_S3_SECRET_KEY", "DISTILLERY_JOBS_KEY")}
    missing = [name for name, value in secrets.items() if not value]
    if missing:
        raise click.UsageError(f"set {', '.join(missing)}")
    try:
        config = ControllerConfig(
            state=S3Config(endpoint=s3_endpoint, access_key=s3_access_key, secret_key=secrets["DISTILLERY_S3_SECRET_KEY"],
                           bucket=state_bucket, secure=s3_secure),
            backend=backend, ray_dashboard=ray_address, registry=registry, teacher=teacher, trainer=trainer,
            verifier=verifier, serve_ports=(serve_http_port, serve_grpc_port),
            quotas=Quotas.model_validate(yaml.safe_load(quotas.read_text()) or {}) if quotas else Quotas(),
            kuberay=KubeRaySettings(**({"templates": kuberay_templates} if kuberay_templates else {})),
            secret_key=secrets["DISTILLERY_JOBS_KEY"],
            jobs=advertise or f"{host}:{port}",
            **({"stage_command": stage_command.split()} if stage_command else
               {"stage_command": ["python", "-m", "distillery.jobs.stage"]} if backend == "kuberay" else {}))
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None
    start_metrics(host, metrics_port)
    serve(f"{host}:{port}", config, PrincipalCache(registry))


@click.command("run")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_SPEC)
@token_option
@json_option
def run_command(spec, token, as_json):
    """The main job: start the local stack, submit SPEC (default pipelines/local.yaml), follow it,
    print the results and where every artifact lives. Run it again: finished stages are reused."""
    from distillery.cli.evaluate import format_table
    from distillery.evaluation.scoring import ResultRow
    from distillery.jobs.spec import SpecError, parse_spec
    from distillery.stack.local import up

    if not spec.exists():
        raise click.UsageError(f"no spec at {spec}: run from the repository root, or name a spec (pipelines/*.yaml)")
    try:
        parse_spec(spec.read_text(), str(spec))  # refused here, before the stack starts
    except SpecError as exc:
        raise CommandError(str(exc), ExitCode.INVALID) from None
    click.echo("starting the local stack ...", err=True)
    up()
    # The benchmarks the spec reads are in the public namespace: `up` imported them.
    with _client(None, token) as client:
        try:
            job = client.submit(spec.read_text())
            click.echo(f"{job.id}: {job.name} ({', '.join(s.name for s in job.stages)})", err=True)
            job = follow(client, job.id)
        except grpc.RpcError as exc:
            raise rpc_failure("jobs", exc) from None
    if as_json:
        echo_json(job)
    else:
        for stage in job.stages:
            if stage.result.HasField("eval"):
                rows = [ResultRow(benchmark=r.benchmark, method=r.method, correct=r.correct, total=r.total,
                                  accuracy=r.accuracy) for r in stage.result.eval.results]
                click.echo(f"\n{'before (base model)' if stage.name == 'eval-base' else 'after (student)'}: "
                           f"{stage.outputs.get('model', '')}")
                click.echo(format_table(rows))
        click.echo(f"\n{job.id} {job.state}")
        click.echo(f"  problems   {job.problems}")
        click.echo(stage_table(job))
    if job.state != "succeeded":
        raise CommandError(f"job {job.id} {job.state}: {job.error} (see `distillery jobs logs {job.id}`)",
                           for_job_state(job.state))
