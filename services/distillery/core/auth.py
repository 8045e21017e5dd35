"""Bearer-token authentication for every gRPC service.

Clients send ``authorization: Bearer <token>`` metadata. A server is given a validator:
:class:`StaticTokens` (SHA-256 hashes, compared in constant time) or one that asks the
registry, which owns teams and tokens (``distillery.registry.principals.PrincipalCache``).
Health checking and server reflection stay open (probes and tooling carry no tokens).
A server without a validator is open -- allowed only on loopback (:func:`check_exposure`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
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


def token_cache_ttl_s() -> float:
    """How long any service may keep trusting a token the registry accepted: the bound on how
    long a revoked or expired token keeps working outside the registry (which forgets it at once).
    ``DISTILLERY_TOKEN_CACHE_TTL_S``, default 30, at most 300."""
    raw = os.environ.get("DISTILLERY_TOKEN_CACHE_TTL_S", "").strip()
    if not raw:
        return DEFAULT_TOKEN_CACHE_TTL_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"DISTILLERY_TOKEN_CACHE_TTL_S={raw!r}: expected seconds, e.g. 30") from None
    if not 0 <= value <= MAX_TOKEN_CACHE_TTL_S:
        raise ValueError(f"DISTILLERY_TOKEN_CACHE_TTL_S={raw!r}: must be between 0 and {MAX_TOKEN_CACHE_TTL_S:g}")
    return value


DEFAULT_TOKEN_CACHE_TTL_S = 30.0
MAX_TOKEN_CACHE_TTL_S = 300.0


class TokenCache:
    """Answers about tokens, by token hash: kept ``positive_ttl_s`` when truthy (default
    :func:`token_cache_ttl_s`), else ``negative_ttl_s`` (short, so a freshly issued token works
    almost at once). At most ``max_entries`` answers are kept, so a flood of made-up tokens
    cannot grow memory without bound."""

    _MISSING = object()

    def __init__(self, positive_ttl_s: float | None = None, negative_ttl_s: float = 2.0,
                 max_entries: int = 10_000) -> None:
        self._ttl = (token_cache_ttl_s() if positive_ttl_s is None else positive_ttl_s, negative_ttl_s)
        self._max_entries = max_entries
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
            now = time.monotonic()
            if len(self._entries) >= self._max_entries:
                self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
                while len(self._entries) >= self._max_entries:  # still full: drop the oldest
                    del self._entries[next(iter(self._entries))]
            self._entries.pop(digest, None)  # re-insert: dict order is insertion order
            self._entries[digest] = (now + self._ttl[0 if value else 1], value)
        return value

    def forget(self, token_hash: str) -> None:
        """Drop the answer for a token (by its SHA-256), e.g. when it is revoked."""
        with self._lock:
            self._entries.pop(token_hash, None)


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
