"""Prometheus metrics for every gRPC service: calls started and handled, by method and status
code, handling time, and messages streamed.

The names and labels are the ones of the gRPC ecosystem's Prometheus interceptors
(``grpc_server_handled_total{grpc_type, grpc_service, grpc_method, grpc_code}`` ...), so the
dashboards and alerts written for those work unchanged. :func:`create_server` installs the
interceptor on every server; ``serve --metrics-port`` exposes the process's registry (with
the standard process metrics: CPU, resident memory, open files) on ``/metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc
from prometheus_client import Counter, Histogram, start_http_server

from distillery.core.grpc_handlers import behavior_of, rpc_type, with_behavior

_LABELS = ("grpc_type", "grpc_service", "grpc_method")
STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", _LABELS)
HANDLED = Counter("grpc_server_handled_total", "RPCs completed on the server, whatever their status.",
                  (*_LABELS, "grpc_code"))
HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds", "Time from the start of an RPC to its last response.", _LABELS,
    # Verdicts take milliseconds; registry pulls and teacher jobs take minutes.
    buckets=(0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 120, 600, 3600))
MESSAGES_RECEIVED = Counter("grpc_server_msg_received_total", "Stream messages received from clients.", _LABELS)
MESSAGES_SENT = Counter("grpc_server_msg_sent_total", "Stream messages sent to clients.", _LABELS)


def start_metrics_server(host: str, port: int) -> int:
    """Serve this process's metrics on ``http://host:port/metrics``; returns the bound port."""
    server, _ = start_http_server(port, addr=host)
    return server.server_port


def _code_of(context: grpc.ServicerContext, raised: bool) -> str:
    """The status the call ended with: what the servicer set (also by ``abort``), else OK,
    or UNKNOWN for an exception gRPC turns into one."""
    code = context.code()
    if code is None:
        return "UNKNOWN" if raised else "OK"
    return code.name


class ServerMetricsInterceptor(grpc.ServerInterceptor):
    """Counts and times every call, including those refused by interceptors after it (put
    it first: a flood of ``UNAUTHENTICATED`` is worth seeing)."""

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        labels = (rpc_type(handler), service, method)
        behavior = behavior_of(handler)
        measured = _measure_stream(behavior, labels) if handler.response_streaming else _measure(behavior, labels)
        if handler.request_streaming:
            measured = _count_requests(measured, labels)
        return with_behavior(handler, measured)


def _measure(behavior: Callable, labels: tuple[str, ...]) -> Callable:
    def call(request, context):
        STARTED.labels(*labels).inc()
        start, raised = time.perf_counter(), True
        try:
            response = behavior(request, context)
            raised = False
            return response
        finally:
            HANDLING_SECONDS.labels(*labels).observe(time.perf_counter() - start)
            HANDLED.labels(*labels, _code_of(context, raised)).inc()
    return call


def _measure_stream(behavior: Callable, labels: tuple[str, ...]) -> Callable:
    def call(request, context) -> Iterator:
        STARTED.labels(*labels).inc()
        start, code = time.perf_counter(), None
        sent = MESSAGES_SENT.labels(*labels)
        try:
            for response in behavior(request, context):
                yield response
                sent.inc()
        except GeneratorExit:  # the client went away mid-stream
            code = "CANCELLED"
            raise
        except BaseException:
            code = _code_of(context, raised=True)
            raise
        finally:
            HANDLING_SECONDS.labels(*labels).observe(time.perf_counter() - start)
            HANDLED.labels(*labels, code or _code_of(context, raised=False)).inc()
    return call


def _count_requests(behavior: Callable, labels: tuple[str, ...]) -> Callable:
    received = MESSAGES_RECEIVED.labels(*labels)

    def counted(request_iterator):
        for request in request_iterator:
            received.inc()
            yield request

    return lambda request_iterator, context: behavior(counted(request_iterator), context)
