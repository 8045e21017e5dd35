"""Who a caller is, as the registry (which owns teams and tokens) says, cached per token.

Every service that authenticates callers through the registry holds one :class:`PrincipalCache`:
as its server's token validator (``cache(token) -> bool``) and to learn the caller's team
(``cache.principal(token)``), so the check at the door and the team lookup behind it cost one
``WhoAmI`` per token and TTL, over one connection.
"""

from __future__ import annotations

import grpc

from distillery.core.auth import TokenCache
from distillery.core.service_errors import ServiceError
from distillery.registry.client import RegistryClient
from distillery.v1 import registry_pb2 as pb

WHOAMI_TIMEOUT_S = 10.0


class UnknownToken(ServiceError, PermissionError):
    """The registry does not know the token (never issued, revoked, or past its rotation grace)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PrincipalCache:
    """``principal(token)``: the registry's ``WhoAmI`` answer for ``token``.

    A known token's principal is kept ``ttl_s`` (default ``DISTILLERY_TOKEN_CACHE_TTL_S`` or 30 s):
    that is how long a token revoked at the registry can still pass here. An unknown token is
    remembered ``negative_ttl_s`` (2 s: long enough that a flood of made-up tokens does not
    become a flood of registry calls, short enough that a new token works almost at once).
    Failures to ask (the registry unavailable, a deadline) are never cached: the next call asks again.
    """

    def __init__(self, registry_address: str, ttl_s: float | None = None, negative_ttl_s: float = 2.0) -> None:
        self.registry = RegistryClient(registry_address, None)  # no token of its own: asks as each caller
        self._cache = TokenCache(ttl_s, negative_ttl_s)

    def principal(self, token: str | None) -> pb.Principal:
        """The caller's principal; :class:`UnknownToken` for an unknown or missing token, and
        ``grpc.RpcError`` when the registry could not be asked."""
        if not token:
            raise UnknownToken("missing bearer token")
        principal = self._cache.lookup(token, self._ask_registry)
        if principal is None:
            raise UnknownToken("the registry does not know this token")
        return principal

    def __call__(self, token: str) -> bool:
        """A :data:`~distillery.core.auth.TokenValidator`: is ``token`` one the registry knows?"""
        try:
            self.principal(token)
        except UnknownToken:
            return False
        return True

    def _ask_registry(self, token: str) -> pb.Principal | None:
        try:
            return self.registry.with_token(token).whoami(timeout=WHOAMI_TIMEOUT_S)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise  # not an answer about the token: not cached
            return None  # falsy: kept for negative_ttl_s only

    def close(self) -> None:
        self.registry.close()
