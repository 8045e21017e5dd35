"""``distillery eval``: a student on the benchmarks, per thought type and ETD-combined."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator

import click
import grpc

from distillery.cli.connect import registry_address, rpc_failure, team_token
from distillery.cli.flags import json_option, token_option
from distillery.cli.registry import registry_option


@click.command("eval")
@click.option("--model", required=True, metavar="REF",
              help="NAME@VERSION of a registry model, an HF directory, or the alias smollm2-135m-instruct.")
@click.option("--no-local-paths", is_flag=True,
              help="Refuse a directory as --model (how the jobs controller runs this on a tenant's behalf).")
@click.option("--benchmarks", default="gsm8k,svamp,asdiv,multiarith", show_default=True,
              help="Comma-separated: gsm8k (the test split), svamp, asdiv, multiarith.")
@click.option("--methods", default="cot,pot,eot,etd", show_default=True,
              help="Comma-separated: cot, pot, eot, etd (all three types, combined by vote and by fallback).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N problems of each benchmark.")
@click.option("--backend", type=click.Choice(["auto", "hf", "vllm"]), default="auto", show_default=True,
              help="auto: vLLM when installed and the model is causal, else batched HF generate.")
@click.option("--max-new-tokens", type=click.IntRange(1, 8192), default=320, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True, help="HF backend only.")
@click.option("--out", default=None, help="Name of the results dataset (default: eval-<model name>).")
@registry_option
@click.option("--verifier", "verifier", default=None, envvar="DISTILLERY_VERIFIER",
              help="host:port of a verifier service (default: the local stack's, else an in-process sandbox).")
@token_option
@json_option
def eval_command(model, no_local_paths, benchmarks, methods, limit, backend, max_new_tokens, batch_size, out,
                 registry, verifier, token, as_json):
    """Generate with the student, verify every thought, grade; prints the table and NAME@VERSION."""
    from distillery.evaluation.harness import parse_benchmarks, run_eval
    from distillery.evaluation.scoring import parse_methods
    from distillery.registry.client import RegistryClient

    try:
        parse_benchmarks(benchmarks)
        parse_methods(methods)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    with RegistryClient(registry_address(registry), team_token(token)) as client, \
            _verify_many(verifier, token) as verify_many, _stdout_to_stderr():
        try:
            report = run_eval(model, benchmarks, methods, registry=client, verify_many=verify_many, limit=limit,
                              backend=backend, max_new_tokens=max_new_tokens, batch_size=batch_size, out=out,
                              log=lambda line: click.echo(line, err=True),
                              # The user's own process reads the user's own files; a stage run for a
                              # tenant on a shared node must not.
                              allow_local_paths=not no_local_paths)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None
    if as_json:
        click.echo(json.dumps(report.summary()))
        return
    click.echo(f"{report.model}: {report.problems} problems, {report.thoughts} thoughts with {report.backend}, "
               f"{report.problems_per_s:.2f} problems/s, {report.tokens_per_s:.1f} tokens/s", err=True)
    click.echo(format_table(report.results))
    if report.etd is not None:
        click.echo(report.etd.sentence())
    click.echo(report.dataset)


def format_table(results) -> str:
    """Rows = benchmarks, columns = methods, cells ``acc% (correct/total)``."""
    methods = list(dict.fromkeys(r.method for r in results))
    benchmarks = list(dict.fromkeys(r.benchmark for r in results))
    cells = {(r.benchmark, r.method): f"{r.accuracy:.1%} ({r.correct}/{r.total})" for r in results}
    widths = [max([len("benchmark")] + [len(b) for b in benchmarks])]
    widths += [max([len(m)] + [len(cells[b, m]) for b in benchmarks]) for m in methods]
    lines = [["benchmark", *methods]] + [[b, *(cells[b, m] for m in methods)] for b in benchmarks]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


@contextlib.contextmanager
def _verify_many(address: str | None, token: str | None) -> Iterator:
    """A verifier service's ``verify_many`` (given, or the local stack's when it answers), else in-process."""
    address = address or _local_verifier()
    if address is None:
        from distillery.verifier.verifier import Verifier

        with Verifier() as local:
            yield local.verify_many
        return
    from distillery.verifier.client import VerifierClient

    with VerifierClient(address, team_token(token)) as client:
        def verify_many(records):
            try:
                yield from client.verify_many(records)
            except grpc.RpcError as exc:
                raise rpc_failure(f"verifier at {address}", exc) from None

        yield verify_many


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """vLLM's engine processes log to file descriptor 1; keep stdout for the table / JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _local_verifier() -> str | None:
    from distillery.stack.local import load_state

    state = load_state()
    if state is None or state.verifier is None:
        return None
    from distillery.core.channels import open_channel

    with open_channel(state.verifier.address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=2)
        except grpc.FutureTimeoutError:
            return None
    return state.verifier.address
