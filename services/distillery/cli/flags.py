"""Option groups shared by every command."""

from __future__ import annotations

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
token_option = click.option(
    "--token", envvar="DISTILLERY_TOKEN", default=None, show_envvar=True,
    help="Team token sent as a bearer token to remote services.",
)


def workers_option(default: int = 2):
    return click.option("--workers", type=click.IntRange(1, 256), default=default, show_default=True,
                        help="Sandbox worker processes per pool.")


timeout_option = click.option("--timeout", "timeout_s", type=click.FloatRange(0.05, 600), default=None,
                              help="Per-thought time limit in seconds (default 5).")

metrics_port_option = click.option(
    "--metrics-port", type=click.IntRange(0, 65535), default=None, envvar="DISTILLERY_METRICS_PORT",
    help="Serve Prometheus metrics (gRPC calls by method and code, process) on http://HOST:PORT/metrics.")


def start_metrics(host: str, metrics_port: int | None) -> None:
    """Start a service's metrics exporter when ``--metrics-port`` asks for one."""
    if metrics_port is not None:
        from distillery.core.grpc_metrics import start_metrics_server

        start_metrics_server(host, metrics_port)
