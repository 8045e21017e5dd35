"""Durable job state in the object store: one JSON document per job, per reusable stage result
and per finished stage's log, under ``_jobs/`` in the configured bucket.

    _jobs/jobs/TEAM/JOB_ID.json          the job record (state, stages, outputs, attempts)
    _jobs/stages/TEAM/STAGE_KEY.json     a finished stage's outputs, for reuse by key
    _jobs/logs/TEAM/JOB_ID/STAGE.log     the stage's output, kept after its Ray job is gone

The bucket may be the registry's, whose top level is one prefix per team. A prefix starting with
``_`` is one no team name can take, so no team's datasets and this state can ever share keys. (The
state used to live under ``controller/``, where a team named ``controller``, ``jobs`` or ``blobs``
collided with it; :meth:`JobStore.migrate_legacy` moves such state once, at start.)

An S3 PUT replaces an object whole, so a reader sees the old record or the new one, never half.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

from minio.error import S3Error

from distillery.core.s3 import S3Config

log = logging.getLogger(__name__)

PREFIX = "_jobs"
LEGACY_PREFIX = "controller"
# What the controller itself wrote under the legacy prefix (anything else there is not its own).
_LEGACY_KEY = re.compile(r"(jobs/[a-z0-9][a-z0-9-]*/[^/]+\.json|stages/[a-z0-9][a-z0-9-]*/[^/]+\.json"
                         r"|logs/[a-z0-9][a-z0-9-]*/[^/]+/[^/]+\.log)")


class JobStore:
    def __init__(self, config: S3Config) -> None:
        self.bucket = config.bucket
        self.client = config.minio()
        if not self.client.bucket_exists(self.bucket):
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:  # made concurrently
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        self.migrate_legacy()

    def migrate_legacy(self) -> int:
        """Move state a previous version wrote under ``controller/`` to ``_jobs/``; returns how many.

        Copy first, delete after: a crash in between leaves both, and the next start finishes the
        move (an object already at its new key is not overwritten -- it may be newer).
        """
        moved = 0
        for item in self.client.list_objects(self.bucket, prefix=f"{LEGACY_PREFIX}/", recursive=True):
            key = item.object_name.removeprefix(f"{LEGACY_PREFIX}/")
            if not _LEGACY_KEY.fullmatch(key):
                continue
            data = self._read(f"{LEGACY_PREFIX}/{key}")
            if data is None:
                continue
            if key.startswith("jobs/") and not _is_job_record(data, key):
                continue  # same shape, but not a job record of this path's team: leave it alone
            if self._get(key) is None:
                self._put(key, data, "text/plain" if key.endswith(".log") else "application/json")
            self.client.remove_object(self.bucket, f"{LEGACY_PREFIX}/{key}")
            moved += 1
        if moved:
            log.info("moved %d job state objects from %s/ to %s/", moved, LEGACY_PREFIX, PREFIX)
        return moved

    # --- documents ------------------------------------------------------------------------------

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(self.bucket, f"{PREFIX}/{key}", io.BytesIO(data), len(data), content_type=content_type)

    def _get(self, key: str) -> bytes | None:
        return self._read(f"{PREFIX}/{key}")

    def _read(self, full_key: str) -> bytes | None:
        try:
            response = self.client.get_object(self.bucket, full_key)
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


def _is_job_record(data: bytes, key: str) -> bool:
    _, team, name = key.split("/")
    try:
        record = json.loads(data)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("team") == team and f"{record.get('id')}.json" == name
