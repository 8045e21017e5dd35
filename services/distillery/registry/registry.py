"""The registry: push, resolve, read, tag, delete and sweep versioned datasets and models.

Commit protocol: shards (or files) are written under a fresh ``blobs/{upload_id}/``
prefix nobody references yet; the manifest -- which lists them with their checksums --
is written last, under a per-name lock that also assigns the next version number.
A reader only ever finds versions through manifests, so a push that dies halfway leaves
nothing visible, and the sweep removes its unreferenced blobs. One registry process
writes a bucket (the chart runs one replica): S3 offers no compare-and-swap that every
server implements, so the version counter is serialised here.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import json
import logging
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from google.protobuf import json_format, struct_pb2

import distillery
from distillery.registry import layout
from distillery.registry.auth import Principal
from distillery.registry.config import RegistryConfig
from distillery.registry.errors import DataLoss, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from distillery.registry.names import (PUBLIC_TEAM, RESERVED_TEAMS, TEAM_RE, Ref, check_name, check_tag,
                                       format_ref, has_team, parse_ref)
from distillery.registry.shards import RowStats, ShardBuilder, joined, line_aligned_chunks, open_shard, split_lines
from distillery.registry.store import ObjectStore
from distillery.v1 import registry_pb2 as pb

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
KIND_NAMES = {pb.KIND_DATASET: "dataset", pb.KIND_PROBLEMS: "problems", pb.KIND_MODEL: "model"}
ROWS_CHUNK_BYTES = 1024 * 1024
FILE_CHUNK_BYTES = 1024 * 1024


@dataclass
class PushSpec:
    """What a push says about itself (the PushHeader, as Python)."""

    name: str
    kind: int = pb.KIND_DATASET
    parents: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    share: bool = False
    stage: str = ""
    config: dict = field(default_factory=dict)
    code_version: str = ""

    @classmethod
    def from_pb(cls, header: pb.PushHeader) -> "PushSpec":
        return cls(name=header.name, kind=header.kind or pb.KIND_DATASET, parents=list(header.parents),
                   meta=dict(header.meta), share=header.share, stage=header.stage,
                   config=json_format.MessageToDict(header.config), code_version=header.code_version)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def home_team(principal: Principal) -> str | None:
    """Where the caller's pushes go and its team-less references point first: its team's
    namespace, or for the admin the public one (the admin owns no team)."""
    return principal.team or (PUBLIC_TEAM if principal.admin else None)


class Registry:
    def __init__(self, store: ObjectStore, config: RegistryConfig) -> None:
        self.store = store
        self.config = config
        self._locks: dict[tuple[str, str], threading.Lock] = collections.defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._active_uploads: set[str] = set()

    # -- writing -----------------------------------------------------------------------
    def push(self, principal: Principal, spec: PushSpec, chunks: Iterable[bytes]) -> pb.Manifest:
        """Store JSONL rows as the next version of ``spec.name``."""
        if spec.kind == pb.KIND_MODEL:
            raise InvalidArgument("kind model holds files: use PushFiles")
        team, manifest = self._begin(principal, spec)
        with self._upload(team, spec.name) as upload_id:
            stats = RowStats(KIND_NAMES[spec.kind])
            builder = ShardBuilder(self.config.shard_bytes, self.config.compression_level)
            for batch in split_lines(chunks):
                lines = [line for line in batch if line.strip()]
                if not lines:
                    continue
                data = joined(lines)
                stats.add(lines, data)
                builder.add(data, len(lines))
                if builder.full:
                    manifest.shards.append(self._store_shard(team, spec.name, upload_id, builder, len(manifest.shards)))
            if builder.rows:
                manifest.shards.append(self._store_shard(team, spec.name, upload_id, builder, len(manifest.shards)))
            # An empty version is allowed: "the teacher produced no verified thought" is a result.
            manifest.rows, manifest.bytes = stats.rows, stats.bytes
            manifest.content_sha256 = stats.content.hexdigest()
            manifest.counts_by_thought_type.update(stats.by_thought_type)
            manifest.counts_by_status.update(stats.by_status)
            return self._commit(team, spec, manifest)

    def push_files(self, principal: Principal, spec: PushSpec, chunks: Iterable[pb.FileChunk]) -> pb.Manifest:
        """Store files (a model checkpoint) as the next version of ``spec.name``."""
        spec.kind = pb.KIND_MODEL
        team, manifest = self._begin(principal, spec)
        content = hashlib.sha256()
        with self._upload(team, spec.name) as upload_id:
            for path, spool, size, digest in _spool_files(chunks):
                key = layout.file_key(team, spec.name, upload_id, path)
                with spool:
                    self.store.client.put_object(self.store.bucket, key, spool, size)
                manifest.files.append(pb.StoredFile(path=path, key=key, bytes=size, sha256=digest))
                manifest.bytes += size
                content.update(f"{path}\0{digest}\n".encode())
            if not manifest.files:
                raise InvalidArgument("no files to push")
            manifest.content_sha256 = content.hexdigest()
            return self._commit(team, spec, manifest)

    def _begin(self, principal: Principal, spec: PushSpec) -> tuple[str, pb.Manifest]:
        team = home_team(principal)
        if team is None:
            raise PermissionDenied("pushing needs a team token or the admin token")
        check_name(spec.name)
        if spec.kind not in KIND_NAMES:
            raise InvalidArgument(f"kind {spec.kind} is not one of dataset, problems, model")
        parents = [self.resolve(principal, parent).ref for parent in spec.parents]
        self._check_kind(team, spec.name, spec.kind)
        config = struct_pb2.Struct()
        try:
            config.update(spec.config)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"config: {exc}") from None
        manifest = pb.Manifest(
            schema_version=SCHEMA_VERSION, team=team, name=spec.name, kind=spec.kind,
            created_by=principal.team or "admin", shared=spec.share, meta=spec.meta,
            lineage=pb.Lineage(parents=parents, stage=spec.stage, config=config,
                               code_version=spec.code_version or f"distillery {distillery.__version__}"),
        )
        return team, manifest

    @contextlib.contextmanager
    def _upload(self, team: str, name: str) -> Iterator[str]:
        """A fresh upload prefix, known to the sweep as in flight; its blobs go if the push fails."""
        upload_id = f"{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        self._active_uploads.add(upload_id)
        try:
            yield upload_id
        except BaseException:
            self._abandon(team, name, upload_id)
            raise
        finally:
            self._active_uploads.discard(upload_id)

    def _store_shard(self, team: str, name: str, upload_id: str, builder: ShardBuilder, index: int) -> pb.Shard:
        sealed = builder.seal()
        key = layout.shard_key(team, name, upload_id, index)
        self.store.put(key, sealed.data, "application/gzip")
        return pb.Shard(key=key, rows=sealed.rows, bytes=sealed.bytes, compressed_bytes=len(sealed.data),
                        sha256=sealed.sha256)

    def _commit(self, team: str, spec: PushSpec, manifest: pb.Manifest) -> pb.Manifest:
        with self._lock(team, spec.name):
            self._check_kind(team, spec.name, spec.kind)
            versions = self._versions(team, spec.name)
            manifest.version = (max(versions) if versions else 0) + 1
            manifest.ref = format_ref(team, spec.name, manifest.version)
            manifest.created_at = _now().isoformat(timespec="milliseconds")
            self.store.put(layout.manifest_key(team, spec.name, manifest.version),
                           json_format.MessageToJson(manifest).encode(), "application/json")
        log.info("committed %s (%d rows, %d files)", manifest.ref, manifest.rows, len(manifest.files))
        return manifest

    def _abandon(self, team: str, name: str, upload_id: str) -> None:
        try:
            self.store.delete_prefix(layout.upload_prefix(team, name, upload_id))
        except Exception as exc:  # noqa: BLE001 -- the sweep will get it
            log.warning("could not clean abandoned upload %s: %s", upload_id, exc)

    def _lock(self, team: str, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[(team, name)]

    def _check_kind(self, team: str, name: str, kind: int) -> None:
        versions = self._versions(team, name)
        if versions:
            existing = self._load(team, name, max(versions)).kind
            if existing != kind:
                raise FailedPrecondition(
                    f"{team}/{name} holds {KIND_NAMES[existing]} versions; push a {KIND_NAMES[kind]} under another name"
                )

    # -- reading -----------------------------------------------------------------------
    def resolve(self, principal: Principal, text: str) -> pb.Manifest:
        """The manifest a reference names, if ``principal`` may read it. A reference without a team
        names the caller's own dataset when the team has that name, else the public one."""
        ref = parse_ref(text, home_team(principal))
        fallback = not has_team(text) and principal.team and not self._versions(principal.team, ref.name)
        if fallback:
            ref = dataclasses.replace(ref, team=PUBLIC_TEAM)
        foreign = not principal.admin and ref.team not in (principal.team, PUBLIC_TEAM)
        try:
            manifest = self._resolve(ref)
        except (NotFound, InvalidArgument) as exc:  # InvalidArgument: an ambiguous sha256 prefix
            if foreign:
                raise self._unreadable(principal, text) from None
            if fallback and isinstance(exc, NotFound) and not self._versions(PUBLIC_TEAM, ref.name):
                raise NotFound(f"neither {principal.team}/{ref.name} nor {PUBLIC_TEAM}/{ref.name} exists") from None
            raise
        if foreign and not manifest.shared:
            raise self._unreadable(principal, text)
        return self._decorate(manifest)

    @staticmethod
    def _unreadable(principal: Principal, text: str) -> PermissionDenied:
        """The one answer to another team's reference that does not resolve to a shared version:
        missing, deleted, unshared or in a team that does not exist all read the same, so the
        answer reveals nothing about what another team has."""
        return PermissionDenied(f"team {principal.team!r} cannot read {text!r}")

    def _resolve(self, ref: Ref) -> pb.Manifest:
        deleted = self._deleted(ref.team, ref.name)
        if ref.version is not None:
            if ref.version in deleted:
                raise NotFound(f"{format_ref(ref.team, ref.name, ref.version)} is deleted (restore it with `registry restore`)")
            return self._load(ref.team, ref.name, ref.version)
        if ref.tag is not None:
            try:
                version = json.loads(self.store.get(layout.tag_key(ref.team, ref.name, ref.tag)))["version"]
            except NotFound:
                raise NotFound(f"{ref.team}/{ref.name} has no tag {ref.tag!r}") from None
            return self._resolve(Ref(ref.team, ref.name, version=version))
        live = sorted((v for v in self._versions(ref.team, ref.name) if v not in deleted), reverse=True)
        if ref.content_hash is None:
            if not live:
                raise NotFound(f"{ref.team}/{ref.name} has no versions")
            return self._load(ref.team, ref.name, live[0])
        matches = [m for m in (self._load(ref.team, ref.name, v) for v in live)
                   if m.content_sha256.startswith(ref.content_hash)]
        if not matches:
            raise NotFound(f"{ref.team}/{ref.name} has no version with content sha256:{ref.content_hash}")
        if len({m.content_sha256 for m in matches}) > 1:
            raise InvalidArgument(f"sha256:{ref.content_hash} is ambiguous for {ref.team}/{ref.name}; give more digits")
        return matches[0]  # newest version with that content

    def read_rows(self, manifest: pb.Manifest) -> Iterator[bytes]:
        """Chunks of whole JSONL lines, shard by shard, each shard verified before use."""
        if manifest.kind == pb.KIND_MODEL:
            raise InvalidArgument(f"{manifest.ref} is a model: use PullFiles")
        for index, shard in enumerate(manifest.shards):
            where = f"shard {index} of {manifest.ref}"
            try:
                data = self.store.get(shard.key)
            except NotFound:
                raise DataLoss(f"{where} is missing from the object store") from None
            yield from line_aligned_chunks(open_shard(data, shard.sha256, shard.rows, where), ROWS_CHUNK_BYTES)

    def read_files(self, manifest: pb.Manifest) -> Iterator[pb.FileChunk]:
        for stored in manifest.files:
            response = self.store.client.get_object(self.store.bucket, stored.key)
            digest = hashlib.sha256()
            try:
                for data in response.stream(FILE_CHUNK_BYTES):
                    digest.update(data)
                    yield pb.FileChunk(path=stored.path, data=data)
            finally:
                response.close()
                response.release_conn()
            if digest.hexdigest() != stored.sha256:
                raise DataLoss(f"file {stored.path} of {manifest.ref} is corrupt: checksum mismatch")
            if stored.bytes == 0:
                yield pb.FileChunk(path=stored.path, data=b"")

    def list(self, principal: Principal, include_shared: bool = False, include_deleted: bool = False,
             name: str | None = None) -> list[pb.Manifest]:
        if name:
            check_name(name)
        teams = [principal.team] if principal.team else self._teams()
        if include_shared or principal.admin:
            teams = sorted(set(teams) | set(self._teams()))
        result = []
        for team in teams:
            foreign = team != principal.team and not principal.admin
            names = [name] if name else self._names(team)
            for dataset in names:
                deleted = self._deleted(team, dataset)
                tags = self._tags(team, dataset)
                for version in self._versions(team, dataset):
                    # Another team's deleted version is gone for everyone but its owner (and the
                    # admin): resolving it is refused, so listing it must not show it either.
                    if version in deleted and (foreign or not include_deleted):
                        continue
                    manifest = self._load(team, dataset, version)
                    if foreign and not manifest.shared and team != PUBLIC_TEAM:
                        continue
                    result.append(self._decorate(manifest, deleted.get(version), tags))
        return result

    def lineage(self, principal: Principal, text: str) -> list[pb.Manifest]:
        """The version and its ancestors, breadth first; unreadable ancestors are left out."""
        start = self.resolve(principal, text)
        seen, order, queue = {start.ref}, [start], collections.deque(start.lineage.parents)
        while queue:
            parent = queue.popleft()
            if parent in seen:
                continue
            seen.add(parent)
            try:
                manifest = self.resolve(principal, parent)
            except (NotFound, PermissionDenied):
                continue
            order.append(manifest)
            queue.extend(manifest.lineage.parents)
        return order

    # -- tags and deletion -------------------------------------------------------------
    def tag(self, principal: Principal, text: str, tag: str) -> pb.Manifest:
        manifest = self._own(principal, text)
        self.store.put(layout.tag_key(manifest.team, manifest.name, check_tag(tag)),
                       json.dumps({"version": manifest.version}).encode(), "application/json")
        return self._decorate(manifest)

    def delete(self, principal: Principal, text: str) -> pb.Manifest:
        manifest = self._own(principal, text)
        marker = {"deleted_at": _now().isoformat(timespec="seconds"), "by": principal.team or "admin"}
        self.store.put(layout.deleted_key(manifest.team, manifest.name, manifest.version),
                       json.dumps(marker).encode(), "application/json")
        return self._decorate(manifest, marker)

    def restore(self, principal: Principal, text: str) -> pb.Manifest:
        ref = parse_ref(text, home_team(principal))
        if ref.version is None:
            raise InvalidArgument("restore needs an explicit NAME@VERSION")
        self._check_owner(principal, ref.team, text)
        if ref.version not in self._deleted(ref.team, ref.name):
            raise FailedPrecondition(f"{text} is not deleted")
        self.store.delete(layout.deleted_key(ref.team, ref.name, ref.version))
        return self._decorate(self._load(ref.team, ref.name, ref.version))

    def _own(self, principal: Principal, text: str) -> pb.Manifest:
        ref = parse_ref(text, home_team(principal))
        self._check_owner(principal, ref.team, text)
        return self._resolve(ref)

    @staticmethod
    def _check_owner(principal: Principal, team: str, text: str) -> None:
        if not principal.admin and team != principal.team:
            why = " (the public namespace is the operator's)" if team == PUBLIC_TEAM else ""
            raise PermissionDenied(f"team {principal.team!r} cannot change {text!r}{why}")

    # -- housekeeping ------------------------------------------------------------------
    def sweep(self, abandoned_after_s: float | None = None) -> dict[str, int]:
        """Remove unreferenced upload blobs and soft-deleted versions past retention."""
        abandoned_after = timedelta(seconds=self.config.abandoned_upload_s if abandoned_after_s is None
                                    else abandoned_after_s)
        retention = timedelta(days=self.config.retention_days)
        now = _now()
        removed = collections.Counter()
        for team in self._teams():
            for name in self._names(team):
                with self._lock(team, name):
                    deleted = self._deleted(team, name)
                    referenced = set()
                    for version in self._versions(team, name):
                        marker = deleted.get(version)
                        manifest = self._load(team, name, version)
                        if marker and now - datetime.fromisoformat(marker["deleted_at"]) > retention:
                            self.store.delete(layout.manifest_key(team, name, version))
                            self.store.delete(layout.deleted_key(team, name, version))
                            removed["purged_versions"] += 1
                            continue
                        referenced.update(layout.upload_id_of(s.key) for s in manifest.shards)
                        referenced.update(layout.upload_id_of(f.key) for f in manifest.files)
                    uploads: dict[str, datetime] = {}
                    for obj in self.store.list(layout.blobs_prefix(team, name)):
                        upload = layout.upload_id_of(obj.key)
                        if obj.last_modified:
                            uploads[upload] = max(uploads.get(upload, obj.last_modified), obj.last_modified)
                        else:
                            uploads.setdefault(upload, now)
                    for upload, modified in uploads.items():
                        if upload in referenced or upload in self._active_uploads:
                            continue
                        if now - modified >= abandoned_after:
                            removed["abandoned_objects"] += self.store.delete_prefix(
                                layout.upload_prefix(team, name, upload))
        return dict(removed)

    # -- object-store helpers ----------------------------------------------------------
    def _load(self, team: str, name: str, version: int) -> pb.Manifest:
        try:
            data = self.store.get(layout.manifest_key(team, name, version))
        except NotFound:
            raise NotFound(f"{format_ref(team, name, version)} does not exist") from None
        return json_format.Parse(data, pb.Manifest())

    def _versions(self, team: str, name: str) -> list[int]:
        return [layout.version_from_manifest_key(o.key) for o in self.store.list(layout.versions_prefix(team, name))]

    def _deleted(self, team: str, name: str) -> dict[int, dict]:
        markers = {}
        for obj in self.store.list(layout.deleted_prefix(team, name)):
            markers[layout.version_from_manifest_key(obj.key)] = json.loads(self.store.get(obj.key))
        return markers

    def _teams(self) -> list[str]:
        """Every top-level prefix that is a team's: valid team names only, never system state
        (``_auth/``, ``_jobs/``) or the jobs controller's legacy ``controller/``."""
        prefixes = (o.key.rstrip("/") for o in self.store.list("", recursive=False) if o.key.endswith("/"))
        return sorted(p for p in prefixes if TEAM_RE.fullmatch(p) and p not in RESERVED_TEAMS)

    def _names(self, team: str) -> list[str]:
        return sorted(o.key[len(team) + 1:].rstrip("/") for o in self.store.list(f"{team}/", recursive=False)
                      if o.key.endswith("/"))

    def _tags(self, team: str, name: str) -> dict[int, list[str]]:
        """Every tag of a name, by the version it points at."""
        by_version: dict[int, list[str]] = collections.defaultdict(list)
        for obj in self.store.list(layout.tags_prefix(team, name)):
            version = json.loads(self.store.get(obj.key)).get("version")
            by_version[version].append(obj.key.rsplit("/", 1)[1].removesuffix(".json"))
        return by_version

    def _decorate(self, manifest: pb.Manifest, deleted: dict | None = None,
                  tags: dict[int, list[str]] | None = None) -> pb.Manifest:
        """Add what can change after commit: the tags pointing here, the deletion mark.

        ``tags`` (from :meth:`_tags`) saves re-reading them when decorating many versions.
        """
        if tags is None:
            tags = self._tags(manifest.team, manifest.name)
        decorated = pb.Manifest()
        decorated.CopyFrom(manifest)
        decorated.tags[:] = sorted(tags.get(manifest.version, []))
        if deleted:
            decorated.deleted_at = deleted["deleted_at"]
        return decorated


def _spool_files(chunks: Iterable[pb.FileChunk]) -> Iterator[tuple[str, "tempfile.SpooledTemporaryFile", int, str]]:
    """Group chunks by path into spooled temp files (memory first, disk past 16 MiB)."""
    current: tuple[str, tempfile.SpooledTemporaryFile, "hashlib._Hash"] | None = None
    seen: set[str] = set()

    def finish(entry):
        path, spool, digest = entry
        size = spool.tell()
        spool.seek(0)
        return path, spool, size, digest.hexdigest()

    for chunk in chunks:
        if current is None or chunk.path != current[0]:
            if current is not None:
                yield finish(current)
            path = _check_file_path(chunk.path)
            if path in seen:
                raise InvalidArgument(f"file {path!r} sent twice")
            seen.add(path)
            current = (path, tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024), hashlib.sha256())
        current[1].write(chunk.data)
        current[2].update(chunk.data)
    if current is not None:
        yield finish(current)


def _check_file_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise InvalidArgument(f"file path {path!r} must be relative, '/'-separated, without '.' or '..'")
    return path


__all__ = ["KIND_NAMES", "PushSpec", "Registry"]
