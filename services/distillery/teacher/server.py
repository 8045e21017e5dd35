"""Run the teacher as a gRPC service: ``distillery teacher serve``."""

from __future__ import annotations

from pathlib import Path

from distillery.core.auth import TokenValidator
from distillery.core.grpc_server import ServiceHandle, create_server, limit_malloc_arenas, wait_for_termination
from distillery.registry.principals import PrincipalCache
from distillery.teacher.pools import TeacherServiceConfig
from distillery.teacher.servicer import TeacherServicer
from distillery.v1 import teacher_pb2
from distillery.v1 import teacher_pb2_grpc as pb_grpc

SERVICE_NAME = teacher_pb2.DESCRIPTOR.services_by_name["TeacherService"].full_name


def create_teacher_server(address: str, registry_address: str, verifier_address: str, work_dir: Path,
                          authenticate: TokenValidator | None,
                          service_config: TeacherServiceConfig | None = None) -> ServiceHandle:
    # The validator that let the call in already knows the caller's team: share its cache.
    principals = authenticate if isinstance(authenticate, PrincipalCache) else None
    servicer = TeacherServicer(registry_address, verifier_address, work_dir, service_config, principals)
    return create_server(address, lambda server: pb_grpc.add_TeacherServiceServicer_to_server(servicer, server),
                         [SERVICE_NAME], authenticate)


def serve(address: str, registry_address: str, verifier_address: str, work_dir: Path,
          authenticate: TokenValidator | None, service_config: TeacherServiceConfig | None = None) -> None:
    limit_malloc_arenas()
    handle = create_teacher_server(address, registry_address, verifier_address, work_dir, authenticate,
                                   service_config)
    print(f"teacher serving on {address.rsplit(':', 1)[0]}:{handle.port}", flush=True)
    wait_for_termination()
    handle.stop(grace_s=10)
