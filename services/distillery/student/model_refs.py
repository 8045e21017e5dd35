"""Model references -> local HF checkpoint directories, with the caller's access checked first.

A reference is a built-in alias (``smollm2-135m-instruct``, see :mod:`distillery.student.models`)
or a registry model ``[TEAM/]NAME[@VERSION|@TAG|@sha256:HEX]`` -- a trained student, pushed as a
plain HF checkpoint directory. An existing local directory is accepted only when the caller
passes ``allow_local_paths=True``: the CLI's own process and operator configuration, never a
service on behalf of a request (a tenant naming a path could load another team's files).

Registry models are cached per node under ``models_dir()/cache/sha256-<key>``, the key a
digest of the manifest's file list (paths and sha256s). The path says nothing about a team or
a name and is never accepted from a tenant; every use first asks the registry, with the
caller's token, for the manifest (``Show``), so a cached copy is handed only to callers the
registry lets read the model. Pulls are staged in a temporary directory, checked against the
manifest's sha256 digests, then renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc

from distillery.student.models import ALIASES, ModelRefError, models_dir, resolve_model
from distillery.registry.client import WrongKind
from distillery.v1 import registry_pb2 as pb

# [TEAM/]NAME[@VERSION|@TAG|@sha256:HEX], as the registry spells them (registry/names.py).
# Matched whole: nothing that is a path (/, ., ~, several segments) fits.
REGISTRY_REF = re.compile(r"(?:[a-z0-9][a-z0-9-]{0,62}/)?[a-z0-9][a-z0-9._-]{0,127}"
                          r"(?:@(?:[0-9]{1,19}|[A-Za-z][A-Za-z0-9._-]{0,63}|sha256:[0-9a-f]{6,64}))?")


class ModelNotFound(ModelRefError):
    """The reference names no alias or registry model (or, where allowed, directory)."""


@dataclass(frozen=True)
class StudentModel:
    path: Path  # the HF checkpoint directory
    label: str  # how results name it: NAME@VERSION for a registry model, else the reference as given
    name: str  # a registry-safe name for the default results dataset (eval-NAME)
    registry_ref: str | None = None  # TEAM/NAME@VERSION when it came from the registry (lineage)


def check_reference(reference: str, field: str | None = "model") -> str:
    """``reference`` if a tenant may use it (an alias or a registry reference); else ModelRefError
    naming ``field``. Never touches the file system: what exists on this node is no business of
    the caller's."""
    if not isinstance(reference, str) or not reference:
        raise ModelRefError(f"{_prefix(field)}name a model (an alias or a registry model)")
    if reference in ALIASES or REGISTRY_REF.fullmatch(reference):
        return reference
    raise ModelRefError(f"{_prefix(field)}{reference[:200]!r} is not a model alias ({', '.join(ALIASES)}) or a "
                        "registry model [TEAM/]NAME[@VERSION|@TAG]; local directories are not accepted by the "
                        "services (push the directory to the registry as a model and name that)")


def is_alias(reference: str) -> bool:
    return reference in ALIASES


def resolve_student(reference: str, registry=None, *, allow_local_paths: bool = False,
                    field: str | None = None) -> StudentModel:
    """A local checkpoint for ``reference``; ``registry`` (a RegistryClient holding the caller's
    token) resolves registry models. ``allow_local_paths`` only for the CLI's in-process use."""
    if allow_local_paths:
        path = Path(reference).expanduser()
        if path.is_dir():
            return StudentModel(path=path, label=reference, name=safe_name(path.resolve().name))
    if reference in ALIASES:
        return StudentModel(path=resolve_model(reference), label=reference, name=safe_name(reference))
    try:
        check_reference(reference, field or "model")
    except ModelRefError as exc:
        if allow_local_paths:  # the CLI: the user meant a directory that is not there
            raise ModelNotFound(f"{_prefix(field)}model {reference!r} is not a directory, an alias "
                                f"({', '.join(ALIASES)}) or a registry model [TEAM/]NAME[@VERSION]") from None
        raise exc from None
    if registry is None:
        raise ModelNotFound(f"{_prefix(field)}model {reference!r} is not a known alias ({', '.join(ALIASES)}) "
                            "and no registry was given to look it up")
    manifest = show_model(registry, reference, field)  # the access check, with the caller's token
    return StudentModel(path=pull_model(registry, manifest), label=f"{manifest.name}@{manifest.version}",
                        name=manifest.name, registry_ref=manifest.ref)


def cache_key(manifest: pb.Manifest) -> str:
    """Content address of a model version: what its files are, not whose or what it is called."""
    digest = hashlib.sha256()
    for stored in sorted(manifest.files, key=lambda f: f.path):
        digest.update(f"{stored.path}\0{stored.sha256}\0{stored.bytes}\n".encode())
    return digest.hexdigest()


def cache_root() -> Path:
    root = models_dir() / "cache"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)  # not listable by other users of the node
    return root


def pull_model(registry, manifest: pb.Manifest) -> Path:
    """The model version's files under the node's cache, pulled on first use.

    Call only with a manifest just returned by ``registry.show`` for the caller: the path is
    handed out on that check alone."""
    if not manifest.files:
        raise ModelNotFound(f"{manifest.ref} holds no files")
    target = cache_root() / f"sha256-{cache_key(manifest)}"
    if _complete(target, manifest):
        return target
    staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=target.parent))
    try:
        registry.pull_files(manifest.ref, staging)  # checks every file's sha256
        if not _complete(staging, manifest):
            raise OSError(f"{manifest.ref}: the registry sent fewer files than its manifest lists")
        try:
            os.replace(staging, target)  # appears whole or not at all
        except OSError:
            if not _complete(target, manifest):  # not a concurrent pull that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _complete(directory: Path, manifest: pb.Manifest) -> bool:
    return directory.is_dir() and all((directory / stored.path).is_file() for stored in manifest.files)


def _prefix(field: str | None) -> str:
    return f"{field}: " if field else ""


def safe_name(text: str) -> str:
    """``text`` made a valid registry name (lowercase letters, digits, '.', '_', '-')."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:100]
    return name or "model"


def show_model(registry, reference: str, field: str | None = None) -> pb.Manifest:
    """The model's manifest as the caller (the registry client's token) may see it.

    NOT_FOUND / INVALID_ARGUMENT become ModelNotFound naming ``field``; any other refusal
    (PERMISSION_DENIED, UNAUTHENTICATED) stays a grpc.RpcError for the caller to pass on."""
    try:
        return registry.resolve(reference, kind="model", field=field)
    except WrongKind as exc:
        raise ModelNotFound(str(exc)) from None
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise ModelNotFound(f"{_prefix(field)}model {reference!r} not found: not an alias ({', '.join(ALIASES)}) "
                                f"or a model in the registry ({exc.details()})") from None
        raise
