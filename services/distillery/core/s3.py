"""Where an S3 server is and how to reach it: the registry's datasets, the trainer's checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class S3Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field("127.0.0.1:9000", description="host:port of the S3 server (MinIO, SeaweedFS, AWS, ...).")
    access_key: str = Field("distillery", description="S3 access key.")
    secret_key: SecretStr = Field(SecretStr("distillery-secret"), description="S3 secret key.")
    bucket: str = Field("distillery", description="Bucket that holds every team's datasets and models.")
    # Plain HTTP by default: the local stack's object store listens on loopback only.
    secure: bool = Field(False, description="Use HTTPS.")
    # From the environment by default, so every S3 client of a pod (services, bootstrap, stage drivers)
    # trusts the chart's CA without a flag per command.
    ca_bundle: Path | None = Field(
        default_factory=lambda: Path(os.environ["DISTILLERY_S3_CA_BUNDLE"]) if os.environ.get("DISTILLERY_S3_CA_BUNDLE")
        else None, description="CA bundle (PEM) that signs the server's certificate (implies HTTPS); "
                          "None: the system's roots.")
    region: str | None = Field(None, description="Region, where the server wants one.")

    @model_validator(mode="after")
    def _ca_means_https(self) -> "S3Config":
        # A CA bundle is only given to verify a certificate: never send the keys in plaintext beside it.
        if self.ca_bundle is not None:
            self.secure = True
        return self

    def minio(self):
        """A ``minio.Minio`` client; HTTPS verifies the server against ``ca_bundle`` (or the system's roots)."""
        from minio import Minio

        http_client = None
        if self.secure and self.ca_bundle is not None:
            import urllib3

            # minio's own default pool, with our CA instead of certifi's.
            http_client = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=300, read=300), maxsize=10, cert_reqs="CERT_REQUIRED",
                ca_certs=str(self.ca_bundle),
                retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]))
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key.get_secret_value(),
                     secure=self.secure, region=self.region, http_client=http_client)
