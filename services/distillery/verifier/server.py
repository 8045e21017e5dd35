"""Run the verifier as a gRPC service: ``distillery verifier serve --port N``."""

from __future__ import annotations

import logging

from distillery.core.auth import TokenValidator
from distillery.core.grpc_server import ServiceHandle, create_server, limit_malloc_arenas, wait_for_termination
from distillery.v1 import verifier_pb2
from distillery.v1 import verifier_pb2_grpc as pb_grpc
from distillery.verifier.config import VerifierConfig
from distillery.verifier.servicer import VerifierServicer
from distillery.verifier.verifier import Verifier

log = logging.getLogger(__name__)
SERVICE_NAME = verifier_pb2.DESCRIPTOR.services_by_name["VerifierService"].full_name


def create_verifier_server(address: str, config: VerifierConfig | None = None,
                           authenticate: TokenValidator | None = None) -> tuple[ServiceHandle, Verifier]:
    """Start the service on ``address`` (``127.0.0.1:0`` picks a free port); returns it and its verifier."""
    verifier = Verifier(config).start()  # fail fast if the sandbox cannot start
    servicer = VerifierServicer(verifier)
    try:
        handle = create_server(
            address, lambda server: pb_grpc.add_VerifierServiceServicer_to_server(servicer, server),
            [SERVICE_NAME], authenticate, max_workers=max(16, 4 * verifier.config.workers),
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
