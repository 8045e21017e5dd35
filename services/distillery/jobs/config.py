"""The controller's configuration: where state lives, where stages run, what each team may use."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from distillery.core.s3 import S3Config
from distillery.jobs.spec import JobSpec


class TeamQuota(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_concurrent_jobs: int = Field(4, ge=0, description="Queued + running jobs.")
    max_gpus: int = Field(8, ge=0, description="GPUs its running jobs' students may ask for, together.")
    max_workers: int = Field(16, ge=0, description="Training workers its running jobs may ask for, together.")


class Quotas(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: TeamQuota = Field(default_factory=TeamQuota)
    teams: dict[str, TeamQuota] = Field(default_factory=dict, description="Per-team overrides.")

    def of(self, team: str) -> TeamQuota:
        return self.teams.get(team, self.default)


def job_demand(spec: JobSpec) -> dict[str, int]:
    return {"max_concurrent_jobs": 1, "max_gpus": spec.student.workers if spec.student.use_gpu else 0,
            "max_workers": spec.student.workers}


def quota_refusal(quota: TeamQuota, active: list[JobSpec], new: JobSpec, team: str) -> tuple[str, str] | None:
    """``(limit, why)`` when ``new`` would exceed the team's quota given its ``active`` jobs, else None. Pure."""
    for limit, wanted in job_demand(new).items():
        in_use = sum(job_demand(spec)[limit] for spec in active)
        allowed = getattr(quota, limit)
        if wanted and in_use + wanted > allowed:
            return limit, (f"team {team!r} quota {limit}={allowed}: {in_use} in use by its active jobs, "
                           f"this job asks for {wanted}")
    return None


class KubeRaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    templates: Path | None = Field(
        default_factory=lambda: Path(os.environ["DISTILLERY_RAYJOB_TEMPLATES"])
        if os.environ.get("DISTILLERY_RAYJOB_TEMPLATES") else None,
        description="Directory of the chart's RayJob templates (teams.yaml, <team>.yaml): each stage's RayJob "
                    "is its team's template, filled in.")


class ControllerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: S3Config = Field(default_factory=S3Config, description="Bucket for job records, stage results, logs.")
    backend: Literal["ray", "kuberay"] = "ray"
    ray_dashboard: str = Field("http://127.0.0.1:8265", description="Ray Jobs API of the cluster (backend ray).")
    stage_command: list[str] = Field(
        default_factory=lambda: [sys.executable, "-m", "distillery.jobs.stage"],
        description="How a stage's driver starts (then its run id); the image's `python` on a cluster.")
    jobs: str = Field("127.0.0.1:50056", description="This service's address as stage drivers reach it: they read "
                                                     "their request and report their result here.")
    registry: str = "127.0.0.1:50052"
    verifier: str = "127.0.0.1:50051"
    teacher: str = "127.0.0.1:50053"
    trainer: str = "127.0.0.1:50055"
    serve_ports: tuple[int, int] | None = Field(None, description="Ray Serve's HTTP and gRPC ports, for serve stages.")
    quotas: Quotas = Field(default_factory=Quotas)
    kuberay: KubeRaySettings = Field(default_factory=KubeRaySettings)
    poll_interval_s: float = Field(2.0, gt=0)
    secret_key: SecretStr = Field(description="Fernet key that seals team tokens in the job records.")

    def service_env(self) -> dict[str, str]:
        """Where a stage's driver finds the services."""
        return {"DISTILLERY_JOBS": self.jobs, "DISTILLERY_REGISTRY": self.registry,
                "DISTILLERY_VERIFIER": self.verifier, "DISTILLERY_TEACHER": self.teacher,
                "DISTILLERY_TRAINER": self.trainer}
