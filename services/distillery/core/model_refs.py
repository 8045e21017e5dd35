"""Which student to evaluate or serve: a model reference -> a local HF checkpoint directory.

A reference is, in this order: an existing directory; a built-in alias
(``smollm2-135m-instruct``, see :mod:`distillery.core.models`); or a registry model
``[TEAM/]NAME[@VERSION|@TAG]`` -- a trained student, pushed by the trainer as a plain HF
checkpoint directory. Registry models are pulled once into
``models_dir()/registry/TEAM/NAME/VERSION`` (staged in a temporary directory, checked against
the manifest's sha256 digests by the client, then renamed into place) and reused from there.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc

from distillery.core.models import ALIASES, models_dir, resolve_model
from distillery.v1 import registry_pb2 as pb


class ModelNotFound(ValueError):
    """The reference names no directory, alias or registry model."""


@dataclass(frozen=True)
class StudentModel:
    path: Path  # the HF checkpoint directory
    label: str  # how results name it: NAME@VERSION for a registry model, else the reference as given
    name: str  # a registry-safe name for the default results dataset (eval-NAME)
    registry_ref: str | None = None  # TEAM/NAME@VERSION when it came from the registry (lineage)


def resolve_student(reference: str, registry=None) -> StudentModel:
    """A local checkpoint for ``reference``; ``registry`` (a RegistryClient) resolves registry models."""
    path = Path(reference).expanduser()
    if path.is_dir():
        return StudentModel(path=path, label=reference, name=safe_name(path.resolve().name))
    if reference in ALIASES:
        return StudentModel(path=resolve_model(reference), label=reference, name=safe_name(reference))
    if registry is None:
        raise ModelNotFound(f"model {reference!r} is neither a directory nor a known alias ({', '.join(ALIASES)})")
    manifest = show_model(registry, reference)
    return StudentModel(path=pull_model(registry, manifest), label=f"{manifest.name}@{manifest.version}",
                        name=manifest.name, registry_ref=manifest.ref)


def pull_model(registry, manifest: pb.Manifest) -> Path:
    """The model version's files under the local cache, pulled on first use."""
    target = models_dir() / "registry" / manifest.team / manifest.name / str(manifest.version)
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{manifest.version}.", dir=target.parent))
    try:
        registry.pull_files(manifest.ref, staging)  # checks every file's sha256
        try:
            os.replace(staging, target)  # appears whole or not at all
        except OSError:
            if not (target / "config.json").exists():  # not a concurrent pull that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def safe_name(text: str) -> str:
    """``text`` made a valid registry name (lowercase letters, digits, '.', '_', '-')."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:100]
    return name or "model"


def show_model(registry, reference: str) -> pb.Manifest:
    try:
        manifest = registry.show(reference)
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise ModelNotFound(f"model {reference!r} not found: not a directory, an alias ({', '.join(ALIASES)}) "
                                f"or a model in the registry ({exc.details()})") from None
        raise
    if manifest.kind != pb.KIND_MODEL:
        raise ModelNotFound(f"{manifest.ref} is a {pb.Kind.Name(manifest.kind).removeprefix('KIND_').lower()}, "
                            "not a model")
    return manifest
