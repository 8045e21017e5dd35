"""Run the jobs controller as a gRPC service: ``distillery jobs serve``."""

from __future__ import annotations

from distillery.core.auth import TokenValidator
from distillery.core.grpc_server import ServiceHandle, create_server, limit_malloc_arenas, wait_for_termination
from distillery.jobs.config import ControllerConfig
from distillery.jobs.controller import Controller
from distillery.jobs.servicer import JobServicer
from distillery.jobs.store import JobStore
from distillery.registry.principals import PrincipalCache
from distillery.v1 import jobs_pb2
from distillery.v1 import jobs_pb2_grpc as pb_grpc

SERVICE_NAME = jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name


def make_backend(config: ControllerConfig):
    if config.backend == "kuberay":
        from distillery.jobs.backends import KubeRayBackend
        from distillery.jobs.kuberay import load_templates

        if config.kuberay.templates is None:
            raise ValueError("backend kuberay needs the chart's RayJob templates (--kuberay-templates or "
                             "DISTILLERY_RAYJOB_TEMPLATES)")
        return KubeRayBackend(load_templates(config.kuberay.templates), tuple(config.stage_command))
    from distillery.jobs.backends import RayJobsBackend

    return RayJobsBackend(config.ray_dashboard, config.stage_command, config.service_env())


def create_jobs_server(address: str, config: ControllerConfig, authenticate: TokenValidator | None) -> ServiceHandle:
    controller = Controller(config, JobStore(config.state), make_backend(config))
    resumed = controller.resume()
    if resumed:
        print(f"resumed {resumed} unfinished job(s)", flush=True)
    # The server's token validator, when it has one, also says who each caller is: one cache.
    principals = authenticate if isinstance(authenticate, PrincipalCache) else PrincipalCache(config.registry)
    handle = create_server(address, lambda server: pb_grpc.add_JobServiceServicer_to_server(
        JobServicer(principals, controller), server), [SERVICE_NAME], authenticate)
    handle.on_stop(controller.stop)
    return handle


def serve(address: str, config: ControllerConfig, authenticate: TokenValidator | None) -> None:
    limit_malloc_arenas()
    handle = create_jobs_server(address, config, authenticate)
    print(f"jobs controller serving on {address.rsplit(':', 1)[0]}:{handle.port} (backend {config.backend})",
          flush=True)
    wait_for_termination()
    handle.stop(grace_s=10)
