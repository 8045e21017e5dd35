"""``distillery eval``: a student on the benchmarks, per thought type and ETD-combined; with
``--samples K`` also self-consistency (maj@K, pass@K, the vote over all samples, the oracle);
``--score FILE`` grades thoughts generated elsewhere (:mod:`distillery.evaluation.thought_file`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import click
import grpc

from distillery.cli.connect import registry_address, rpc_failure, team_token
from distillery.cli.exit_codes import CommandError, ExitCode
from distillery.cli.flags import json_option, token_option
from distillery.cli.json_shapes import EvalSummary, ScoreSummary
from distillery.cli.output import echo_json
from distillery.cli.registry import registry_option
from distillery.student.model_refs import ModelNotFound


@click.command("eval")
@click.option("--model", default=None, metavar="REF",
              help="NAME@VERSION of a registry model, an HF directory, or the alias smollm2-135m-instruct.")
@click.option("--score", "score_file", type=click.Path(dir_okay=False, exists=True), default=None, metavar="FILE",
              help="Grade the thoughts in FILE (JSONL, generated elsewhere) instead of generating: one row per "
                   "thought, {benchmark, id, question, answer, thought_type, sample (-1 greedy), text}.")
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
@click.option("--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True,
              help="HF backend only: most sequences per generate call.")
@click.option("--samples", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Also K sampled thoughts per problem and type: reports maj@K, pass@K, the ETD vote over all "
                   "samples and the oracle.")
@click.option("--temperature", type=click.FloatRange(0, 2, min_open=True), default=0.7, show_default=True,
              help="Of the sampled thoughts.")
@click.option("--seed", type=int, default=0, show_default=True, help="Of the sampled thoughts.")
@click.option("--out", default=None, help="Name of the results dataset (default: eval-<model name>).")
@registry_option
@click.option("--verifier", "verifier", default=None, envvar="DISTILLERY_VERIFIER",
              help="host:port of a verifier service (default: the local stack's, else an in-process sandbox).")
@token_option
@json_option
def eval_command(model, score_file, no_local_paths, benchmarks, methods, limit, backend, max_new_tokens, batch_size,
                 samples, temperature, seed, out, registry, verifier, token, as_json):
    """Generate with the student, verify every thought, grade; prints the table and NAME@VERSION.
    With --score FILE: verify and grade the thoughts in FILE; prints the table."""
    from distillery.evaluation.harness import parse_benchmarks, run_eval
    from distillery.evaluation.scoring import parse_methods
    from distillery.registry.client import RegistryClient

    if (model is None) == (score_file is None):
        raise click.UsageError("give --model (generate and grade) or --score FILE (grade generated thoughts), "
                               "not both" if model else "give --model REF or --score FILE")
    if score_file is not None:
        _score_file(score_file, verifier, token, as_json)
        return
    try:
        parse_benchmarks(benchmarks)
        parse_methods(methods)
    except ValueError as exc:
        raise CommandError(str(exc), ExitCode.INVALID) from None
    with RegistryClient(registry_address(registry), team_token(token)) as client, \
            _verify_many(verifier, token) as verify_many, _stdout_to_stderr():
        try:
            report = run_eval(model, benchmarks, methods, registry=client, verify_many=verify_many, limit=limit,
                              backend=backend, max_new_tokens=max_new_tokens, batch_size=batch_size, out=out,
                              log=lambda line: click.echo(line, err=True), samples=samples,
                              temperature=temperature, seed=seed,
                              # The user's own process reads the user's own files; a stage run for a
                              # tenant on a shared node must not.
                              allow_local_paths=not no_local_paths)
        except ModelNotFound as exc:
            raise CommandError(str(exc), ExitCode.NOT_FOUND) from None
        except ValueError as exc:
            raise CommandError(str(exc), ExitCode.INVALID) from None
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None
    if as_json:
        echo_json(EvalSummary.model_validate(report.summary()))
        return
    click.echo(f"{report.model}: {report.problems} problems, {report.thoughts} thoughts with {report.backend}, "
               f"{report.problems_per_s:.2f} problems/s, {report.thoughts_per_s:.2f} thoughts/s, "
               f"{report.tokens_per_s:.1f} tokens/s", err=True)
    click.echo(format_table(report.results))
    if report.etd is not None:
        click.echo(report.etd.sentence())
    click.echo(report.dataset)


def _score_file(path: str, verifier: str | None, token: str | None, as_json: bool) -> None:
    from distillery.core.jsonl import InvalidLine
    from distillery.evaluation.scoring import compare_etd
    from distillery.evaluation.thought_file import grade, read_thoughts

    try:
        thoughts = read_thoughts(path)
    except InvalidLine as exc:
        raise CommandError(str(exc), ExitCode.INVALID) from None
    click.echo(f"{path}: verifying {len(thoughts)} thoughts", err=True)
    with _verify_many(verifier, token) as verify_many:
        graded = grade(thoughts, verify_many)
    if as_json:
        echo_json(ScoreSummary.model_validate(graded.summary()))
        return
    click.echo(format_table(graded.results))
    comparison = compare_etd(graded.results)
    if comparison is not None:
        click.echo(comparison.sentence())


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
