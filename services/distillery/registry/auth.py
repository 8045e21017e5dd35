"""Teams and their tokens, kept in the object store (hashed), and who a token belongs to."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from distillery.core.auth import TokenCache, hash_token
from distillery.registry import layout
from distillery.registry.errors import AlreadyExists, NotFound
from distillery.registry.names import check_team
from distillery.registry.store import ObjectStore

POSITIVE_TTL_S = 30.0
NEGATIVE_TTL_S = 2.0


@dataclass(frozen=True)
class Principal:
    team: str | None  # None for the admin
    admin: bool = False


ADMIN = Principal(team=None, admin=True)


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
        return self._cache.lookup(token, self._lookup)

    def _lookup(self, token: str) -> Principal | None:
        try:
            record = json.loads(self.store.get(layout.token_key(hash_token(token))))
        except NotFound:
            return None
        return Principal(team=record["team"])

    def team_exists(self, team: str) -> bool:
        return self.store.exists(layout.team_key(team))

    def create_team(self, team: str) -> str:
        check_team(team)
        if self.team_exists(team):
            raise AlreadyExists(f"team {team!r} already exists")
        self.store.put(layout.team_key(team), json.dumps({"team": team, "created_at": _now()}).encode())
        return self.create_token(team)

    def create_token(self, team: str) -> str:
        if not self.team_exists(check_team(team)):
            raise NotFound(f"team {team!r} does not exist")
        token = new_token()
        record = {"team": team, "created_at": _now()}
        self.store.put(layout.token_key(hash_token(token)), json.dumps(record).encode())
        return token


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
