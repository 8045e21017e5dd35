"""Where an S3 server is and how to reach it: the registry's datasets, the trainer's checkpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class S3Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field("127.0.0.1:9000", description="host:port of the S3 server (MinIO, SeaweedFS, AWS, ...).")
    access_key: str = Field("distillery", description="S3 access key.")
    secret_key: SecretStr = Field(SecretStr("distillery-secret"), description="S3 secret key.")
    bucket: str = Field("distillery", description="Bucket that holds every team's datasets and models.")
    secure: bool = Field(False, description="Use HTTPS.")
    region: str | None = Field(None, description="Region, where the server wants one.")
