"""Pinning a training job's references: its dataset and base model, resolved with the caller's
token to exact versions. The trainer service and the local launcher both pin through here.

"NAME" means the latest *today*: a resubmission must not silently continue a run made on another
version. A registry base must be one the caller's team may read: without the check a job could copy
another team's unshared weights into its own namespace.
"""

from __future__ import annotations

import grpc

from distillery.core.service_errors import ServiceRefused
from distillery.registry.client import RegistryClient, WrongKind
from distillery.student.model_refs import ModelRefError, is_alias, show_model
from distillery.trainer.errors import InvalidConfig
from distillery.trainer.trainer_config import TrainerConfig


def pin(config: TrainerConfig, registry: RegistryClient) -> TrainerConfig:
    """``config`` with ``dataset`` and ``base`` pinned (TEAM/NAME@V; an alias stays an alias).
    InvalidConfig for a reference of the wrong kind or a path; ServiceRefused when the registry refuses."""
    try:
        dataset = registry.resolve(config.dataset, kind="dataset", field="dataset").ref
    except grpc.RpcError as exc:
        raise ServiceRefused(exc, field="dataset") from None
    except WrongKind as exc:
        raise InvalidConfig(str(exc)) from None
    try:
        base = config.base if is_alias(config.base) else show_model(registry, config.base, "base").ref
    except ModelRefError as exc:
        raise InvalidConfig(str(exc)) from None
    except grpc.RpcError as exc:
        raise ServiceRefused(exc, field="base") from None
    return config.model_copy(update={"dataset": dataset, "base": base})
