"""Deploy, list and remove served students on a Ray cluster (the local stack's or a KubeRay one).

One Ray Serve application per deployment, named by the deployment and mounted at ``/NAME``:
an ingress (``StudentAPI``) in front of autoscaled model replicas (``StudentReplica``). Serve's
HTTP proxy listens on ``http_host:http_port`` and its gRPC proxy on ``grpc_port`` with the
``StudentService`` servicer. Applications outlive the process that deployed them.

Ownership: each application's ingress knows the team that deployed it (``info``); listing
shows a team its own deployments and removing another team's is refused. Reaching the Ray
cluster at all is an operator's privilege (the stack, the chart's controller) -- calls to the
students are what teams authenticate for. Serve's proxies, shared by every team's deployments,
start with the guards of :mod:`distillery.serving.proxy` (no route listing, no anonymous calls,
a body ceiling).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import ray
from ray import serve

from distillery.serving.config import ServeConfig
from distillery.serving.ingress import StudentAPI
from distillery.serving.proxy import SERVICER, proxy_env
from distillery.serving.replica import StudentReplica

INGRESS, MODEL = "StudentAPI", "StudentReplica"


@dataclass(frozen=True)
class ServeEndpoint:
    """Where Ray Serve's proxies listen (chosen by the stack, or the cluster's values)."""

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 9000

    def url(self, name: str) -> str:
        return f"http://{self.http_host}:{self.http_port}/{name}"

    def grpc_address(self) -> str:
        return f"{self.http_host}:{self.grpc_port}"


class DeploymentError(RuntimeError):
    pass


def connect(ray_address: str) -> None:
    if not ray.is_initialized():
        ray.init(address=ray_address, namespace="distillery-serve", log_to_driver=False, configure_logging=False)
        logging.getLogger("ray.serve").setLevel(logging.WARNING)  # the CLI prints what matters


def build_app(config: ServeConfig) -> serve.Application:
    model = StudentReplica.options(
        autoscaling_config=config.autoscaling.ray_config(), max_ongoing_requests=config.max_ongoing_requests,
        ray_actor_options={"num_cpus": config.num_cpus, "num_gpus": config.num_gpus},
    ).bind(config)
    # The ingress holds many requests that wait on replicas: its limit is far above theirs.
    return StudentAPI.options(num_replicas=config.ingress_replicas, max_ongoing_requests=4096).bind(model, config)


def app_builder(args: dict) -> serve.Application:
    """For a RayService / ``serve run distillery.serving.deploy:app_builder key=value ...``:
    the ServeConfig fields as arguments; the token from ``DISTILLERY_TOKEN`` (a Secret) when absent."""
    args = dict(args)
    if "token" not in args and os.environ.get("DISTILLERY_TOKEN"):
        args["token"] = os.environ["DISTILLERY_TOKEN"]
    return build_app(ServeConfig.model_validate(args))


def start_proxies(endpoint: ServeEndpoint) -> None:
    """Ray Serve's HTTP and gRPC proxies (a no-op when Serve already runs on the cluster).

    The controller's environment reaches the proxy actors it creates: that is how the proxies
    load our guards (Ray reads these variables when a proxy starts, not per request)."""
    serve.start(http_options={"host": endpoint.http_host, "port": endpoint.http_port},
                grpc_options={"port": endpoint.grpc_port, "grpc_servicer_functions": [SERVICER]},
                controller_options={"runtime_env": {"env_vars": proxy_env()}})


def deploy(config: ServeConfig, ray_address: str, endpoint: ServeEndpoint) -> str:
    """Deploy (or update in place) and wait until it serves; returns its URL."""
    connect(ray_address)
    start_proxies(endpoint)
    owner = owners().get(config.name)
    if owner is not None and owner != config.team:
        raise DeploymentError(f"deployment name {config.name!r} is taken by another team; choose another --name")
    serve.run(build_app(config), name=config.name, route_prefix=f"/{config.name}", blocking=False)
    return endpoint.url(config.name)


def describe(name: str) -> dict:
    """The deployment's config (no token), status and model replica counts."""
    info = serve.get_app_handle(name).info.remote().result(timeout_s=30)
    status = serve.status().applications[name]
    model = status.deployments.get(MODEL)
    info["status"] = str(status.status.value if hasattr(status.status, "value") else status.status)
    info["replicas"] = {str(getattr(k, "value", k)): v for k, v in (model.replica_states if model else {}).items()}
    return info


def owners() -> dict[str, str]:
    """Application name -> the team that deployed it, for the applications this module made."""
    result = {}
    for name, status in serve.status().applications.items():
        if INGRESS in status.deployments:
            try:
                result[name] = serve.get_app_handle(name).info.remote().result(timeout_s=30)["team"]
            except Exception:  # an application that is still starting or failing has no answer yet
                result[name] = ""
    return result


def list_deployments(ray_address: str, team: str | None) -> list[dict]:
    """Every student deployment of ``team`` (``None``: all teams, for the admin)."""
    connect(ray_address)
    return [describe(name) for name, owner in sorted(owners().items()) if team is None or owner == team]


def remove(ray_address: str, name: str, team: str | None) -> None:
    connect(ray_address)
    owner = owners().get(name)
    if owner is None:
        raise DeploymentError(f"no deployment named {name!r}")
    if team is not None and owner != team:
        raise DeploymentError(f"deployment {name!r} belongs to another team")
    serve.delete(name)
