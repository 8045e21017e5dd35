"""Run the trainer as a gRPC service: ``distillery trainer serve``."""

from __future__ import annotations

from distillery.core.auth import TokenValidator
from distillery.core.grpc_server import ServiceHandle, create_server, limit_malloc_arenas, wait_for_termination
from distillery.registry.principals import PrincipalCache
from distillery.trainer.job_manager import JobManager
from distillery.trainer.job_store import TrainerJobStore
from distillery.trainer.service_config import TrainerServiceConfig
from distillery.trainer.run import ensure_ray
from distillery.trainer.servicer import TrainerServicer
from distillery.v1 import trainer_pb2
from distillery.v1 import trainer_pb2_grpc as pb_grpc

SERVICE_NAME = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].full_name


def create_trainer_server(address: str, registry_address: str, config: TrainerServiceConfig,
                          authenticate: TokenValidator | None) -> ServiceHandle:
    ensure_ray(config.ray_address, config.ray_num_cpus)
    # The server's token validator, when it has one, also says who each caller is: one cache.
    principals = authenticate if isinstance(authenticate, PrincipalCache) else PrincipalCache(registry_address)
    jobs = JobManager(registry_address, config.checkpoints, config.concurrent_jobs,
                      store=TrainerJobStore(config.checkpoints))
    servicer = TrainerServicer(principals, jobs)
    return create_server(address, lambda server: pb_grpc.add_TrainerServiceServicer_to_server(servicer, server),
                         [SERVICE_NAME], authenticate)


def serve(address: str, registry_address: str, config: TrainerServiceConfig,
          authenticate: TokenValidator | None) -> None:
    limit_malloc_arenas()
    handle = create_trainer_server(address, registry_address, config, authenticate)
    print(f"trainer serving on {address.rsplit(':', 1)[0]}:{handle.port}", flush=True)
    wait_for_termination()
    handle.stop(grace_s=10)
