"""``distillery verify`` and ``distillery verifier serve|info``."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import click
import grpc
from pydantic import ValidationError

from distillery.cli.connect import team_token
from distillery.cli.exit_codes import ExitCode, rpc_error
from distillery.cli.flags import (json_option, metrics_port_option, start_metrics, timeout_option, token_option,
                                  workers_option)
from distillery.cli.progress import progress
from distillery.core.auth import StaticTokens, hash_token
from distillery.core.errors import field_errors
from distillery.core.jsonl import InvalidLine
from distillery.verifier.batch import Summary, scan, verify_file
from distillery.verifier.config import VerifierConfig, parse_layers
from distillery.core.ports import PORTS

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _layers(value: str, flag: str) -> tuple[str, ...]:
    try:
        return parse_layers(value, flag)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


allow_missing_isolation_option = click.option(
    "--allow-missing-isolation", default="", envvar="DISTILLERY_ALLOW_MISSING_ISOLATION", show_envvar=True,
    metavar="LAYER,...",
    help="Required isolation layers to run without, on purpose (reported by GetInfo and metrics as overridden).")


def _config(workers: int, timeout_s: float | None, abs_tol: float | None = None,
            rel_tol: float | None = None, **settings) -> VerifierConfig:
    try:
        config = VerifierConfig(workers=workers, **settings)
    except ValidationError as exc:
        raise click.UsageError(field_errors(exc.errors(), whole='verifier settings')) from None
    grading = {k: v for k, v in (("abs_tol", abs_tol), ("rel_tol", rel_tol)) if v is not None}
    if grading:
        config = config.model_copy(update={"grading": config.grading.model_copy(update=grading)})
    return config.with_timeout(timeout_s) if timeout_s else config


@click.command("verify")
@click.argument("input_path", metavar="INPUT.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output_path", default="-", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Where to write every record with answer/status/correct/error added (atomically; "
                   "- is stdout, written once every thought is verified).")
@workers_option()
@timeout_option
@click.option("--skip-invalid", is_flag=True, help="Report malformed lines and go on, instead of failing.")
@click.option("--abs-tol", type=click.FloatRange(min=0), default=None,
              help="Correct when |answer - gold| < ABS_TOL (default 1e-3).")
@click.option("--rel-tol", type=click.FloatRange(min=0), default=None,
              help="Also correct when |answer - gold| <= REL_TOL * |gold| (default off).")
@click.option("--address", default=None, help="Use a remote verifier service (host:port) instead of a local sandbox.")
@allow_missing_isolation_option
@token_option
@json_option
def verify_command(input_path: Path, output_path: Path, workers: int, timeout_s: float | None, skip_invalid: bool,
                   abs_tol: float | None, rel_tol: float | None, address: str | None, allow_missing_isolation: str,
                   token: str | None, as_json: bool) -> None:
    """Execute, solve or parse each thought of INPUT.jsonl and grade it against its gold answer.

    Each line: {"id", "thought_type": "cot"|"pot"|"eot", "text", "gold"?}. Exit 0 even when
    thoughts fail; exit 3 when the input is unusable (the message names the line).
    """
    to_stdout = str(output_path) == "-"
    if to_stdout and as_json:
        raise click.UsageError("--json needs -o FILE: without it stdout carries the verified records")
    if not to_stdout and input_path.resolve() == output_path.resolve():
        raise click.UsageError("-o/--output must differ from INPUT.jsonl (the input is read twice)")
    total, invalid = scan(input_path)
    for problem in invalid:
        click.echo(f"{'skipped' if skip_invalid else 'error'}: {problem}", err=True)
    if invalid and not skip_invalid:
        click.echo(f"{len(invalid)} invalid line(s); nothing written (use --skip-invalid to verify the rest)", err=True)
        sys.exit(int(ExitCode.INVALID))
    with tempfile.TemporaryDirectory(prefix="distillery-verify-") as scratch:
        # stdout gets the records only once all are verified: a failed run prints none, like a file.
        target = Path(scratch) / "verified.jsonl" if to_stdout else output_path
        summary = _verify(input_path, target, total, workers, timeout_s, abs_tol, rel_tol, address,
                          allow_missing_isolation, token)
        if to_stdout:
            with target.open(encoding="utf-8") as verified:
                shutil.copyfileobj(verified, sys.stdout)
            sys.stdout.flush()
    summary.invalid_lines = invalid
    _report(summary, "stdout" if to_stdout else output_path, as_json)


def _verify(input_path: Path, output_path: Path, total: int, workers: int, timeout_s: float | None,
            abs_tol: float | None, rel_tol: float | None, address: str | None, allow_missing_isolation: str,
            token: str | None) -> Summary:
    try:
        with progress(total, "verifying") as advance:
            if address:
                from distillery.verifier.client import VerifierClient

                if timeout_s or abs_tol is not None or rel_tol is not None or workers != 2 or allow_missing_isolation:
                    raise click.UsageError("--timeout/--workers/--abs-tol/--rel-tol/--allow-missing-isolation "
                                           "configure a local verifier; a remote one uses its own settings")
                with VerifierClient(address, team_token(token)) as client:
                    return verify_file(input_path, output_path, client.verify_many, True, advance)
            else:
                from distillery.verifier.verifier import Verifier

                config = _config(workers, timeout_s, abs_tol, rel_tol, allow_missing_isolation=_layers(
                    allow_missing_isolation, "--allow-missing-isolation"))
                with Verifier(config) as verifier:
                    _start(verifier)
                    return verify_file(input_path, output_path, verifier.verify_many, True, advance)
    except InvalidLine as exc:  # the file changed between the two passes
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(ExitCode.INVALID))
    except grpc.RpcError as exc:
        raise rpc_error(f"verifier at {address}", exc) from None


def _start(verifier) -> None:
    """Start the sandboxes now, so a missing isolation layer is a clear error, not a failed thought."""
    from distillery.sandbox import SandboxUnavailable
    from distillery.verifier.server import IsolationUnavailable, _refusal

    try:
        verifier.start()
    except SandboxUnavailable as exc:
        refusal = _refusal(exc, verifier.config, service=False)
        raise click.ClickException(str(refusal or exc)) from None
    except IsolationUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _token_hashes(token_hash_file: str | None) -> list[str]:
    """SHA-256 hex digests from DISTILLERY_TOKEN_HASHES (comma-separated) and --token-hash-file (one per
    line; `sha256sum` output works: only the first field counts; blank and # lines are skipped)."""
    sources = [("DISTILLERY_TOKEN_HASHES", i + 1, x.strip())
               for i, x in enumerate(os.environ.get("DISTILLERY_TOKEN_HASHES", "").split(","))]
    if token_hash_file:
        try:
            lines = Path(token_hash_file).read_text().splitlines()
        except OSError as exc:
            raise click.BadParameter(f"--token-hash-file {token_hash_file}: {exc.strerror}") from None
        sources += [(f"--token-hash-file {token_hash_file} line", i + 1, line.strip()) for i, line in enumerate(lines)]
    hashes = []
    for where, number, text in sources:
        if not text or text.startswith("#"):
            continue
        digest = text.split()[0].lower()
        if not SHA256_HEX.fullmatch(digest):
            raise click.BadParameter(f"{where} {number}: not a SHA-256 hex digest (64 hex characters, e.g. "
                                     "`printf %s \"$TOKEN\" | sha256sum`)")
        hashes.append(digest)
    return hashes


def _report(summary: Summary, output_path: Path | str, as_json: bool) -> None:
    from distillery.cli.json_shapes import VerifySummary
    from distillery.cli.output import echo_json

    data = summary.to_dict()
    if as_json:
        echo_json(VerifySummary(output=str(output_path), **data))
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
# Not exists=True: the file is checked when read, so a pod's command line parses anywhere.
@click.option("--token-hash-file", type=click.Path(dir_okay=False), default=None,
              help="File with the SHA-256 (hex) of one accepted token per line (or DISTILLERY_TOKEN_HASHES, "
                   "comma-separated): the verifier then never holds the tokens themselves.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File with one accepted token per line (or DISTILLERY_TOKENS, comma-separated); prefer hashes.")
@click.option("--auth-registry", default=None,
              help="Accept any team token the registry at host:port knows (instead of tokens or hashes).")
@click.option("--require-isolation", default="auto", show_default=True, metavar="auto|none|LAYER,...",
              help="Isolation layers that must be present or the verifier refuses to start (network_namespace, "
                   "seccomp, landlock, privilege_drop). auto: network_namespace,seccomp,landlock,privilege_drop "
                   "as root, seccomp,landlock otherwise.")
@allow_missing_isolation_option
@click.option("--max-thoughts-per-call", type=click.IntRange(min=0), default=None,
              help="Thoughts one Verify may carry (default 4096; 0: unlimited).")
@click.option("--max-thoughts-per-stream", type=click.IntRange(min=0), default=None,
              help="Thoughts one VerifyStream may carry (default 1000000; 0: unlimited).")
@click.option("--max-thought-chars", type=click.IntRange(min=0), default=None,
              help="Characters of one thought's text (default 65536; 0: unlimited).")
@click.option("--max-inflight-per-team", type=click.IntRange(min=0), default=None,
              help="Thoughts per caller token accepted and not yet answered (default 4096; 0: unlimited).")
@click.option("--max-calls-per-team", type=click.IntRange(min=0), default=None,
              help="Concurrent Verify/VerifyStream calls per caller token (default 32; 0: unlimited).")
@metrics_port_option
def serve_command(host: str, port: int, workers: int, timeout_s: float | None, token_hash_file: str | None,
                  token_file: str | None, auth_registry: str | None, require_isolation: str,
                  allow_missing_isolation: str, max_thoughts_per_call: int | None,
                  max_thoughts_per_stream: int | None, max_thought_chars: int | None,
                  max_inflight_per_team: int | None, max_calls_per_team: int | None,
                  metrics_port: int | None) -> None:
    """Serve VerifierService over gRPC (health checking and reflection included)."""
    from distillery.verifier.server import IsolationUnavailable, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tokens = [t.strip() for t in os.environ.get("DISTILLERY_TOKENS", "").split(",") if t.strip()]
    if token_file:
        tokens += [t.strip() for t in Path(token_file).read_text().splitlines() if t.strip()]
    hashes = _token_hashes(token_hash_file) + [hash_token(t) for t in tokens]
    settings = {name: value for name, value in (
        ("max_thoughts_per_call", max_thoughts_per_call), ("max_thoughts_per_stream", max_thoughts_per_stream),
        ("max_thought_chars", max_thought_chars), ("max_inflight_thoughts_per_team", max_inflight_per_team),
        ("max_calls_per_team", max_calls_per_team)) if value is not None}
    if require_isolation.strip() != "auto":
        settings["require_isolation"] = _layers(require_isolation, "--require-isolation")
    settings["allow_missing_isolation"] = _layers(allow_missing_isolation, "--allow-missing-isolation")
    config = _config(workers, timeout_s, **settings)
    if auth_registry and hashes:
        raise click.UsageError("give either --auth-registry or tokens/token hashes, not both")
    authenticate = None
    if auth_registry:
        from distillery.registry.principals import PrincipalCache

        authenticate = PrincipalCache(auth_registry)
    elif hashes:
        authenticate = StaticTokens(hashes)
    start_metrics(host, metrics_port)
    try:
        serve(f"{host}:{port}", config, authenticate)
    except IsolationUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@verifier_group.command("info")
@click.option("--address", required=True, help="host:port of a verifier service.")
@token_option
@json_option
def info_command(address: str, token: str | None, as_json: bool) -> None:
    """Show a verifier's isolation layers and limits."""
    from distillery.cli.output import message_dict
    from distillery.verifier.client import VerifierClient

    with VerifierClient(address, token) as client:
        try:
            info = message_dict(client.info())
        except grpc.RpcError as exc:
            raise rpc_error(f"verifier at {address}", exc) from None
    click.echo(json.dumps(info, indent=None if as_json else 2))
