"""Teams and their tokens, kept in the object store (hashed), and who a token belongs to.

A token's record (``_auth/tokens/{sha256}.json``): ``team``, ``created_at``, and once rotated
``expires_at`` (valid until then), once revoked ``revoked_at``. Revoked records are kept, not
deleted: a deleted record would let the chart's bootstrap hook (which registers the tokens of its
teams' Secrets when missing) bring a revoked token back on the next ``helm upgrade``.

Tokens are named by their id, the first 16 hex digits of their SHA-256: enough to tell a team's
tokens apart, useless for guessing the token.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from distillery.core.auth import TokenCache, hash_token
from distillery.registry import layout
from distillery.registry.errors import AlreadyExists, InvalidArgument, NotFound
from distillery.registry.names import check_new_team, check_team
from distillery.registry.store import ObjectStore

# The registry forgets a revoked token at once (it invalidates its own cache); these bound what
# it keeps about tokens it has not changed itself.
POSITIVE_TTL_S = 30.0
NEGATIVE_TTL_S = 2.0
TOKEN_ID_DIGITS = 16
MIN_TOKEN_ID_DIGITS = 8
MAX_GRACE_S = 30 * 24 * 3600.0


@dataclass(frozen=True)
class Principal:
    team: str | None  # None for the admin
    admin: bool = False
    token_id: str = ""
    expires_at: datetime | None = None  # set while a rotated token is in its grace period


ADMIN = Principal(team=None, admin=True)


@dataclass(frozen=True)
class TokenRecord:
    token_hash: str
    team: str
    created_at: str = ""
    expires_at: str = ""
    revoked_at: str = ""

    @property
    def id(self) -> str:
        return self.token_hash[:TOKEN_ID_DIGITS]

    def state(self, now: datetime) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at:
            return "expired" if datetime.fromisoformat(self.expires_at) <= now else "expiring"
        return "active"


def new_token() -> str:
    return "dst_" + secrets.token_urlsafe(32)


class TeamDirectory:
    def __init__(self, store: ObjectStore, admin_token_hashes: tuple[str, ...] = ()) -> None:
        self.store = store
        self.admin_token_hashes = frozenset(admin_token_hashes)
        self._cache = TokenCache(POSITIVE_TTL_S, NEGATIVE_TTL_S)

    def authenticate(self, token: str) -> Principal | None:
        if hash_token(token) in self.admin_token_hashes:
            return ADMIN
        principal = self._cache.lookup(token, self._lookup)
        # A cached answer may outlive a rotated token's grace period: check its expiry every time.
        if principal is not None and principal.expires_at is not None and principal.expires_at <= _now():
            return None
        return principal

    def _lookup(self, token: str) -> Principal | None:
        record = self._record(hash_token(token))
        if record is None or record.state(_now()) in ("revoked", "expired"):
            return None
        expires = datetime.fromisoformat(record.expires_at) if record.expires_at else None
        return Principal(team=record.team, token_id=record.id, expires_at=expires)

    def _record(self, token_hash: str) -> TokenRecord | None:
        try:
            data = json.loads(self.store.get(layout.token_key(token_hash)))
        except NotFound:
            return None
        return TokenRecord(token_hash, data["team"], data.get("created_at", ""), data.get("expires_at", ""),
                           data.get("revoked_at", ""))

    def _save(self, record: TokenRecord, **extra: str) -> None:
        data = {"team": record.team, "created_at": record.created_at}
        if record.expires_at:
            data["expires_at"] = record.expires_at
        if record.revoked_at:
            data["revoked_at"] = record.revoked_at
        self.store.put(layout.token_key(record.token_hash), json.dumps({**data, **extra}).encode())
        self._cache.forget(record.token_hash)  # this registry stops accepting it now, not in 30 s

    def team_exists(self, team: str) -> bool:
        return self.store.exists(layout.team_key(team))

    def create_team(self, team: str) -> str:
        check_new_team(team)
        if self.team_exists(team):
            raise AlreadyExists(f"team {team!r} already exists")
        self.store.put(layout.team_key(team), json.dumps({"team": team, "created_at": _stamp()}).encode())
        return self.create_token(team)

    def create_token(self, team: str) -> str:
        self._check_team_exists(team)
        token = new_token()
        record = {"team": team, "created_at": _stamp()}
        self.store.put(layout.token_key(hash_token(token)), json.dumps(record).encode())
        return token

    # -- listing, revocation, rotation ----------------------------------------------------
    def teams(self) -> list[tuple[str, str, list[TokenRecord]]]:
        """Every team by name: (team, created_at, its token records)."""
        by_team: dict[str, list[TokenRecord]] = {}
        for record in self._records():
            by_team.setdefault(record.team, []).append(record)
        teams = []
        for obj in self.store.list(f"{layout.AUTH_PREFIX}teams/"):
            data = json.loads(self.store.get(obj.key))
            teams.append((data["team"], data.get("created_at", ""), by_team.get(data["team"], [])))
        return sorted(teams)

    def tokens(self, team: str) -> list[TokenRecord]:
        """Every token record of ``team``, revoked and expired ones included, oldest first."""
        self._check_team_exists(team)
        return sorted((r for r in self._records() if r.team == team), key=lambda r: (r.created_at, r.token_hash))

    def _records(self) -> Iterator[TokenRecord]:
        """Every token record of every team (one listing of the token keys)."""
        for obj in self.store.list(f"{layout.AUTH_PREFIX}tokens/"):
            record = self._record(obj.key.rsplit("/", 1)[1].removesuffix(".json"))
            if record is not None:
                yield record

    def find(self, team: str, token_id: str) -> TokenRecord:
        """The one token of ``team`` whose id starts with ``token_id``."""
        token_id = (token_id or "").lower()
        if not (MIN_TOKEN_ID_DIGITS <= len(token_id) <= 64 and all(c in "0123456789abcdef" for c in token_id)):
            raise InvalidArgument(f"id {token_id!r}: give a token id, at least {MIN_TOKEN_ID_DIGITS} hex digits "
                                  "(see `distillery team token list`)")
        matches = [r for r in self.tokens(team) if r.token_hash.startswith(token_id)]
        if not matches:
            raise NotFound(f"team {team!r} has no token {token_id}")
        if len(matches) > 1:
            raise InvalidArgument(f"id {token_id!r} matches {len(matches)} tokens of team {team!r}; give more digits")
        return matches[0]

    def revoke(self, team: str, token_id: str, by: str) -> TokenRecord:
        record = self.find(team, token_id)
        if not record.revoked_at:
            record = TokenRecord(record.token_hash, record.team, record.created_at, record.expires_at, _stamp())
            self._save(record, revoked_by=by)
        return record

    def rotate(self, team: str, token_id: str, grace_s: float, by: str) -> tuple[str, TokenRecord, TokenRecord]:
        """A new token for ``team``; the old one (``token_id``) stays valid ``grace_s`` more seconds."""
        if not 0 <= grace_s <= MAX_GRACE_S:  # NaN fails this too
            raise InvalidArgument(f"grace_seconds {grace_s!r}: must be between 0 and {MAX_GRACE_S:.0f} (30 days)")
        old = self.find(team, token_id)
        state = old.state(_now())
        if state in ("revoked", "expired"):
            raise InvalidArgument(f"id {old.id!r}: token is {state}; issue a new one with `team token create`")
        expires = _now() + timedelta(seconds=grace_s)
        if old.expires_at:  # rotating again never extends a grace period
            expires = min(expires, datetime.fromisoformat(old.expires_at))
        token = self.create_token(team)
        replaced = TokenRecord(old.token_hash, old.team, old.created_at, _stamp(expires), "")
        self._save(replaced, rotated_by=by)
        return token, self._record(hash_token(token)), replaced

    def _check_team_exists(self, team: str) -> None:
        if not self.team_exists(check_team(team)):
            raise NotFound(f"team {team!r} does not exist")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(when: datetime | None = None) -> str:
    return (when or _now()).isoformat(timespec="milliseconds")

