"""``distillery registry …`` and ``distillery team …`` (teams and their tokens)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
import grpc

from distillery.cli.connect import admin_token as resolve_admin_token
from distillery.cli.connect import registry_address, rpc_failure, team_token
from distillery.cli.exit_codes import CommandError, ExitCode
from distillery.cli.flags import json_option, metrics_port_option, start_metrics, token_option
from distillery.cli.json_shapes import ImportedBenchmark, PulledDataset, PulledModel
from distillery.cli.output import echo_json, message_dict, text_output
from distillery.core.ports import PORTS

registry_option = click.option("--registry", "registry", default=None, envvar="DISTILLERY_REGISTRY",
                               help="host:port of the registry (default: the local stack).")


def _client(registry: str | None, token: str | None):
    from distillery.registry.client import RegistryClient

    return RegistryClient(registry_address(registry), team_token(token))


def _short_ref(manifest) -> str:
    return f"{manifest.name}@{manifest.version}"


class RegistryGroup(click.Group):
    """Turns a failed registry call into one clear line instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None


@click.group("registry", cls=RegistryGroup)
def registry_group() -> None:
    """Versioned, immutable datasets and models with lineage, per team."""


@registry_group.command("push")
@click.argument("name")
@click.argument("path", metavar="FILE.jsonl", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--kind", type=click.Choice(["dataset", "problems", "model"]), default="dataset", show_default=True,
              help="model: PATH is a checkpoint directory (or file) pushed as files.")
@click.option("--parent", "parents", multiple=True, metavar="NAME@V", help="An input this was made from (repeat).")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="A free-form label (repeat).")
@click.option("--stage", default="", help="The producing stage (teacher, verify, train, eval, ...).")
@click.option("--config", "config_json", default=None, help="The stage's configuration, as JSON.")
@click.option("--share", is_flag=True, help="Let every team read this version.")
@registry_option
@token_option
@json_option
def push_command(name, path, kind, parents, meta, stage, config_json, share, registry, token, as_json):
    """Push FILE.jsonl as the next version of NAME; prints NAME@VERSION."""
    from distillery.registry.client import header

    labels = {}
    for item in meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--meta {item!r}: expected KEY=VALUE")
        labels[key] = value
    try:
        config = json.loads(config_json) if config_json else None
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"--config is not valid JSON: {exc}") from None
    push_header = header(name, kind, parents=parents, meta=labels, share=share, stage=stage, config=config)
    with _client(registry, token) as client:
        if kind == "model":
            directory = path if path.is_dir() else path.parent
            manifest = client.push_files(push_header, directory)
        elif path.is_dir():
            raise click.UsageError(f"{path} is a directory; only --kind model pushes directories")
        else:
            manifest = client.push_file(push_header, path)
    echo_json(manifest) if as_json else click.echo(_short_ref(manifest))


@registry_group.command("pull")
@click.argument("ref", metavar="NAME[@VERSION|@TAG]")
@click.option("-o", "--output", required=True, type=click.Path(allow_dash=True, path_type=Path),
              help="FILE.jsonl for datasets (written atomically; - for stdout); a directory for models.")
@registry_option
@token_option
@json_option
def pull_command(ref, output, registry, token, as_json):
    """Write the exact rows pushed, in order (or a model's files)."""
    from distillery.registry.client import KINDS

    with _client(registry, token) as client:
        manifest = client.show(ref)
        to_stdout = str(output) == "-"
        if manifest.kind == KINDS["model"]:
            if to_stdout:
                raise click.UsageError(f"{manifest.ref} is a model, a directory of files: -o DIRECTORY")
            written = client.pull_files(manifest.ref, output)
            if as_json:
                echo_json(PulledModel(ref=manifest.ref, files=[str(p) for p in written]))
            click.echo(f"{_short_ref(manifest)}: {len(written)} files -> {output}", err=True)
            return
        if to_stdout and as_json:
            raise click.UsageError("--json needs -o FILE: with -o - stdout carries the rows")
        with text_output(output) as handle:
            for chunk in client.pull(manifest.ref):  # the version just shown, not a newer one
                handle.write(chunk.decode("utf-8"))
    if as_json:
        echo_json(PulledDataset(ref=manifest.ref, rows=manifest.rows, output=str(output)))
    click.echo(f"{_short_ref(manifest)}: {manifest.rows} rows -> {output}", err=True)


@registry_group.command("ls")
@click.option("--shared", is_flag=True, help="Also list other teams' shared datasets.")
@click.option("--deleted", is_flag=True, help="Also list soft-deleted versions.")
@click.option("--name", default="", help="Only versions of NAME.")
@registry_option
@token_option
@json_option
def ls_command(shared, deleted, name, registry, token, as_json):
    """List datasets and models."""
    with _client(registry, token) as client:
        manifests = client.list(include_shared=shared, include_deleted=deleted, name=name)
    if as_json:
        echo_json(manifests)
        return
    from distillery.registry.client import kind_name

    for m in manifests:
        flags = ",".join(f for f, on in (("shared", m.shared), ("deleted", bool(m.deleted_at))) if on)
        click.echo(f"{m.ref:<40} {kind_name(m.kind):<9} {m.rows:>9} rows  {m.created_at}  "
                   f"{' '.join('#' + t for t in m.tags)} {flags}".rstrip())


@registry_group.command("show")
@click.argument("ref", metavar="NAME[@VERSION|@TAG]")
@registry_option
@token_option
@json_option
def show_command(ref, registry, token, as_json):
    """Print a version's manifest: contents, counts and lineage."""
    with _client(registry, token) as client:
        manifest = client.show(ref)
    click.echo(json.dumps(message_dict(manifest), indent=None if as_json else 2))


@registry_group.command("lineage")
@click.argument("ref", metavar="NAME@V")
@registry_option
@token_option
@json_option
def lineage_command(ref, registry, token, as_json):
    """Walk a version's parents back to the roots."""
    with _client(registry, token) as client:
        chain = client.lineage(ref)
    if as_json:
        echo_json(chain)
        return
    for m in chain:
        stage = f" [{m.lineage.stage}]" if m.lineage.stage else ""
        parents = ", ".join(m.lineage.parents) or "(root)"
        click.echo(f"{m.ref}{stage} <- {parents}")


@registry_group.command("tag")
@click.argument("ref", metavar="NAME@V")
@click.argument("tag")
@registry_option
@token_option
@json_option
def tag_command(ref, tag, registry, token, as_json):
    """Point TAG at a version (tags move; versions never change)."""
    with _client(registry, token) as client:
        manifest = client.tag(ref, tag)
    echo_json(manifest) if as_json else click.echo(f"{manifest.name}@{tag} -> {_short_ref(manifest)}")


@registry_group.command("delete")
@click.argument("ref", metavar="NAME@V")
@registry_option
@token_option
@json_option
def delete_command(ref, registry, token, as_json):
    """Soft-delete a version (restorable for the retention period)."""
    with _client(registry, token) as client:
        manifest = client.delete(ref)
    echo_json(manifest) if as_json else click.echo(
        f"deleted {_short_ref(manifest)} (restore with `distillery registry restore {_short_ref(manifest)}`)")


@registry_group.command("restore")
@click.argument("ref", metavar="NAME@V")
@registry_option
@token_option
@json_option
def restore_command(ref, registry, token, as_json):
    """Undo a soft delete."""
    with _client(registry, token) as client:
        manifest = client.restore(ref)
    echo_json(manifest) if as_json else click.echo(_short_ref(manifest))


@registry_group.command("import-benchmarks")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Benchmark folder (default: ../shared/data beside the checkout, or DISTILLERY_SHARED_DATA).")
@click.option("--only", multiple=True, help="Import only these (gsm8k-train, gsm8k-test, svamp, asdiv, multiarith).")
@click.option("--share", is_flag=True, help="Let every team read them.")
@click.option("--public", is_flag=True,
              help="Into the read-only `public` namespace every team reads (admin token; `up` does this once).")
@click.option("--admin-token", default=None, help="With --public. Default: DISTILLERY_ADMIN_TOKEN or the local stack's.")
@registry_option
@token_option
@json_option
def import_benchmarks_command(data_dir, only, share, public, admin_token, registry, token, as_json):
    """Load GSM8K, SVAMP, ASDiv and MultiArith as `problems` datasets; prints NAME@VERSION each.

    Every team already reads the public copies (`gsm8k-train` resolves to the team's own, else
    `public/gsm8k-train`): import your team's own only to pin different data."""
    from distillery.registry.benchmarks import BENCHMARKS

    names = list(only) or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise click.UsageError(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    from distillery.registry.benchmark_import import import_benchmarks

    def say(manifest, loaded) -> None:
        click.echo(manifest.ref if public else _short_ref(manifest))
        if loaded.dropped:
            click.echo(f"  {manifest.name}: dropped {len(loaded.dropped)} problems without a single numeric "
                       "answer", err=True)

    from distillery.registry.client import RegistryClient

    secret = resolve_admin_token(admin_token) if public else team_token(token)
    with RegistryClient(registry_address(registry), secret) as client:
        results = import_benchmarks(client, names, data_dir_or_usage(data_dir), share=share,
                                    on_imported=None if as_json else say)
    if as_json:
        echo_json([ImportedBenchmark.model_validate(result) for result in results])


def data_dir_or_usage(data_dir: Path | None) -> Path:
    from distillery.registry.benchmark_import import default_data_dir

    try:
        return data_dir or default_data_dir()
    except FileNotFoundError as exc:
        raise click.UsageError(str(exc)) from None


@registry_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=PORTS["registry"], show_default=True)
@click.option("--s3-endpoint", required=True, envvar="DISTILLERY_S3_ENDPOINT", help="host:port of the S3 server.")
@click.option("--s3-access-key", required=True, envvar="DISTILLERY_S3_ACCESS_KEY")
@click.option("--s3-secure", is_flag=True, help="Use HTTPS to reach S3.")
@click.option("--bucket", default="distillery", show_default=True)
@metrics_port_option
def serve_command(host, port, s3_endpoint, s3_access_key, s3_secure, bucket, metrics_port):
    """Serve RegistryService. Secrets come from the environment: DISTILLERY_S3_SECRET_KEY, and
    DISTILLERY_ADMIN_TOKEN (or its hash in DISTILLERY_ADMIN_TOKEN_SHA256)."""
    from distillery.core.auth import hash_token
    from distillery.registry.config import RegistryConfig
    from distillery.registry.server import serve
    from distillery.core.s3 import S3Config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secret = os.environ.get("DISTILLERY_S3_SECRET_KEY")
    if not secret:
        raise click.UsageError("set DISTILLERY_S3_SECRET_KEY")
    admin_hashes = [h for h in os.environ.get("DISTILLERY_ADMIN_TOKEN_SHA256", "").split(",") if h]
    if os.environ.get("DISTILLERY_ADMIN_TOKEN"):
        admin_hashes.append(hash_token(os.environ["DISTILLERY_ADMIN_TOKEN"]))
    config = RegistryConfig(s3=S3Config(endpoint=s3_endpoint, access_key=s3_access_key, secret_key=secret,
                                        bucket=bucket, secure=s3_secure),
                            admin_token_hashes=tuple(admin_hashes))
    start_metrics(host, metrics_port)
    serve(f"{host}:{port}", config)


@click.group("team", cls=RegistryGroup)
def team_group() -> None:
    """Teams and their tokens (admin)."""


admin_token_option = click.option("--admin-token", default=None,
                                  help="Default: DISTILLERY_ADMIN_TOKEN, else --token / DISTILLERY_TOKEN when "
                                       "given (refused unless it is an admin token), else the local stack's.")


@team_group.command("create")
@click.argument("name")
@registry_option
@token_option
@admin_token_option
def team_create_command(name, registry, token, admin_token):
    """Create team NAME (admin); prints its token on stdout and nothing else."""
    _print_new_token(registry, token, admin_token, lambda client: client.create_team(name))


@team_group.command("ls")
@registry_option
@token_option
@admin_token_option
@json_option
def team_ls_command(registry, token, admin_token, as_json):
    """Every team (admin): name, when it was created, its active tokens."""
    with _admin_client(registry, token, admin_token) as client:
        teams = client.list_teams()
    if as_json:
        echo_json(teams)
        return
    width = max([len("team")] + [len(t.team) for t in teams])
    click.echo(f"{'team':<{width}}  {'created':<24}  active tokens")
    for t in teams:
        click.echo(f"{t.team:<{width}}  {t.created_at:<24}  {t.active_tokens}")


@click.command("whoami")
@registry_option
@token_option
@json_option
def whoami_command(registry, token, as_json):
    """The team and token id of the token in use (--token / DISTILLERY_TOKEN, else the local stack's)."""
    with _client(registry, token) as client:
        try:
            principal = client.whoami()
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None
    if as_json:
        echo_json(principal)
    elif principal.admin:
        click.echo("admin")
    else:
        expiring = f" (expires {principal.expires_at})" if principal.expires_at else ""
        click.echo(f"team {principal.team} token {principal.token_id}{expiring}")


class _TokenGroup(click.Group):
    """``team token NAME`` (the original form) still issues a token: it means ``team token create NAME``."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["create", *args]
        return super().resolve_command(ctx, args)


@team_group.group("token", cls=_TokenGroup)
def team_token_group() -> None:
    """A team's tokens: create (admin), list, revoke, rotate.

    list/revoke/rotate act on your own team's tokens with your team token (--token /
    DISTILLERY_TOKEN); with --team TEAM they act on TEAM's with the admin token."""


team_target_option = click.option("--team", "team", default=None,
                                  help="Another team's tokens, with the admin token (default: your own, with --token).")


@team_token_group.command("create")
@click.argument("name")
@registry_option
@token_option
@admin_token_option
def team_token_create_command(name, registry, token, admin_token):
    """Issue another token for team NAME (admin); prints it on stdout and nothing else."""
    _print_new_token(registry, token, admin_token, lambda client: client.create_token(name))


def _token_client(registry, team, token, admin_token):
    """Admin credentials when acting on a named team, else the caller's team token."""
    from distillery.registry.client import RegistryClient

    secret = resolve_admin_token(admin_token) if team else team_token(token)
    return RegistryClient(registry_address(registry), secret)


@team_token_group.command("list")
@team_target_option
@registry_option
@token_option
@admin_token_option
@json_option
def team_token_list_command(team, registry, token, admin_token, as_json):
    """List a team's tokens (ids and states, never the tokens themselves)."""
    with _token_client(registry, team, token, admin_token) as client:
        try:
            tokens = client.list_tokens(team or "")
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None
    if as_json:
        echo_json(tokens)
        return
    for t in tokens:
        until = f" until {t.expires_at}" if t.state == "expiring" else ""
        click.echo(f"{t.team}/{t.id}  {t.state}{until}  created {t.created_at}{'  (this token)' if t.current else ''}")


@team_token_group.command("revoke")
@click.argument("token_id", metavar="ID")
@team_target_option
@registry_option
@token_option
@admin_token_option
@json_option
def team_token_revoke_command(token_id, team, registry, token, admin_token, as_json):
    """Revoke token ID now; prints TEAM/ID. The registry refuses it at once, other services
    within DISTILLERY_TOKEN_CACHE_TTL_S (default 30 s)."""
    with _token_client(registry, team, token, admin_token) as client:
        try:
            info = client.revoke_token(token_id, team or "")
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None
    echo_json(info) if as_json else click.echo(f"{info.team}/{info.id}")
    if not as_json:
        click.echo(f"revoked token {info.id} of team {info.team}", err=True)


@team_token_group.command("rotate")
@click.argument("token_id", metavar="[ID]", required=False, default="")
@click.option("--grace", "grace_s", type=click.FloatRange(0, 30 * 24 * 3600), default=3600.0, show_default=True,
              help="Seconds the old token stays valid (0: it stops at once).")
@team_target_option
@registry_option
@token_option
@admin_token_option
@json_option
def team_token_rotate_command(token_id, grace_s, team, registry, token, admin_token, as_json):
    """Issue a new token replacing ID (default: the token you call with); prints the new token on
    stdout and nothing else. The old one works until the grace period ends."""
    with _token_client(registry, team, token, admin_token) as client:
        try:
            result = client.rotate_token(token_id, team or "", grace_s)
        except grpc.RpcError as exc:
            raise rpc_failure("registry", exc) from None
    if as_json:
        echo_json(result)
        return
    sys.stdout.write(result.token + "\n")
    click.echo(f"new token {result.team}/{result.issued.id}; {result.team}/{result.replaced.id} "
               f"stops working at {result.replaced.expires_at}", err=True)


def _admin_client(registry, token, admin_token):
    """A client for an admin verb, with the token the caller gave: never a team token silently
    swapped for the stack's admin token (the registry refuses a team token, and says so)."""
    from distillery.registry.client import RegistryClient

    address = registry_address(registry)  # first: with the stack down, that is what to fix
    explicit_admin = admin_token or os.environ.get("DISTILLERY_ADMIN_TOKEN")
    return RegistryClient(address, explicit_admin or token or resolve_admin_token(None))


def _print_new_token(registry, token, admin_token, issue) -> None:
    with _admin_client(registry, token, admin_token) as client:
        try:
            new_token = issue(client)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
                raise CommandError(f"registry: PERMISSION_DENIED: {exc.details()} (the token given is not an admin "
                                   "token: pass --admin-token / DISTILLERY_ADMIN_TOKEN)", ExitCode.DENIED) from None
            raise rpc_failure("registry", exc) from None
    sys.stdout.write(new_token + "\n")
