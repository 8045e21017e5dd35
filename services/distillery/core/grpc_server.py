"""One way to build a gRPC server for every Distillery service.

``create_server(address, register, ...)`` returns ``(server, port)`` (bind port 0 to get
a free one, as tests do), with the standard ``grpc.health.v1`` service, server
reflection, bearer-token authentication and Prometheus call metrics installed. With a
certificate (``tls``, or ``DISTILLERY_TLS_CERT``/``_KEY`` in the environment) the port speaks TLS
only; ``health_port`` adds a plaintext port that serves nothing but ``grpc.health.v1`` (Kubernetes'
gRPC probes cannot speak TLS).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from distillery.core.auth import TokenAuthInterceptor, TokenValidator, check_exposure
from distillery.core.channels import MAX_MESSAGE_BYTES, ServerTLS, health_port_from_env, is_loopback
from distillery.core.grpc_metrics import ServerMetricsInterceptor
from distillery.core.channels import open_channel  # noqa: F401 -- re-exported: clients import it from here

log = logging.getLogger(__name__)


class ServiceHandle:
    """A started server plus its health servicer, so callers can flip serving status."""

    def __init__(self, server: grpc.Server, port: int, health_servicer: health.HealthServicer,
                 service_names: tuple[str, ...]) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer
        self.service_names = service_names
        self._on_stop: list[Callable[[], None]] = []

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the server stops (background threads, resources)."""
        self._on_stop.append(callback)

    def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *self.service_names):
            self.health.set(name, status)

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking calls, give in-flight ones ``grace_s`` to finish."""
        self.set_serving(False)
        self.server.stop(grace_s).wait()
        for callback in self._on_stop:
            callback()


def create_server(address: str, register: Callable[[grpc.Server], None], service_names: Iterable[str],
                  authenticate: TokenValidator | None = None, max_workers: int = 16,
                  tls: ServerTLS | None = None, health_port: int | None = None) -> ServiceHandle:
    """Build and start a server on ``address``; ``register`` adds the service's servicers.

    ``authenticate`` validates bearer tokens; ``None`` serves unauthenticated (loopback only).
    ``tls`` None: the environment's (``DISTILLERY_TLS_CERT``...), else plaintext. ``health_port``
    None: ``DISTILLERY_HEALTH_PORT``, else no separate health port.
    """
    check_exposure(address, authenticate is not None)
    tls = tls if tls is not None else ServerTLS.from_env()
    health_port = health_port if health_port is not None else health_port_from_env()
    if tls is None and not is_loopback(address):
        # Allowed (a mesh may encrypt for us), but tokens then cross the network readable.
        log.warning("serving %s in plaintext: pass --tls-cert/--tls-key to serve TLS", address)
    # Metrics first, so calls the token check refuses are counted too.
    interceptors = [ServerMetricsInterceptor(), *([TokenAuthInterceptor(authenticate)] if authenticate else [])]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=interceptors,
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.so_reuseport", 0)],
    )
    register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(service_names)
    reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = server.add_secure_port(address, tls.credentials()) if tls else server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind {address}")
    health_server = _health_server(address, health_port, health_servicer) if health_port is not None else None
    server.start()
    handle = ServiceHandle(server, port, health_servicer, names)
    if health_server is not None:
        health_server.start()
        handle.on_stop(lambda: health_server.stop(0).wait())
    handle.set_serving(True)
    return handle


def _health_server(address: str, port: int, health_servicer: health.HealthServicer) -> grpc.Server:
    """A plaintext server with only the health service (shared with the main server, so it reports
    the same status): what kubelet's gRPC probes reach when the main port speaks TLS."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="grpc-health"),
                         options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    host = address.rsplit(":", 1)[0]
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise OSError(f"could not bind the health port {host}:{port}")
    return server


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas, before the server's threads start.

    A gRPC thread pool streaming megabyte buffers otherwise spreads them over up to
    8 x cores arenas and resident memory creeps up with every stream (measured: +22 MB
    per GB streamed through the registry; flat with 2 arenas). No-op off glibc.
    """
    try:
        ctypes.CDLL(None).mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def wait_for_termination() -> None:
    """Block the main thread until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()

