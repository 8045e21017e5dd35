"""Client SDK for ``RegistryService`` (the CLI and every other service use this)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from distillery.core.auth import bearer_metadata
from distillery.core.grpc_client import ServiceClient
from distillery.registry.rows import parse_rows
from distillery.v1 import registry_pb2 as pb
from distillery.v1 import registry_pb2_grpc as pb_grpc

PUSH_CHUNK_BYTES = 1024 * 1024
KINDS = {"dataset": pb.KIND_DATASET, "problems": pb.KIND_PROBLEMS, "model": pb.KIND_MODEL}
KIND_NOUNS = {pb.KIND_DATASET: "dataset", pb.KIND_PROBLEMS: "problems dataset", pb.KIND_MODEL: "model"}

def header(name: str, kind: str = "dataset", *, parents: Iterable[str] = (), meta: dict[str, str] | None = None,
           share: bool = False, stage: str = "", config: dict | None = None, code_version: str = "") -> pb.PushHeader:
    """What a push is: its name and kind, then the rest by keyword (``stage``, ``code_version`` and
    ``name`` are all strings, ``meta`` and ``config`` both dicts: by position they were easy to swap)."""
    message = pb.PushHeader(name=name, kind=KINDS[kind], parents=list(parents), meta=meta or {}, share=share,
                            stage=stage, code_version=code_version)
    if config:
        message.config.update(config)
    return message


def file_chunks(path: str | Path, size: int = PUSH_CHUNK_BYTES) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


class UnsafePath(OSError):
    """The registry named a file path that would be written outside the target directory."""


def safe_target(root: Path, path: str, ref: str = "") -> Path:
    """``root / path`` if ``path`` is a plain relative '/'-separated path that stays inside ``root``
    with every symlink resolved; raises :class:`UnsafePath` (naming the path) otherwise."""
    parts = path.split("/")
    if (not path or path.startswith("/") or "\\" in path or "\0" in path
            or any(part in ("", ".", "..") for part in parts)):
        raise UnsafePath(f"{ref + ': ' if ref else ''}file path {path!r} from the registry is not a relative "
                         "'/'-separated path without '.' or '..'; refusing to write it")
    target = root / path
    resolved_root = root.resolve()
    if not target.resolve().is_relative_to(resolved_root):
        raise UnsafePath(f"{ref + ': ' if ref else ''}file path {path!r} from the registry resolves outside "
                         f"{root}; refusing to write it")
    return target


class WrongKind(ValueError):
    """A reference names a version of another kind than the caller needs (a dataset, not a model)."""

    def __init__(self, manifest: pb.Manifest, expected: str, field: str | None = None) -> None:
        self.ref, self.kind, self.expected = manifest.ref, kind_name(manifest.kind), expected
        super().__init__(f"{field + ': ' if field else ''}{manifest.ref} is a {KIND_NOUNS.get(manifest.kind, '?')}, "
                         f"not a {KIND_NOUNS[KINDS[expected]]}")


def kind_name(kind: int) -> str:
    """``pb.KIND_PROBLEMS`` -> ``"problems"`` (``"?"`` for a kind this client does not know)."""
    return next((name for name, value in KINDS.items() if value == kind), "?")


class RegistryClient(ServiceClient):
    stub_class = pb_grpc.RegistryServiceStub
    _borrowed_channel = False  # True for a with_token() copy: its close() leaves the channel open

    def with_token(self, token: str | None) -> RegistryClient:
        """This client's channel, calling as ``token``: how a service asks on behalf of many callers
        without a connection per caller. Close the original, not the copy, to close the channel."""
        acting = copy.copy(self)
        acting._metadata = bearer_metadata(token)
        acting._borrowed_channel = True
        return acting

    def close(self) -> None:
        if not self._borrowed_channel:
            super().close()

    # -- data --------------------------------------------------------------------------
    def push(self, push_header: pb.PushHeader, rows: Iterable[bytes]) -> pb.Manifest:
        """Push JSONL bytes (any chunking) as a new version; returns its manifest."""
        def requests() -> Iterator[pb.PushRequest]:
            yield pb.PushRequest(header=push_header)
            for chunk in rows:
                yield pb.PushRequest(rows=chunk)

        return self._stub.Push(requests(), metadata=self._metadata)

    def push_file(self, push_header: pb.PushHeader, path: str | Path) -> pb.Manifest:
        return self.push(push_header, file_chunks(path))

    def pull(self, ref: str) -> Iterator[bytes]:
        """Chunks of whole JSONL lines, exactly as pushed, in order."""
        for chunk in self._stub.Pull(pb.RefRequest(ref=ref), metadata=self._metadata):
            yield chunk.rows

    def read_rows(self, ref: str, *, limit: int | None = None) -> list[dict]:
        """The rows of a dataset version as dicts, in order: the first ``limit`` only when given
        (the download stops there). A line that is not a JSON object raises
        :class:`~distillery.registry.rows.InvalidRow`."""
        responses = self._stub.Pull(pb.RefRequest(ref=ref), metadata=self._metadata)
        try:
            return list(parse_rows(ref, (chunk.rows for chunk in responses), limit))
        finally:
            responses.cancel()  # stops the stream when ``limit`` came first; nothing once it is done

    def push_files(self, push_header: pb.PushHeader, directory: str | Path) -> pb.Manifest:
        """Push every file under ``directory`` (a checkpoint) as a new model version."""
        root = Path(directory)

        def requests() -> Iterator[pb.PushFilesRequest]:
            yield pb.PushFilesRequest(header=push_header)
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                relative = path.relative_to(root).as_posix()
                sent = False
                for chunk in file_chunks(path):
                    sent = True
                    yield pb.PushFilesRequest(file=pb.FileChunk(path=relative, data=chunk))
                if not sent:
                    yield pb.PushFilesRequest(file=pb.FileChunk(path=relative, data=b""))

        return self._stub.PushFiles(requests(), metadata=self._metadata)

    def pull_files(self, ref: str, directory: str | Path) -> list[Path]:
        """Write a model version's files under ``directory``; returns their paths.

        Every file is hashed as it arrives and checked against the manifest's sha256, so a
        corrupted transfer or object raises instead of leaving a plausible-looking model.
        The registry's answers are not trusted to name paths: every path must be one the
        manifest lists, relative, and land inside ``directory`` (symlinks resolved) -- checked
        before anything is opened -- or nothing more is written and :class:`UnsafePath` is raised.
        """
        manifest = self.show(ref)  # pin the version: the digests and the bytes must match
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        expected: dict[str, str] = {}
        for stored in manifest.files:  # the manifest comes from the same server: check it first
            safe_target(root, stored.path, manifest.ref)
            expected[stored.path] = stored.sha256
        written: list[Path] = []
        done: set[str] = set()
        handle = digest = None
        current = None

        def finish() -> None:
            handle.close()
            done.add(current)
            if digest.hexdigest() != expected[current]:
                raise OSError(f"{manifest.ref}: {current} arrived corrupted (sha256 mismatch)")

        try:
            for chunk in self._stub.PullFiles(pb.RefRequest(ref=manifest.ref), metadata=self._metadata):
                if chunk.path != current:
                    if handle:
                        finish()
                    if chunk.path not in expected:
                        raise UnsafePath(f"{manifest.ref}: the registry sent file path {chunk.path!r}, which the "
                                         "manifest does not list; refusing to write it")
                    if chunk.path in done:
                        raise UnsafePath(f"{manifest.ref}: the registry sent file path {chunk.path!r} twice")
                    current = chunk.path
                    target = safe_target(root, chunk.path, manifest.ref)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    safe_target(root, chunk.path, manifest.ref)  # again: mkdir may have met a symlink
                    handle, digest = open(target, "wb"), hashlib.sha256()
                    written.append(target)
                handle.write(chunk.data)
                digest.update(chunk.data)
            if handle:
                finish()
                handle = None
        finally:
            if handle and not handle.closed:
                handle.close()
        missing = sorted(set(expected) - done)
        if missing:
            raise OSError(f"{manifest.ref}: the registry did not send {len(missing)} file(s) the manifest lists: "
                          f"{', '.join(missing[:5])}")
        return written

    # -- metadata ----------------------------------------------------------------------
    def show(self, ref: str, *, timeout: float | None = None) -> pb.Manifest:
        return self._stub.Show(pb.RefRequest(ref=ref), metadata=self._metadata, timeout=timeout)

    def resolve(self, ref: str, *, kind: str | None = None, field: str | None = None) -> pb.Manifest:
        """``ref``'s manifest (its ``ref`` pins the version), checked to be of ``kind`` ("dataset",
        "problems" or "model") when given, else :class:`WrongKind` naming ``field``. A refused or
        unknown reference stays a ``grpc.RpcError`` (NOT_FOUND, PERMISSION_DENIED, ...)."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
        manifest = self.show(ref)
        if kind is not None and manifest.kind != KINDS[kind]:
            raise WrongKind(manifest, kind, field)
        return manifest

    def list(self, include_shared: bool = False, include_deleted: bool = False, name: str = "") -> list[pb.Manifest]:
        request = pb.ListRequest(include_shared=include_shared, include_deleted=include_deleted, name=name)
        return list(self._stub.List(request, metadata=self._metadata).manifests)

    def lineage(self, ref: str) -> list[pb.Manifest]:
        return list(self._stub.Lineage(pb.RefRequest(ref=ref), metadata=self._metadata).manifests)

    def tag(self, ref: str, tag: str) -> pb.Manifest:
        return self._stub.Tag(pb.TagRequest(ref=ref, tag=tag), metadata=self._metadata)

    def delete(self, ref: str) -> pb.Manifest:
        return self._stub.Delete(pb.RefRequest(ref=ref), metadata=self._metadata)

    def restore(self, ref: str) -> pb.Manifest:
        return self._stub.Restore(pb.RefRequest(ref=ref), metadata=self._metadata)

    # -- teams -------------------------------------------------------------------------
    def create_team(self, team: str) -> str:
        return self._stub.CreateTeam(pb.CreateTeamRequest(team=team), metadata=self._metadata).token

    def create_token(self, team: str) -> str:
        return self._stub.CreateToken(pb.CreateTokenRequest(team=team), metadata=self._metadata).token

    def list_teams(self) -> list[pb.TeamInfo]:
        """Every team (admin)."""
        return list(self._stub.ListTeams(pb.ListTeamsRequest(), metadata=self._metadata).teams)

    def list_tokens(self, team: str = "") -> list[pb.TokenInfo]:
        """``team``'s tokens (admin), or the caller's own team's (``team`` empty)."""
        return list(self._stub.ListTokens(pb.ListTokensRequest(team=team), metadata=self._metadata).tokens)

    def revoke_token(self, token_id: str, team: str = "") -> pb.TokenInfo:
        return self._stub.RevokeToken(pb.RevokeTokenRequest(team=team, id=token_id), metadata=self._metadata)

    def rotate_token(self, token_id: str = "", team: str = "", grace_s: float = 3600.0) -> pb.RotateTokenResponse:
        """A new token; the old one (default: the one this client uses) expires after ``grace_s``."""
        request = pb.RotateTokenRequest(team=team, id=token_id, grace_seconds=grace_s)
        return self._stub.RotateToken(request, metadata=self._metadata)

    def whoami(self, *, timeout: float | None = None) -> pb.Principal:
        return self._stub.WhoAmI(pb.WhoAmIRequest(), metadata=self._metadata, timeout=timeout)

