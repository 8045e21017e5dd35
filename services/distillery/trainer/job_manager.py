"""The service's jobs: a queue, a thread per running job, and each job's live view.

A submitted config is first pinned (:meth:`JobManager.submit`): its dataset and base model are
resolved with the caller's token to exact versions, so the run key -- what a resubmission
resumes -- names exactly what was trained on.

A job's view is folded from its workers' events (:mod:`distillery.trainer.monitor`); watchers
block on a condition until the view changes. Jobs live in memory: a restarted service
forgets them, but submitting the same job again resumes its Ray Train run from the object
store.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import ray

from distillery.core.s3 import S3Config
from distillery.registry.client import RegistryClient
from distillery.trainer.errors import NoSuchJob
from distillery.trainer.pinning import pin
from distillery.trainer.trainer_config import TrainerConfig
from distillery.trainer.run import (TrainingCancelled, killed_for_memory, new_monitor, run_name, run_training,
                                    storage_path)

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
POLL_S = 0.5


@dataclass
class TrainingJob:
    id: str
    team: str
    config: TrainerConfig
    token: str = field(repr=False)
    share: bool = False
    run: str = ""
    state: str = QUEUED
    metrics: dict = field(default_factory=dict)
    workers: dict[int, dict] = field(default_factory=dict)
    restarts: int = 0
    resumed_from: int = 0
    last_checkpoint: int = 0
    model: str = ""
    error: str = ""
    created_at: float = field(default_factory=time.time)
    finished_at: float = 0.0
    events_seen: int = 0
    version: int = 0  # bumped on every change; watchers wait for a newer one
    cancel_requested: bool = False
    monitor: object = field(default=None, repr=False)


def apply_event(job: TrainingJob, event: dict) -> None:
    """Fold one worker event into the job's view."""
    kind = event.get("kind")
    if kind == "worker":
        previous = job.workers.get(event["rank"])
        if event["rank"] == 0 and previous is not None and previous["pid"] != event["pid"]:
            job.restarts += 1  # a new worker group: Ray Train restarted after a failure
        job.workers[event["rank"]] = {k: event[k] for k in ("rank", "pid", "node", "resumed_from")}
    elif kind == "start":
        job.resumed_from = max(job.resumed_from, event["resumed_from"])
        job.metrics.update({k: event[k] for k in ("total_steps", "padding_waste", "examples_per_worker",
                                                   "batch_tokens", "batch_tokens_source", "memory_gib")
                            if k in event})
    elif kind == "metrics":
        job.metrics.setdefault("first_loss", event["loss"])
        job.metrics.update({k: event[k] for k in ("step", "total_steps", "epoch", "loss", "learning_rate",
                                                   "tokens_per_s")})
        job.metrics["tokens_per_s_per_worker"] = event["tokens_per_s_per_worker_compute"]
    elif kind == "checkpoint":
        job.last_checkpoint = event["step"]


class JobManager:
    def __init__(self, registry_address: str, checkpoints: S3Config, concurrent_jobs: int = 1) -> None:
        self.registry_address = registry_address
        self.checkpoints = checkpoints
        self._jobs: dict[str, TrainingJob] = {}
        self._changed = threading.Condition()
        self._slots = threading.Semaphore(concurrent_jobs)

    # -- queries ---------------------------------------------------------------------
    def get(self, job_id: str, team: str) -> TrainingJob:
        job = self._jobs.get(job_id)
        if job is None or job.team != team:  # other teams' jobs do not exist
            raise NoSuchJob(f"no training job {job_id!r}")
        return job

    def list(self, team: str) -> list[TrainingJob]:
        return sorted((j for j in self._jobs.values() if j.team == team), key=lambda j: j.created_at)

    def wait_for_change(self, job: TrainingJob, seen_version: int, timeout_s: float = 30.0) -> None:
        with self._changed:
            self._changed.wait_for(lambda: job.version != seen_version or job.state in TERMINAL, timeout_s)

    # -- commands --------------------------------------------------------------------
    def submit(self, config: TrainerConfig, team: str, token: str, share: bool = False) -> TrainingJob:
        """Queue ``config`` for ``team``, pinned with the caller's ``token``; returns at once."""
        with RegistryClient(self.registry_address, token) as registry:
            config = pin(config, registry)
        job = TrainingJob(id=f"train-{uuid.uuid4().hex[:12]}", team=team, config=config, token=token, share=share,
                  run=f"s3://{storage_path(self.checkpoints, team)}/{run_name(config)}")
        with self._changed:
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job,), name=job.id, daemon=True).start()
        return job

    def cancel(self, job: TrainingJob) -> None:
        with self._changed:
            job.cancel_requested = True
            if job.state == QUEUED:
                self._finish(job, CANCELLED, error="cancelled before it started")
            elif job.monitor is not None:
                job.monitor.cancel.remote()
            job.version += 1
            self._changed.notify_all()

    # -- running ---------------------------------------------------------------------
    def _update(self, job: TrainingJob, **changes) -> None:
        with self._changed:
            for name, value in changes.items():
                setattr(job, name, value)
            job.version += 1
            self._changed.notify_all()

    def _finish(self, job: TrainingJob, state: str, **changes) -> None:
        for name, value in changes.items():
            setattr(job, name, value)
        job.state, job.finished_at = state, time.time()
        job.token = ""  # a finished job keeps no credentials

    def _run(self, job: TrainingJob) -> None:
        with self._slots:
            if job.state != QUEUED:
                return
            job.monitor = new_monitor()
            self._update(job, state=RUNNING)
            if job.cancel_requested:
                job.monitor.cancel.remote()
            stop_polling = threading.Event()
            poller = threading.Thread(target=self._poll, args=(job, stop_polling), daemon=True)
            poller.start()
            try:
                result = run_training(job.config, job.team, self.registry_address, job.token, self.checkpoints,
                                      job.monitor, job.share)
                outcome: tuple[str, dict] = (SUCCEEDED, {"model": result.model})
            except TrainingCancelled as exc:
                outcome = (CANCELLED, {"error": str(exc)})
            except Exception as exc:  # the job failed; the service goes on
                log.exception("training job %s failed", job.id)
                outcome = (FAILED, {"error": _describe(exc, job.metrics)})
            stop_polling.set()
            poller.join()
            self._drain(job)
            with self._changed:
                self._finish(job, outcome[0], **outcome[1])
                job.version += 1
                self._changed.notify_all()
            ray.kill(job.monitor)
            job.monitor = None

    def _poll(self, job: TrainingJob, stop: threading.Event) -> None:
        while not stop.wait(POLL_S):
            self._drain(job)

    def _drain(self, job: TrainingJob) -> None:
        try:
            events = ray.get(job.monitor.events_since.remote(job.events_seen), timeout=10)
        except Exception:  # noqa: BLE001 - a slow monitor only delays the view
            return
        if events:
            with self._changed:
                for event in events:
                    apply_event(job, event)
                job.events_seen += len(events)
                job.version += 1
                self._changed.notify_all()


def _describe(exc: BaseException, metrics: dict) -> str:
    """The innermost useful message (Ray wraps worker errors several times); a worker that
    Ray's OOM killer ended is told as such, with the knob and the memory its workers saw."""
    text = str(exc).strip() or type(exc).__name__
    if killed_for_memory(exc) and "batch_tokens" in metrics:
        return (f"a training worker was killed for using too much memory at {metrics['batch_tokens']} tokens per "
                f"batch ({metrics.get('batch_tokens_source', '')}; each worker saw {metrics.get('memory_gib', '?')} "
                f"GiB free when it started): lower --batch-tokens (or --max-length, or --workers)")
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
