"""Where the CLI's remote calls go: explicit flags, then environment, then the local stack."""

from __future__ import annotations

import os

import click
import grpc

from distillery.cli.exit_codes import CommandError, ExitCode, rpc_error
from distillery.stack.local import distillery_home, load_state, read_secret


def service_address(service: str, explicit: str | None) -> str:
    """``explicit``, else ``DISTILLERY_<SERVICE>``, else the local stack's address for ``service``.

    Remote addresses may be ``grpcs://host:port`` (TLS; see distillery.core.channels)."""
    address = explicit or os.environ.get(f"DISTILLERY_{service.upper()}")
    if address:
        return address
    state = load_state()
    process = getattr(state, service, None) if state else None
    if process is None:
        raise CommandError(  # not a usage mistake: the stack is down, which `up` fixes
            f"no {service}: start the local stack with `distillery up`, or pass --{service} grpcs://HOST:PORT",
            ExitCode.UNAVAILABLE)
    return process.address


def registry_address(explicit: str | None) -> str:
    return service_address("registry", explicit)


def team_token(explicit: str | None) -> str:
    token = explicit or read_secret(distillery_home() / "token")
    if not token:
        raise CommandError("no token: pass --token / DISTILLERY_TOKEN, or start the local stack with `distillery up`",
                           ExitCode.DENIED)
    return token


def admin_token(explicit: str | None) -> str:
    token = explicit or os.environ.get("DISTILLERY_ADMIN_TOKEN") or read_secret(distillery_home() / "admin.token")
    if not token:
        raise CommandError("no admin token: pass --admin-token / DISTILLERY_ADMIN_TOKEN", ExitCode.DENIED)
    return token


def rpc_failure(service: str, exc: grpc.RpcError) -> click.ClickException:
    """One readable line for a failed call ('registry: PERMISSION_DENIED: ...'), exiting with its meaning."""
    return rpc_error(service, exc)
