"""Bearer-token authentication for every gRPC service.

Clients send ``authorization: Bearer <token>`` metadata. A server is given a validator:
:class:`StaticTokens` (SHA-256 hashes, compared in constant time) or one that asks the
registry, which owns teams and tokens (``distillery.registry.client.RegistryTokens``).
Health checking and server reflection stay open (probes and tooling carry no tokens).
A server without a validator is open -- allowed only on loopback (:func:`check_exposure`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable

import grpc

from distillery.core.grpc_handlers import with_behavior

OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
METADATA_KEY = "authorization"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return ((METADATA_KEY, f"Bearer {token}"),) if token else ()


TokenValidator = Callable[[str], bool]


class TokenCache:
    """Answers about tokens, by token hash: kept ``positive_ttl_s`` when truthy, else
    ``negative_ttl_s`` (short, so a freshly issued token works almost at once)."""

    _MISSING = object()

    def __init__(self, positive_ttl_s: float, negative_ttl_s: float) -> None:
        self._ttl = (positive_ttl_s, negative_ttl_s)
        self._entries: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def lookup(self, token: str, compute: Callable[[str], object]) -> object:
        """The cached answer for ``token``, or ``compute(token)`` (then cached)."""
        digest = hash_token(token)
        with self._lock:
            expires, value = self._entries.get(digest, (0.0, self._MISSING))
        if value is not self._MISSING and expires > time.monotonic():
            return value
        value = compute(token)
        with self._lock:
            self._entries[digest] = (time.monotonic() + self._ttl[0 if value else 1], value)
        return value


def bearer_token(metadata) -> str | None:
    """The token of an ``authorization: Bearer`` entry in call metadata, if any."""
    presented = dict(metadata or ()).get(METADATA_KEY, "")
    scheme, _, token = presented.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


class StaticTokens:
    """Accepts tokens whose SHA-256 is in a fixed set."""

    def __init__(self, token_hashes: Iterable[str]) -> None:
        self._hashes = tuple(token_hashes)

    def __call__(self, token: str) -> bool:
        digest = hash_token(token)
        # Compare against every hash so timing does not reveal which one matched.
        return sum(hmac.compare_digest(digest, h) for h in self._hashes) > 0


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Rejects calls without a valid token with ``UNAUTHENTICATED``."""

    def __init__(self, is_valid: TokenValidator) -> None:
        self._is_valid = is_valid

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails):
        if handler_call_details.method.startswith(OPEN_METHOD_PREFIXES):
            return continuation(handler_call_details)
        token = bearer_token(handler_call_details.invocation_metadata)
        if token and self._is_valid(token):
            return continuation(handler_call_details)
        message = "missing bearer token" if token is None else "invalid bearer token"
        return _denial(continuation(handler_call_details), message)


def _denial(handler: grpc.RpcMethodHandler | None, message: str) -> grpc.RpcMethodHandler | None:
    """A handler of the same call shape as ``handler`` that rejects the call unread."""
    if handler is None:
        return None  # unknown method: UNIMPLEMENTED, as without the interceptor

    def abort(request_or_iterator, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return with_behavior(handler, abort)


def check_exposure(address: str, authenticated: bool) -> None:
    """Refuse to serve without authentication on anything but loopback."""
    if authenticated:
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
