"""How the trainer service runs: where checkpoints go and which Ray cluster runs the workers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from distillery.core.s3 import S3Config


class TrainerServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoints: S3Config = Field(default_factory=lambda: S3Config(bucket="distillery-checkpoints"),
                                  description="Object store for Ray Train's storage_path.")
    ray_address: str | None = Field(None, description="Ray cluster (ray://... or auto); None starts a local one.")
    ray_num_cpus: int | None = Field(None, description="CPUs of the local Ray cluster (None: all).")
    concurrent_jobs: int = Field(1, ge=1, description="Jobs running at once; the rest queue.")
