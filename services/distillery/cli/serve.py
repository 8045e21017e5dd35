"""``distillery serve MODEL`` / ``serve ls`` / ``serve rm NAME`` and ``distillery solve QUESTION``."""

from __future__ import annotations

import os

import click
import grpc

from distillery.cli.connect import registry_address, rpc_failure, service_address, team_token
from distillery.cli.exit_codes import CommandError, ExitCode, for_http_status
from distillery.cli.flags import json_option, token_option
from distillery.cli.json_shapes import Deployment, ServedDeployment
from distillery.cli.output import echo_json
from distillery.cli.registry import registry_option

ray_address_option = click.option(
    "--ray-address", default=None, envvar="RAY_ADDRESS",
    help="Ray cluster to deploy on (default: the local stack's Ray head).")
SUBCOMMANDS = ("deploy", "ls", "rm")


class _DeployByDefault(click.Group):
    """``serve MODEL`` means ``serve deploy MODEL``; ``serve ls`` / ``serve rm`` stay subcommands.
    The usage line says so: the short form is the one most people type."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["deploy", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx, formatter):
        formatter.write_usage(ctx.command_path, "MODEL[@V] [DEPLOY OPTIONS]")
        formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="       ")


@click.group("serve", cls=_DeployByDefault)
def serve_group() -> None:
    """Serve a student on Ray Serve.

    \b
      distillery serve MODEL[@V] [OPTIONS]   deploy MODEL: the same as `serve deploy MODEL`
      distillery serve ls                    your team's deployments
      distillery serve rm NAME               stop serving NAME

    MODEL is NAME@VERSION from the registry, or an alias; `serve deploy --help` lists the options."""


def _cluster(ray_address: str | None, http_host: str, http_port: int, grpc_port: int):
    """The Ray address and Serve's proxy ports: flags / RAY_ADDRESS, else the local stack's.

    Ray reads its token-auth settings when it is imported: callers import
    ``distillery.serving.deploy`` (and so Ray) only after this.
    """
    from distillery.stack.local import distillery_home, load_state, ray_client_env

    if ray_address:
        from distillery.serving.deploy import ServeEndpoint

        return ray_address, ServeEndpoint(http_host, http_port, grpc_port)
    state = load_state()
    if state is None or state.ray is None or state.ray_ports is None:
        raise click.UsageError("no Ray cluster: start the local stack with `distillery up`, or pass --ray-address")
    for key, value in ray_client_env(distillery_home()).items():
        os.environ.setdefault(key, value)
    from distillery.serving.deploy import ServeEndpoint

    return state.ray.address, ServeEndpoint("127.0.0.1", state.ray_ports.serve_http, state.ray_ports.serve_grpc)


def _whoami(registry: str | None, token: str | None):
    from distillery.registry.client import RegistryClient

    with RegistryClient(registry_address(registry), team_token(token)) as client:
        try:
            return client.whoami()
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None


endpoint_options = [
    click.option("--http-host", default="127.0.0.1", show_default=True, help="Serve's HTTP host (with --ray-address)."),
    click.option("--http-port", type=int, default=8000, show_default=True, help="Serve's HTTP port (with --ray-address)."),
    click.option("--grpc-port", type=int, default=9000, show_default=True, help="Serve's gRPC port (with --ray-address)."),
]


def _with_endpoint_options(command):
    for option in reversed(endpoint_options):
        command = option(command)
    return command


def _with_limit_options(command):
    """``--max-body-bytes`` ... ``--team-max-concurrent``: one flag per ``Limits`` field, its
    default and bounds the model's (unset flags keep the model's default)."""
    from distillery.serving.config import Limits

    for name, field in reversed(Limits.model_fields.items()):
        default = field.default
        command = click.option(f"--{name.replace('_', '-')}", name, type=click.IntRange(min=1), default=None,
                               help=f"{field.description} [default: {default}]")(command)
    return command


@serve_group.command("deploy")
@click.argument("model")
@click.option("--name", default=None, help="Deployment name: URL prefix /NAME (default: the model's name).")
@click.option("--min-replicas", type=click.IntRange(min=0), default=1, show_default=True,
              help="0 scales to zero when idle.")
@click.option("--max-replicas", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--target-ongoing-requests", type=click.FloatRange(min=0.1), default=8, show_default=True,
              help="Autoscaling target: in-flight thoughts per replica.")
@click.option("--upscale-delay-s", type=click.FloatRange(min=0), default=3, show_default=True)
@click.option("--downscale-delay-s", type=click.FloatRange(min=0), default=30, show_default=True)
@click.option("--max-batch-size", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="HF backend: most requests per batched generate call (vLLM batches continuously).")
@click.option("--batch-wait-ms", type=click.FloatRange(min=0), default=50, show_default=True,
              help="HF backend: how long a batch waits to fill (vLLM batches continuously).")
@click.option("--backend", type=click.Choice(["auto", "hf", "vllm"]), default="auto", show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=320, show_default=True)
@click.option("--num-cpus", type=click.FloatRange(min=0), default=1, show_default=True, help="Per model replica.")
@click.option("--num-gpus", type=click.FloatRange(min=0), default=0, show_default=True, help="Per model replica.")
@_with_limit_options
@ray_address_option
@_with_endpoint_options
@registry_option
@click.option("--verifier", default=None, envvar="DISTILLERY_VERIFIER", help="host:port of the verifier.")
@token_option
@json_option
def deploy_command(model, name, min_replicas, max_replicas, target_ongoing_requests, upscale_delay_s,
                   downscale_delay_s, max_batch_size, batch_wait_ms,
                   backend, max_new_tokens, num_cpus, num_gpus, ray_address, http_host, http_port, grpc_port, registry,
                   verifier, token, as_json, **limits):
    """Deploy MODEL (NAME@VERSION from the registry, or an alias served zero-shot); prints its URL."""
    from pydantic import ValidationError

    from distillery.student.model_refs import ModelNotFound, safe_name, show_model
    from distillery.student.models import ALIASES
    from distillery.registry.client import RegistryClient
    from distillery.serving.config import Autoscaling, Limits, ServeConfig

    try:  # before any call: a bad limit is the user's to fix, named by its flag
        request_limits = Limits(**{k: v for k, v in limits.items() if v is not None})
    except ValidationError as exc:
        raise click.UsageError("; ".join(f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
                                         for e in exc.errors())) from None
    principal = _whoami(registry, token)
    if not principal.team:
        raise click.UsageError("deploy with a team token: the team owns the deployment")
    if model in ALIASES:
        pinned, default_name = model, model.split("-instruct")[0]
    else:
        with RegistryClient(registry_address(registry), team_token(token)) as client:
            try:
                manifest = show_model(client, model)
            except ModelNotFound as exc:
                raise CommandError(str(exc), ExitCode.NOT_FOUND) from None
        pinned, default_name = manifest.ref, manifest.name
    address, endpoint = _cluster(ray_address, http_host, http_port, grpc_port)
    try:
        config = ServeConfig(
            name=name or safe_name(default_name).replace(".", "-").replace("_", "-"), model=pinned,
            team=principal.team, backend=backend, max_new_tokens=max_new_tokens, max_batch_size=max_batch_size,
            batch_wait_timeout_s=batch_wait_ms / 1000, num_cpus=num_cpus, num_gpus=num_gpus,
            autoscaling=Autoscaling(min_replicas=min_replicas, max_replicas=max_replicas,
                                    target_ongoing_requests=target_ongoing_requests, upscale_delay_s=upscale_delay_s,
                                    downscale_delay_s=downscale_delay_s),
            registry=registry_address(registry), verifier=service_address("verifier", verifier),
            token=team_token(token), limits=request_limits)
    except ValidationError as exc:
        raise CommandError(str(exc), ExitCode.INVALID) from None
    click.echo(f"deploying {pinned} as {config.name} on {address} ...", err=True)
    from distillery.serving.deploy import DeploymentError, deploy  # after _cluster: Ray reads its env on import

    try:
        url = deploy(config, address, endpoint)
    except DeploymentError as exc:  # the name is another team's: choose another
        raise CommandError(str(exc), ExitCode.INVALID) from None
    if as_json:
        echo_json(Deployment(name=config.name, model=pinned, url=url, grpc=endpoint.grpc_address()))
        return
    click.echo(url)
    click.echo(f"gRPC {endpoint.grpc_address()} (metadata application={config.name})", err=True)


@serve_group.command("ls")
@click.option("--all", "all_teams", is_flag=True, help="Every team's deployments (admin token).")
@ray_address_option
@_with_endpoint_options
@registry_option
@token_option
@json_option
def ls_command(all_teams, ray_address, http_host, http_port, grpc_port, registry, token, as_json):
    """Your team's served students: name, model, status, replicas, URL."""
    principal = _whoami(registry, token)
    if all_teams and not principal.admin:
        raise click.UsageError("--all needs an admin token")
    address, endpoint = _cluster(ray_address, http_host, http_port, grpc_port)
    from distillery.serving.deploy import list_deployments
    rows = [ServedDeployment.model_validate({**row, "url": endpoint.url(row["name"])})
            for row in list_deployments(address, None if all_teams else principal.team)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        replicas = ", ".join(f"{n} {state.lower()}" for state, n in row.replicas.items()) or "0 replicas"
        click.echo(f"{row.name:<20} {row.model:<36} {row.team:<12} {row.status:<12} {replicas:<20} {row.url}")


@serve_group.command("rm")
@click.argument("name")
@ray_address_option
@_with_endpoint_options
@registry_option
@token_option
def rm_command(name, ray_address, http_host, http_port, grpc_port, registry, token):
    """Stop serving NAME (your team's)."""
    principal = _whoami(registry, token)
    address, _ = _cluster(ray_address, http_host, http_port, grpc_port)
    from distillery.serving.deploy import DeploymentError, remove
    try:
        remove(address, name, None if principal.admin else principal.team)
    except DeploymentError as exc:
        raise CommandError(str(exc), ExitCode.NOT_FOUND if "no deployment" in str(exc) else ExitCode.DENIED) from None
    click.echo(f"removed {name}")


@click.command("solve")
@click.argument("question")
@click.option("--endpoint", default=None, envvar="DISTILLERY_ENDPOINT",
              help="URL of a served student (http://HOST:PORT/NAME).")
@click.option("--name", default=None,
              help="A deployment of your team on the local stack (default: the only one; or --endpoint).")
@click.option("--methods", default="eot,pot,cot", show_default=True, help="Thought types to generate.")
@click.option("--strategy", type=click.Choice(["vote", "fallback", "single"]), default="vote", show_default=True)
@click.option("--samples", type=click.IntRange(min=0), default=0, show_default=True,
              help="Sampled thoughts per type besides the greedy one (self-consistency); the vote counts them all.")
@click.option("--temperature", type=click.FloatRange(min=0), default=None, help="Sampling temperature (with --samples).")
@token_option
@json_option
def solve_command(question, endpoint, name, methods, strategy, samples, temperature, token, as_json):
    """Ask a served student; prints the answer and each thought."""
    from distillery.serving.client import StudentClient, StudentError
    from distillery.serving.solving import SolveResponse
    from distillery.stack.local import load_state

    local = endpoint is None
    if local:
        state = load_state()
        if state is None or state.ray_ports is None:
            raise CommandError("no local stack to find deployments on: start it with `distillery up`, or pass "
                               "--endpoint URL", ExitCode.UNAVAILABLE)
        name = name or _only_deployment(token)
        endpoint = f"http://127.0.0.1:{state.ray_ports.serve_http}/{name}"
    try:
        reply = SolveResponse.model_validate(StudentClient(endpoint, team_token(token)).solve(
            question, [m.strip() for m in methods.split(",") if m.strip()], strategy, samples, temperature))
    except StudentError as exc:
        if local and exc.status == 404:  # Ray's own "no route" text means nothing to the caller
            raise CommandError(f"no deployment named {name!r}; {_deployments_sentence(token)}",
                               ExitCode.NOT_FOUND) from None
        raise CommandError(str(exc), for_http_status(exc.status)) from None
    except OSError as exc:
        raise CommandError(f"{endpoint}: {exc}", ExitCode.UNAVAILABLE) from None
    if as_json:
        echo_json(reply)
        return
    answer = "no answer" if reply.answer is None else f"{reply.answer:g} (from {reply.method})"
    click.echo(f"answer: {answer}   [{reply.model}, {reply.latency_ms:.0f} ms]")
    for thought in reply.thoughts:
        result = f"{thought.answer:g}" if thought.answer is not None else thought.error or "no answer"
        sample = f" sample {thought.sample}" if thought.sample >= 0 else ""
        click.echo(f"\n--- {thought.type}{sample}: {thought.status} -> {result}")
        click.echo(thought.text)


def _team_deployments(token: str | None) -> list[str]:
    """The names of the caller's team's deployments on the local stack."""
    principal = _whoami(None, token)
    address, _ = _cluster(None, "127.0.0.1", 8000, 9000)
    from distillery.serving.deploy import list_deployments

    return [row["name"] for row in list_deployments(address, None if principal.admin else principal.team)]


def _deployments_sentence(token: str | None) -> str:
    names = _team_deployments(token)
    return f"your team's: {', '.join(names)}" if names else "your team has none (deploy with `distillery serve MODEL`)"


def _only_deployment(token: str | None) -> str:
    """No --name: the team's one deployment; with none or several, say which exist."""
    names = _team_deployments(token)
    if len(names) == 1:
        return names[0]
    if not names:
        raise CommandError("no deployment to ask: your team has none (deploy with `distillery serve MODEL`)",
                           ExitCode.NOT_FOUND)
    raise click.UsageError(f"{len(names)} deployments: pass --name, one of {', '.join(names)}")
