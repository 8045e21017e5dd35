"""Bearer-token authentication for every gRPC service.

Clients send ``authorization: Bearer <token>`` metadata. Servers keep only SHA-256
hashes of accepted tokens and compare in constant time. Health checking and server
reflection stay open (probes and tooling carry no tokens). With no tokens configured a
server is open -- allowed only on a loopback address (see :func:`check_exposure`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Iterable

import grpc

OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
METADATA_KEY = "authorization"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return ((METADATA_KEY, f"Bearer {token}"),) if token else ()


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Rejects calls without a known token with ``UNAUTHENTICATED``."""

    def __init__(self, token_hashes: Iterable[str]) -> None:
        self._hashes = tuple(token_hashes)

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails):
        if handler_call_details.method.startswith(OPEN_METHOD_PREFIXES):
            return continuation(handler_call_details)
        presented = dict(handler_call_details.invocation_metadata or ()).get(METADATA_KEY, "")
        scheme, _, token = presented.partition(" ")
        if scheme.lower() == "bearer" and token and self._known(hash_token(token)):
            return continuation(handler_call_details)
        message = "missing bearer token" if not presented else "invalid bearer token"
        return _denial(continuation(handler_call_details), message)

    def _known(self, digest: str) -> bool:
        # Compare against every hash so timing does not reveal which one matched.
        return sum(hmac.compare_digest(digest, h) for h in self._hashes) > 0


def _denial(handler: grpc.RpcMethodHandler | None, message: str) -> grpc.RpcMethodHandler | None:
    """A handler of the same call shape as ``handler`` that rejects the call unread."""
    if handler is None:
        return None  # unknown method: UNIMPLEMENTED, as without the interceptor

    def abort(request_or_iterator, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    factory = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    return factory(abort, request_deserializer=handler.request_deserializer,
                   response_serializer=handler.response_serializer)


def check_exposure(address: str, token_hashes: Iterable[str]) -> None:
    """Refuse to serve without authentication on anything but loopback."""
    if tuple(token_hashes):
        return
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"refusing to serve on {address} without authentication: configure tokens "
            "(--token-file or DISTILLERY_TOKENS) or bind to 127.0.0.1"
        )
