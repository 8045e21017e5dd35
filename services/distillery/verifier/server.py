"""Run the verifier as a gRPC service: ``distillery verifier serve --port N``.

It refuses to start without every required isolation layer (``VerifierConfig.require_isolation``;
by default every layer this process can be expected to have), unless an operator lets it run
without some on purpose (``allow_missing_isolation``). That override is then reported, not
hidden: in the log, in ``GetInfo`` (``overridden_layers``, ``degraded``) and in the
``distillery_verifier_isolation_layer{layer,state}`` gauge.
"""

from __future__ import annotations

import logging

from distillery.core.auth import TokenValidator
from distillery.core.grpc_server import ServiceHandle, create_server, limit_malloc_arenas, wait_for_termination
from distillery.sandbox import SandboxUnavailable
from distillery.sandbox.isolation import LAYERS
from distillery.v1 import verifier_pb2
from distillery.v1 import verifier_pb2_grpc as pb_grpc
from distillery.verifier.config import VerifierConfig
from distillery.verifier.servicer import VerifierServicer, export_isolation
from distillery.verifier.verifier import Verifier

log = logging.getLogger(__name__)
SERVICE_NAME = verifier_pb2.DESCRIPTOR.services_by_name["VerifierService"].full_name


class IsolationUnavailable(RuntimeError):
    """A required isolation layer is missing and no operator override allows it."""


def _refusal(exc: SandboxUnavailable, config: VerifierConfig, service: bool = True) -> IsolationUnavailable | None:
    """The sandbox's refusal, with how to override it, if it is about required layers (``service``:
    the hint for ``verifier serve`` and the chart, else for a local ``distillery verify``)."""
    message = str(exc)
    layers = [layer for layer in config.enforced_isolation if layer in message]
    if "isolation" not in message or not layers:
        return None
    kept = [layer for layer in config.require_isolation if layer not in layers]
    if not service:
        return IsolationUnavailable(
            f"verifier refuses to start: {message}. Untrusted programs would run with fewer layers than "
            f"required; to run without them on purpose: --allow-missing-isolation {','.join(layers)}")
    return IsolationUnavailable(
        f"verifier refuses to start: {message}. Untrusted programs would run with fewer layers than "
        f"required. Run it where these layers work (see the README's Security section), or accept their "
        f"absence on purpose with --allow-missing-isolation {','.join(layers)} (Helm: "
        f"verifier.allowMissingIsolation), which GetInfo and the distillery_verifier_isolation_layer metric "
        f"then report as overridden; or require fewer layers: --require-isolation {','.join(kept) or 'none'}")


def create_verifier_server(address: str, config: VerifierConfig | None = None,
                           authenticate: TokenValidator | None = None) -> tuple[ServiceHandle, Verifier]:
    """Start the service on ``address`` (``127.0.0.1:0`` picks a free port); returns it and its verifier."""
    config = config or VerifierConfig()
    verifier = Verifier(config)
    try:
        verifier.start()  # fail fast if the sandbox cannot start or lacks a required layer
    except SandboxUnavailable as exc:
        verifier.close()
        raise (_refusal(exc, config) or exc) from None
    report = verifier.isolation()
    states = export_isolation(config, report.missing())
    overridden = [layer for layer in LAYERS if states[layer] == "overridden"]
    if overridden:
        log.warning("verifier running WITHOUT required isolation layer(s) %s, allowed by --allow-missing-isolation "
                    "(%s)", ", ".join(overridden), "; ".join(report.notes))
    servicer = VerifierServicer(verifier)
    # Room for every team's calls: one team at its max_calls_per_team still leaves threads to others.
    max_workers = max(16, 4 * config.workers, 2 * config.max_calls_per_team + 8)
    try:
        handle = create_server(
            address, lambda server: pb_grpc.add_VerifierServiceServicer_to_server(servicer, server),
            [SERVICE_NAME], authenticate, max_workers=max_workers,
        )
    except BaseException:
        verifier.close()
        raise
    return handle, verifier


def serve(address: str, config: VerifierConfig | None = None, authenticate: TokenValidator | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight calls."""
    limit_malloc_arenas()
    handle, verifier = create_verifier_server(address, config, authenticate)
    report = verifier.isolation()
    log.info("verifier listening on port %d; isolation: %s", handle.port,
             "complete" if not report.missing() else f"missing {', '.join(report.missing())} ({'; '.join(report.notes)})")
    print(f"verifier serving on {address.rsplit(':', 1)[0]}:{handle.port}", flush=True)
    wait_for_termination()
    handle.stop(grace_s=10)
    verifier.close()
