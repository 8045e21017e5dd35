"""``distillery teacher generate | pools | serve``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
import grpc

from distillery.cli.connect import rpc_failure, service_address, team_token
from distillery.cli.flags import json_option, metrics_port_option, start_metrics, token_option
from distillery.cli.json_shapes import TeacherJobOutput
from distillery.cli.output import columns, echo_json
from distillery.core.ports import PORTS


@click.group("teacher")
def teacher_group() -> None:
    """Teacher generation: CoT / PoT / EoT thoughts, verified, into the registry."""


@teacher_group.command("generate")
@click.option("--problems", required=True, metavar="NAME@V", help="A `problems` dataset (see registry import-benchmarks).")
@click.option("--types", "thought_types", default="cot,pot,eot", show_default=True, help="Comma-separated thought types.")
@click.option("--samples", type=click.IntRange(1, 64), default=1, show_default=True, help="Samples per problem and type.")
@click.option("--variants", type=click.IntRange(0, 64), default=0, show_default=True, metavar="K",
              help="Also K variants of each problem with new numbers, re-derived and verified (seeded by --seed).")
@click.option("--guard", "guard", multiple=True, metavar="NAME",
              help="A `problems` dataset of your team whose questions no row may carry (repeat it) "
                   "[default: gsm8k-test, svamp, asdiv, multiarith].")
@click.option("--no-guard", is_flag=True, help="Turn the contamination guard off (recorded in the lineage).")
@click.option("--backend", type=click.Choice(["annotations", "hf", "vllm", "openai"]), default=None,
              help="[default: openai with --pool/--endpoint, else annotations]")
@click.option("--model", default=None, help="Alias or registry ref (hf, vllm); one of the pool's models (openai); "
                                            "the format, gold-annotations-v1 or gold-annotations-v2 (annotations, "
                                            "default v2).")
@click.option("--pool", default=None, help="A teacher pool the operator configured (openai).")
@click.option("--endpoint", default=None,
              help="Your own OpenAI-compatible base URL, where the operator allows it (openai); sent your key only.")
@click.option("--endpoint-key-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="File with your key for --endpoint (or $DISTILLERY_TEACHER_ENDPOINT_KEY).")
@click.option("--out", required=True, help="Name of the verified dataset (rejected ones go to OUT-rejected).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N problems.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--temperature", type=float, default=None)
@click.option("--max-tokens", type=int, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--share", is_flag=True, help="Let every team read the new datasets.")
@click.option("--teacher", "teacher", default=None, envvar="DISTILLERY_TEACHER", help="host:port (default: local stack).")
@token_option
@json_option
def generate_command(problems, thought_types, samples, variants, guard, no_guard, backend, model, pool, endpoint,
                     endpoint_key_file, out, limit, batch_size, temperature, max_tokens, seed, share, teacher, token,
                     as_json):
    """Generate, verify and store a teacher dataset; prints NAME@VERSION. Re-run to resume."""
    from distillery.teacher.client import TeacherClient

    # The key travels in the request, not on the command line (ps shows arguments) nor in the job.
    endpoint_key = (endpoint_key_file.read_text().strip() if endpoint_key_file
                    else os.environ.get("DISTILLERY_TEACHER_ENDPOINT_KEY", ""))
    if endpoint_key_file and not endpoint:
        raise click.UsageError("--endpoint-key-file goes with --endpoint (a pool uses the operator's key)")
    job = teacher_job(problems, thought_types, samples, variants, guard, no_guard, backend, model, pool, endpoint,
                      endpoint_key, out, limit, batch_size, temperature, max_tokens, seed, share)
    result = None
    with TeacherClient(service_address("teacher", teacher), team_token(token)) as client:
        try:
            for event in client.run_job(job):
                p = event.progress
                if sys.stderr.isatty() or event.HasField("result"):
                    accepted = sum(p.accepted.values())
                    click.echo(f"\r{p.problems_done}/{p.problems_total} problems, {p.generated} thoughts, "
                               f"{accepted} verified, {p.tokens_per_s:.0f} tok/s{progress_extras(p, variants)}",
                               err=True, nl=event.HasField("result"))
                if event.HasField("result"):
                    result = event
        except grpc.RpcError as exc:
            raise rpc_failure("teacher", exc) from None
    if result is None:
        raise click.ClickException("teacher: the job ended without a result")
    short = result.result.dataset.split("/", 1)[1]
    if as_json:
        echo_json(TeacherJobOutput(
            dataset=result.result.dataset, rejected=result.result.rejected or None,
            variants=result.result.variants or None, yield_by_type=dict(result.result.yield_by_type),
            accepted=dict(result.progress.accepted), rejected_by_type=dict(result.progress.rejected),
            generated=result.progress.generated, duplicates=result.progress.duplicates,
            output_tokens=result.progress.output_tokens, resumed_from=result.progress.resumed_from,
            variants_kept=result.progress.variants_kept, variants_dropped=result.progress.variants_dropped,
            contaminated=result.progress.contaminated))
    else:
        click.echo(short)


def teacher_job(problems, thought_types, samples, variants, guard, no_guard, backend, model, pool, endpoint,
                endpoint_key, out, limit, batch_size, temperature, max_tokens, seed, share):
    """The ``TeacherJob`` request for ``generate``'s options, checked here as the service will
    check it (no --guard: the default list)."""
    from pydantic import ValidationError

    from distillery.core.errors import field_errors
    from distillery.core.pydantic_proto import to_message
    from distillery.teacher.config import TeacherJobConfig
    from distillery.v1 import teacher_pb2 as pb
    from distillery.v1 import teacher_config_pb2

    if guard and no_guard:
        raise click.UsageError("--guard and --no-guard exclude each other")
    given = {"backend": backend, "model": model, "pool": pool, "endpoint": endpoint, "limit": limit,
             "thought_types": tuple(t.strip() for t in thought_types.split(",") if t.strip()),
             "contamination_guard": () if no_guard else (tuple(guard) or None),
             "sampling": {k: v for k, v in (("temperature", temperature), ("max_tokens", max_tokens), ("seed", seed))
                          if v is not None}}
    try:
        config = TeacherJobConfig(**{k: v for k, v in given.items() if v is not None}, problems=problems, out=out,
                                  samples=samples, variants=variants, batch_size=batch_size, share=share)
    except ValidationError as exc:
        raise click.UsageError(field_errors(exc.errors(), whole="job")) from None
    return pb.TeacherJob(config=to_message(config, teacher_config_pb2.TeacherJobConfig),
                         endpoint_api_key=endpoint_key if endpoint else "")


def progress_extras(progress, variants: int) -> str:
    """The progress line's tail: variants when the job asks for them, problems the guard refused."""
    extras = ""
    if variants:
        extras += f", {progress.variants_kept} variants kept ({progress.variants_dropped} dropped)"
    if progress.contaminated:
        extras += f", {progress.contaminated} refused by the contamination guard"
    return extras


@teacher_group.command("pools")
@click.option("--teacher", "teacher", default=None, envvar="DISTILLERY_TEACHER", help="host:port (default: local stack).")
@token_option
@json_option
def pools_command(teacher, token, as_json):
    """The teacher pools your team may name (`--pool`, a job's `teacher.pool`) and the models each serves."""
    from distillery.teacher.client import TeacherClient

    with TeacherClient(service_address("teacher", teacher), team_token(token)) as client:
        try:
            offered = client.list_pools()
        except grpc.RpcError as exc:
            raise rpc_failure("teacher", exc) from None
    if as_json:
        echo_json(offered)
        return
    rows = [(pool.name, ", ".join(pool.models) + ("  (restricted to some teams)" if pool.restricted else ""))
            for pool in offered.pools]
    if rows:
        click.echo(columns(rows))
    else:  # stderr: stdout stays one pool a line, for scripts
        click.echo("no teacher pools for your team: the operator configured none", err=True)
    if offered.team_endpoints:
        click.echo("your team may also name its own OpenAI-compatible `endpoint`", err=True)


@teacher_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=PORTS["teacher"], show_default=True)
@click.option("--registry", "registry", required=True, help="host:port of the registry.")
@click.option("--verifier", "verifier", required=True, help="host:port of the verifier.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where job checkpoints live (a persistent volume in a cluster).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar="DISTILLERY_TEACHER_CONFIG",
              help="YAML/JSON: the teacher pools teams may pick (`pools`) and whether teams may bring their own "
                   "endpoints (`team_endpoints`). None: no pools, no team endpoints.")
@metrics_port_option
def serve_command(host, port, registry, verifier, work_dir, config_path, metrics_port):
    """Serve TeacherService; callers' team tokens are checked by the registry."""
    from distillery.registry.principals import PrincipalCache
    from distillery.teacher.pools import describe, load_service_config
    from distillery.teacher.server import serve

    try:
        service_config = load_service_config(config_path)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("distillery.teacher").info("teacher endpoints: %s", describe(service_config))
    start_metrics(host, metrics_port)
    serve(f"{host}:{port}", registry, verifier, work_dir, PrincipalCache(registry), service_config)
