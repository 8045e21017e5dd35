"""Who may call a served student: a team token the registry knows, whose team can see the model.

The registry owns teams, tokens and sharing, so the answer is the registry's: ``WhoAmI`` with
the caller's token (unknown -> unauthenticated; :class:`~distillery.registry.principals.PrincipalCache`),
then ``Show`` of the served model with the same token (another team's unshared model -> forbidden).
A base-model alias is open to every team. Answers are cached per token hash -- allowed for
DISTILLERY_TOKEN_CACHE_TTL_S (default 30 s), denied for 2 s -- so a busy endpoint asks the registry rarely.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import grpc

from distillery.core.auth import TokenCache
from distillery.registry.principals import WHOAMI_TIMEOUT_S, PrincipalCache, UnknownToken


class Decision(enum.Enum):
    ALLOWED = "allowed"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"

    def __bool__(self) -> bool:  # TokenCache keeps truthy answers longer
        return self is Decision.ALLOWED


ADMIN = "<admin>"  # the admin's key for per-team limits (no team name can contain '<')


@dataclass(frozen=True)
class Caller:
    decision: Decision
    team: str | None = None  # the authenticated team (ADMIN for the admin); None unless allowed

    def __bool__(self) -> bool:  # TokenCache keeps truthy answers longer
        return bool(self.decision)


class RegistryUnavailable(RuntimeError):
    pass


class ModelAccess:
    """``check(token)`` for one served model (``model_ref`` None: a base-model alias, any team)."""

    def __init__(self, registry_address: str, model_ref: str | None, ttl_s: float | None = None,
                 negative_ttl_s: float = 2.0) -> None:
        self._principals = PrincipalCache(registry_address, ttl_s, negative_ttl_s)
        self._model_ref = model_ref
        self._cache = TokenCache(ttl_s, negative_ttl_s)  # the whole decision: who, and may they see it

    def check(self, token: str | None) -> Caller:
        if not token:
            return Caller(Decision.UNAUTHENTICATED)
        return self._cache.lookup(token, self._ask_registry)

    def _ask_registry(self, token: str) -> Caller:
        try:
            principal = self._principals.principal(token)
            if self._model_ref is not None:  # over the principals' channel, as the caller
                self._principals.registry.with_token(token).show(self._model_ref, timeout=WHOAMI_TIMEOUT_S)
        except UnknownToken:
            return Caller(Decision.UNAUTHENTICATED)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                return Caller(Decision.UNAUTHENTICATED)
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
                return Caller(Decision.FORBIDDEN)
            raise RegistryUnavailable(f"registry: {exc.code().name}: {exc.details()}") from None
        return Caller(Decision.ALLOWED, principal.team or ADMIN)

    def close(self) -> None:
        self._principals.close()
