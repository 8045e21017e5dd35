"""Durable job state in the object store: one JSON document per job, per reusable stage result
and per finished stage's log, under ``controller/`` in the configured bucket.

    controller/jobs/TEAM/JOB_ID.json          the job record (state, stages, outputs, attempts)
    controller/stages/TEAM/STAGE_KEY.json     a finished stage's outputs, for reuse by key
    controller/logs/TEAM/JOB_ID/STAGE.log     the stage's output, kept after its Ray job is gone

An S3 PUT replaces an object whole, so a reader sees the old record or the new one, never half.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from minio import Minio
from minio.error import S3Error

from distillery.core.s3 import S3Config

PREFIX = "controller"


class JobStore:
    def __init__(self, config: S3Config) -> None:
        self.bucket = config.bucket
        self.client = Minio(config.endpoint, access_key=config.access_key,
                            secret_key=config.secret_key.get_secret_value(), secure=config.secure,
                            region=config.region)
        if not self.client.bucket_exists(self.bucket):
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:  # made concurrently
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    # --- documents ------------------------------------------------------------------------------

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(self.bucket, f"{PREFIX}/{key}", io.BytesIO(data), len(data), content_type=content_type)

    def _get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(self.bucket, f"{PREFIX}/{key}")
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def _keys(self, prefix: str) -> Iterator[str]:
        for item in self.client.list_objects(self.bucket, prefix=f"{PREFIX}/{prefix}", recursive=True):
            yield item.object_name.removeprefix(f"{PREFIX}/")

    # --- jobs -----------------------------------------------------------------------------------

    def save_job(self, record: dict) -> None:
        self._put(f"jobs/{record['team']}/{record['id']}.json", json.dumps(record).encode(), "application/json")

    def load_job(self, team: str, job_id: str) -> dict | None:
        data = self._get(f"jobs/{team}/{job_id}.json")
        return json.loads(data) if data else None

    def all_jobs(self) -> Iterator[dict]:
        for key in self._keys("jobs/"):
            data = self._get(key)
            if data:
                yield json.loads(data)

    # --- reusable stage results and logs --------------------------------------------------------

    def save_stage_result(self, team: str, key: str, outputs: dict) -> None:
        self._put(f"stages/{team}/{key}.json", json.dumps(outputs).encode(), "application/json")

    def stage_result(self, team: str, key: str) -> dict | None:
        data = self._get(f"stages/{team}/{key}.json")
        return json.loads(data) if data else None

    def save_log(self, team: str, job_id: str, stage: str, text: str) -> None:
        self._put(f"logs/{team}/{job_id}/{stage}.log", text.encode(), "text/plain")

    def log(self, team: str, job_id: str, stage: str) -> str | None:
        data = self._get(f"logs/{team}/{job_id}/{stage}.log")
        return data.decode(errors="replace") if data else None
