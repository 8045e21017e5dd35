"""Run the registry as a gRPC service: ``distillery registry serve``."""

from __future__ import annotations

import logging
import threading

from distillery.core.grpc_server import ServiceHandle, create_server, limit_malloc_arenas, wait_for_termination
from distillery.registry.auth import TeamDirectory
from distillery.registry.config import RegistryConfig
from distillery.registry.registry import Registry
from distillery.registry.servicer import RegistryServicer
from distillery.registry.store import ObjectStore
from distillery.v1 import registry_pb2
from distillery.v1 import registry_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name


class _Sweeper(threading.Thread):
    """Removes abandoned uploads and expired deletions: once at start, then periodically."""

    def __init__(self, registry: Registry) -> None:
        super().__init__(name="registry-sweep", daemon=True)
        self.registry = registry
        self.stopped = threading.Event()

    def run(self) -> None:
        # At start nothing can be in flight (one registry writes a bucket): every
        # unreferenced upload was left by a process that died mid-push.
        threshold: float | None = 0.0
        while not self.stopped.is_set():
            try:
                removed = self.registry.sweep(abandoned_after_s=threshold)
                if removed:
                    log.info("sweep removed %s", removed)
            except Exception:  # noqa: BLE001 -- keep sweeping next time
                log.exception("sweep failed")
            threshold = None
            self.stopped.wait(self.registry.config.gc_interval_s)


def create_registry_server(address: str, config: RegistryConfig) -> tuple[ServiceHandle, Registry]:
    store = ObjectStore(config.s3)
    store.ensure_bucket()
    registry = Registry(store, config)
    directory = TeamDirectory(store, config.admin_token_hashes)
    servicer = RegistryServicer(registry, directory)
    sweeper = _Sweeper(registry)
    sweeper.start()
    handle = create_server(
        address, lambda server: pb_grpc.add_RegistryServiceServicer_to_server(servicer, server), [SERVICE_NAME],
        authenticate=lambda token: directory.authenticate(token) is not None,
    )
    handle.on_stop(sweeper.stopped.set)
    return handle, registry


def serve(address: str, config: RegistryConfig) -> None:
    limit_malloc_arenas()
    handle, _ = create_registry_server(address, config)
    print(f"registry serving on {address.rsplit(':', 1)[0]}:{handle.port}", flush=True)
    wait_for_termination()
    handle.stop(grace_s=10)
