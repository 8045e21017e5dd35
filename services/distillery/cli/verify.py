"""``distillery verify`` and ``distillery verifier serve|info``."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
import grpc

from distillery.cli.connect import team_token
from distillery.cli.flags import (json_option, metrics_port_option, start_metrics, timeout_option, token_option,
                                  workers_option)
from distillery.cli.progress import progress
from distillery.core.auth import StaticTokens, hash_token
from distillery.core.jsonl import InvalidLine
from distillery.verifier.batch import Summary, scan, verify_file
from distillery.verifier.config import VerifierConfig
from distillery.core.ports import PORTS

EXIT_INVALID_INPUT = 2


def _config(workers: int, timeout_s: float | None, abs_tol: float | None = None,
            rel_tol: float | None = None) -> VerifierConfig:
    config = VerifierConfig(workers=workers)
    grading = {k: v for k, v in (("abs_tol", abs_tol), ("rel_tol", rel_tol)) if v is not None}
    if grading:
        config = config.model_copy(update={"grading": config.grading.model_copy(update=grading)})
    return config.with_timeout(timeout_s) if timeout_s else config


@click.command("verify")
@click.argument("input_path", metavar="INPUT.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write every record with answer/status/correct/error added (atomically).")
@workers_option()
@timeout_option
@click.option("--skip-invalid", is_flag=True, help="Report malformed lines and go on, instead of failing.")
@click.option("--abs-tol", type=click.FloatRange(min=0), default=None,
              help="Correct when |answer - gold| < ABS_TOL (default 1e-3).")
@click.option("--rel-tol", type=click.FloatRange(min=0), default=None,
              help="Also correct when |answer - gold| <= REL_TOL * |gold| (default off).")
@click.option("--address", default=None, help="Use a remote verifier service (host:port) instead of a local sandbox.")
@token_option
@json_option
def verify_command(input_path: Path, output_path: Path, workers: int, timeout_s: float | None, skip_invalid: bool,
                   abs_tol: float | None, rel_tol: float | None, address: str | None, token: str | None,
                   as_json: bool) -> None:
    """Execute, solve or parse each thought of INPUT.jsonl and grade it against its gold answer.

    Each line: {"id", "thought_type": "cot"|"pot"|"eot", "text", "gold"?}. Exit 0 even when
    thoughts fail; exit 2 when the input is unusable (the message names the line).
    """
    if input_path.resolve() == output_path.resolve():
        raise click.UsageError("-o/--output must differ from INPUT.jsonl (the input is read twice)")
    total, invalid = scan(input_path)
    for problem in invalid:
        click.echo(f"{'skipped' if skip_invalid else 'error'}: {problem}", err=True)
    if invalid and not skip_invalid:
        click.echo(f"{len(invalid)} invalid line(s); nothing written (use --skip-invalid to verify the rest)", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    try:
        with progress(total, "verifying") as advance:
            if address:
                from distillery.verifier.client import VerifierClient

                if timeout_s or abs_tol is not None or rel_tol is not None or workers != 2:
                    raise click.UsageError("--timeout/--workers/--abs-tol/--rel-tol configure a local verifier; "
                                           "a remote one uses its own settings")
                with VerifierClient(address, team_token(token)) as client:
                    summary = verify_file(input_path, output_path, client.verify_many, True, advance)
            else:
                from distillery.verifier.verifier import Verifier

                with Verifier(_config(workers, timeout_s, abs_tol, rel_tol)) as verifier:
                    summary = verify_file(input_path, output_path, verifier.verify_many, True, advance)
    except InvalidLine as exc:  # the file changed between the two passes
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    except grpc.RpcError as exc:
        raise click.ClickException(f"verifier at {address}: {exc.code().name}: {exc.details()}") from None
    summary.invalid_lines = invalid
    _report(summary, output_path, as_json)


def _report(summary: Summary, output_path: Path, as_json: bool) -> None:
    data = summary.to_dict()
    if as_json:
        click.echo(json.dumps({"output": str(output_path), **data}))
    lines = [f"verified {data['total']} thoughts -> {output_path}"]
    if data["invalid_lines"]:
        lines.append(f"  skipped invalid lines: {data['invalid_lines']}")
    lines += [f"  {status:<15} {count}" for status, count in data["by_status"].items()]
    if data["graded"]:
        lines.append(f"  accuracy        {data['correct']}/{data['graded']} = {data['accuracy']:.2%}")
        for thought_type, row in data["by_thought_type"].items():
            lines.append(f"    {thought_type:<13} {row['correct']}/{row['graded']} = {row['accuracy']:.2%}")
    click.echo("\n".join(lines), err=True)


@click.group("verifier")
def verifier_group() -> None:
    """Run or inspect the verifier service."""


@verifier_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=PORTS["verifier"], show_default=True, help="Port (0: any free).")
@workers_option()
@timeout_option
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File with one accepted token per line (or DISTILLERY_TOKENS, comma-separated).")
@click.option("--auth-registry", default=None,
              help="Accept any team token the registry at host:port knows (instead of a token file).")
@click.option("--require-isolation", default="", help="Comma-separated layers that must be present, e.g. seccomp,landlock.")
@metrics_port_option
def serve_command(host: str, port: int, workers: int, timeout_s: float | None, token_file: str | None,
                  auth_registry: str | None, require_isolation: str, metrics_port: int | None) -> None:
    """Serve VerifierService over gRPC (health checking and reflection included)."""
    from distillery.verifier.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tokens = [t.strip() for t in os.environ.get("DISTILLERY_TOKENS", "").split(",") if t.strip()]
    if token_file:
        tokens += [t.strip() for t in Path(token_file).read_text().splitlines() if t.strip()]
    config = _config(workers, timeout_s).model_copy(
        update={"require_isolation": tuple(x for x in require_isolation.split(",") if x)})
    if auth_registry and tokens:
        raise click.UsageError("give either --auth-registry or tokens, not both")
    authenticate = None
    if auth_registry:
        from distillery.registry.client import RegistryTokens

        authenticate = RegistryTokens(auth_registry)
    elif tokens:
        authenticate = StaticTokens(hash_token(t) for t in tokens)
    start_metrics(host, metrics_port)
    try:
        serve(f"{host}:{port}", config, authenticate)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@verifier_group.command("info")
@click.option("--address", required=True, help="host:port of a verifier service.")
@token_option
@json_option
def info_command(address: str, token: str | None, as_json: bool) -> None:
    """Show a verifier's isolation layers and limits."""
    from google.protobuf.json_format import MessageToDict

    from distillery.verifier.client import VerifierClient

    with VerifierClient(address, token) as client:
        try:
            info = MessageToDict(client.info(), preserving_proto_field_name=True)
        except grpc.RpcError as exc:
            raise click.ClickException(f"verifier at {address}: {exc.code().name}: {exc.details()}") from None
    click.echo(json.dumps(info, indent=None if as_json else 2))
