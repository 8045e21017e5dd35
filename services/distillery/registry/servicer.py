"""gRPC ``RegistryService``: authenticate, translate messages, map errors -- nothing else."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime, timezone

import grpc

from distillery.core.auth import bearer_token
from distillery.registry.auth import Principal, TeamDirectory, TokenRecord
from distillery.registry.errors import InvalidArgument, PermissionDenied, RegistryError, Unauthenticated
from distillery.registry.registry import PushSpec, Registry
from distillery.v1 import registry_pb2 as pb
from distillery.v1 import registry_pb2_grpc as pb_grpc


def _unary(method):
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except RegistryError as exc:
            context.abort(exc.code, str(exc))

    return wrapper


def _streaming(method):
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            yield from method(self, request, context)
        except RegistryError as exc:
            context.abort(exc.code, str(exc))

    return wrapper


class RegistryServicer(pb_grpc.RegistryServiceServicer):
    def __init__(self, registry: Registry, directory: TeamDirectory) -> None:
        self.registry = registry
        self.directory = directory

    def _principal(self, context: grpc.ServicerContext) -> Principal:
        token = bearer_token(context.invocation_metadata())
        principal = self.directory.authenticate(token) if token else None
        if principal is None:
            raise Unauthenticated("missing bearer token" if token is None else "invalid bearer token")
        return principal

    def _admin(self, context: grpc.ServicerContext) -> Principal:
        principal = self._principal(context)
        if not principal.admin:
            raise PermissionDenied("this call needs the admin token")
        return principal

    # -- data --------------------------------------------------------------------------
    @_unary
    def Push(self, request_iterator: Iterator[pb.PushRequest], context) -> pb.Manifest:
        principal = self._principal(context)
        spec = PushSpec.from_pb(_header(request_iterator))
        return self.registry.push(principal, spec, _parts(request_iterator, "rows"))

    @_unary
    def PushFiles(self, request_iterator: Iterator[pb.PushFilesRequest], context) -> pb.Manifest:
        principal = self._principal(context)
        spec = PushSpec.from_pb(_header(request_iterator))
        return self.registry.push_files(principal, spec, _parts(request_iterator, "file"))

    @_streaming
    def Pull(self, request: pb.RefRequest, context) -> Iterator[pb.RowsChunk]:
        manifest = self.registry.resolve(self._principal(context), request.ref)
        for rows in self.registry.read_rows(manifest):
            yield pb.RowsChunk(rows=rows)

    @_streaming
    def PullFiles(self, request: pb.RefRequest, context) -> Iterator[pb.FileChunk]:
        manifest = self.registry.resolve(self._principal(context), request.ref)
        yield from self.registry.read_files(manifest)

    # -- metadata ----------------------------------------------------------------------
    @_unary
    def Show(self, request: pb.RefRequest, context) -> pb.Manifest:
        return self.registry.resolve(self._principal(context), request.ref)

    @_unary
    def List(self, request: pb.ListRequest, context) -> pb.ListResponse:
        manifests = self.registry.list(self._principal(context), request.include_shared, request.include_deleted,
                                       request.name or None)
        return pb.ListResponse(manifests=manifests)

    @_unary
    def Lineage(self, request: pb.RefRequest, context) -> pb.ListResponse:
        return pb.ListResponse(manifests=self.registry.lineage(self._principal(context), request.ref))

    @_unary
    def Tag(self, request: pb.TagRequest, context) -> pb.Manifest:
        return self.registry.tag(self._principal(context), request.ref, request.tag)

    @_unary
    def Delete(self, request: pb.RefRequest, context) -> pb.Manifest:
        return self.registry.delete(self._principal(context), request.ref)

    @_unary
    def Restore(self, request: pb.RefRequest, context) -> pb.Manifest:
        return self.registry.restore(self._principal(context), request.ref)

    # -- teams -------------------------------------------------------------------------
    @_unary
    def CreateTeam(self, request: pb.CreateTeamRequest, context) -> pb.TokenResponse:
        self._admin(context)
        return pb.TokenResponse(team=request.team, token=self.directory.create_team(request.team))

    @_unary
    def CreateToken(self, request: pb.CreateTokenRequest, context) -> pb.TokenResponse:
        self._admin(context)
        return pb.TokenResponse(team=request.team, token=self.directory.create_token(request.team))

    @_unary
    def ListTeams(self, request: pb.ListTeamsRequest, context) -> pb.ListTeamsResponse:
        self._admin(context)
        now = datetime.now(timezone.utc)
        return pb.ListTeamsResponse(teams=[
            pb.TeamInfo(team=team, created_at=created_at,
                        active_tokens=sum(r.state(now) in ("active", "expiring") for r in records))
            for team, created_at, records in self.directory.teams()])

    @_unary
    def ListTokens(self, request: pb.ListTokensRequest, context) -> pb.ListTokensResponse:
        principal, team = self._token_owner(context, request.team)
        return pb.ListTokensResponse(tokens=[_token_info(r, principal) for r in self.directory.tokens(team)])

    @_unary
    def RevokeToken(self, request: pb.RevokeTokenRequest, context) -> pb.TokenInfo:
        principal, team = self._token_owner(context, request.team)
        if not request.id:
            raise InvalidArgument("id: name the token to revoke (see `distillery team token list`)")
        return _token_info(self.directory.revoke(team, request.id, _who(principal)), principal)

    @_unary
    def RotateToken(self, request: pb.RotateTokenRequest, context) -> pb.RotateTokenResponse:
        principal, team = self._token_owner(context, request.team)
        token_id = request.id or principal.token_id
        if not token_id:
            raise InvalidArgument("id: name the token to rotate (the admin token is not a team token)")
        token, issued, replaced = self.directory.rotate(team, token_id, request.grace_seconds, _who(principal))
        return pb.RotateTokenResponse(team=team, token=token, issued=_token_info(issued, principal),
                                      replaced=_token_info(replaced, principal))

    def _token_owner(self, context: grpc.ServicerContext, team: str) -> tuple[Principal, str]:
        """Who is calling, and whose tokens the call is about: the admin names any team; a team
        token manages its own team's tokens only."""
        principal = self._principal(context)
        if principal.admin:
            if not team:
                raise InvalidArgument("team: the admin must name the team whose tokens to manage")
            return principal, team
        if team and team != principal.team:
            raise PermissionDenied(f"team {principal.team!r} cannot manage the tokens of team {team!r}")
        return principal, principal.team

    @_unary
    def WhoAmI(self, request: pb.WhoAmIRequest, context) -> pb.Principal:
        principal = self._principal(context)
        expires = principal.expires_at.isoformat(timespec="milliseconds") if principal.expires_at else ""
        return pb.Principal(team=principal.team or "", admin=principal.admin, token_id=principal.token_id,
                            expires_at=expires)


def _token_info(record: TokenRecord, caller: Principal) -> pb.TokenInfo:
    return pb.TokenInfo(id=record.id, team=record.team, created_at=record.created_at, expires_at=record.expires_at,
                        revoked_at=record.revoked_at, state=record.state(datetime.now(timezone.utc)),
                        current=record.id == caller.token_id)


def _who(principal: Principal) -> str:
    return "admin" if principal.admin else f"team {principal.team} (token {principal.token_id})"


def _header(request_iterator) -> pb.PushHeader:
    first = next(request_iterator, None)
    if first is None or first.WhichOneof("part") != "header":
        raise InvalidArgument("the first message of a push must be its header")
    return first.header


def _parts(request_iterator, field: str) -> Iterator:
    """The ``field`` of every message after the header; anything else is a client error."""
    for message in request_iterator:
        if message.WhichOneof("part") != field:
            raise InvalidArgument(f"only '{field}' parts may follow the header")
        yield getattr(message, field)
