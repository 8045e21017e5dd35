"""The trainer service's job records in the object store: one JSON document per job, so
``trainer jobs`` / ``trainer status`` still know a team's jobs after the service restarts.

    _trainer/jobs/TEAM/JOB_ID.json      (in the checkpoints bucket, beside runs/TEAM/...)

``_trainer`` is a prefix no team name can take (team names start with a letter or digit). An
S3 PUT replaces an object whole: a reader sees the old record or the new one, never half.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from distillery.core.s3 import S3Config
from distillery.registry.store import ObjectStore
from distillery.trainer.job_records import TrainingJob, from_record, to_record

log = logging.getLogger(__name__)

PREFIX = "_trainer/jobs"


class TrainerJobStore:
    def __init__(self, config: S3Config) -> None:
        self.objects = ObjectStore(config)
        self.objects.ensure_bucket()

    def save(self, job: TrainingJob) -> None:
        self.objects.put(f"{PREFIX}/{job.team}/{job.id}.json", json.dumps(to_record(job)).encode(),
                         "application/json")

    def load_all(self) -> Iterator[TrainingJob]:
        for stored in self.objects.list(f"{PREFIX}/"):
            try:
                yield from_record(json.loads(self.objects.get(stored.key)))
            except Exception:  # noqa: BLE001 - one unreadable record must not hide the others
                log.exception("skipping the unreadable trainer job record %s", stored.key)
