"""Option groups shared by every command."""

from __future__ import annotations

import os

import click

from distillery.core import channels

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


def _to_env(name: str):
    """A callback that puts the flag's value in the environment: core.channels reads TLS settings
    from there, in this process and in every process it starts (stage drivers, workers)."""
    def callback(ctx: click.Context, param: click.Parameter, value):
        if value is not None:
            os.environ[name] = str(value)
        return value
    return callback


def _env_option(flag: str, env: str, help: str, **kwargs):
    return click.option(flag, envvar=env, show_envvar=True, default=None, expose_value=False, is_eager=True,
                        callback=_to_env(env), help=help, **kwargs)


# Not exists=True: the files are read when used (a mounted Secret may appear after parsing), and a
# missing file fails the server at start or the call with its path.
_pem = click.Path(dir_okay=False)
# Client side: how this process verifies the services it calls (and proves itself, for mTLS).
_client_tls_options = (
    _env_option("--tls-ca", channels.ENV_CA, type=_pem,
                help="CA bundle (PEM) to verify services with; TLS then also for host:port addresses "
                     "(not loopback). grpcs://host:port always uses TLS (system roots without this)."),
    _env_option("--tls-client-cert", channels.ENV_CLIENT_CERT, type=_pem,
                help="Client certificate (PEM) for services that require mTLS."),
    _env_option("--tls-client-key", channels.ENV_CLIENT_KEY, type=_pem, help="Its private key (PEM)."),
)
# Server side: every `serve` command.
_server_tls_options = (
    _env_option("--tls-cert", channels.ENV_CERT, type=_pem,
                help="Serve TLS with this certificate chain (PEM); needs --tls-key."),
    _env_option("--tls-key", channels.ENV_KEY, type=_pem, help="The certificate's private key (PEM)."),
    _env_option("--tls-client-ca", channels.ENV_CLIENT_CA, type=_pem,
                help="Require client certificates signed by this CA (mTLS)."),
    _env_option("--health-port", channels.ENV_HEALTH_PORT, type=click.IntRange(1, 65535),
                help="Also serve grpc.health.v1 alone, in plaintext, on this port (Kubernetes' gRPC "
                     "probes cannot speak TLS)."),
)


def _compose(*decorators):
    def apply(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


# Also on the `distillery` group itself, for verbs without --token (`team create`, admin verbs).
client_tls_options = _compose(*_client_tls_options)

# Every verb that calls a service takes the token, and with it the client TLS flags.
token_option = _compose(
    click.option("--token", envvar="DISTILLERY_TOKEN", default=None, show_envvar=True,
                 help="Team token sent as a bearer token to remote services."),
    *_client_tls_options,
)


def workers_option(default: int = 2):
    return click.option("--workers", type=click.IntRange(1, 256), default=default, show_default=True,
                        help="Sandbox worker processes per pool.")


timeout_option = click.option("--timeout", "timeout_s", type=click.FloatRange(0.05, 600), default=None,
                              help="Per-thought time limit in seconds (default 5).")

# Every `serve` command takes it; with it come the server's TLS flags and the client TLS flags for
# the services it calls (one decorator, so no serve command can miss them).
metrics_port_option = _compose(
    click.option("--metrics-port", type=click.IntRange(0, 65535), default=None, envvar="DISTILLERY_METRICS_PORT",
                 help="Serve Prometheus metrics (gRPC calls by method and code, process) on http://HOST:PORT/metrics."),
    *_server_tls_options,
    *_client_tls_options,
)


def start_metrics(host: str, metrics_port: int | None) -> None:
    """Start a service's metrics exporter when ``--metrics-port`` asks for one."""
    if metrics_port is not None:
        from distillery.core.grpc_metrics import start_metrics_server

        start_metrics_server(host, metrics_port)
