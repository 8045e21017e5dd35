"""Registry settings. Groups: storage (``s3``), layout (``shard_bytes``, ``compression_level``),
housekeeping (``retention_days``, ``abandoned_upload_s``, ``gc_interval_s``), access (``admin_token_hashes``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from distillery.core.s3 import S3Config


class RegistryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # storage
    s3: S3Config = Field(default_factory=S3Config, description="The object store.")
    # layout
    shard_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Uncompressed bytes per shard (memory bound per stream).")
    compression_level: int = Field(1, ge=0, le=9, description="gzip level for shards (1: fast, still ~4x on JSONL).")
    # housekeeping
    retention_days: float = Field(7.0, ge=0, description="How long a soft-deleted version can be restored.")
    abandoned_upload_s: float = Field(
        3600.0, ge=0, description="Unreferenced upload blobs older than this are removed by the periodic sweep."
    )
    gc_interval_s: float = Field(600.0, gt=0, description="How often the sweep runs.")
    # access
    admin_token_hashes: tuple[str, ...] = Field((), description="SHA-256 hashes of admin tokens.")
