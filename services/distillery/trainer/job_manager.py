"""The service's jobs: a queue, a thread per running job, and each job's live view.

A submitted config is first pinned (:meth:`JobManager.submit`): its dataset and base model are
resolved with the caller's token to exact versions, so the run key -- what a resubmission
resumes -- names exactly what was trained on.

A job's view is folded from its workers' events (:mod:`distillery.trainer.monitor`); watchers
block on a condition until the view changes. Each job's record is kept in the object store
(:mod:`distillery.trainer.job_store`) whenever its state or checkpoint changes, so a restarted
service still lists its teams' jobs; one that was running when the service stopped is marked
failed, and submitting the same job again resumes its Ray Train run from its last checkpoint.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid

import ray

from distillery.core.s3 import S3Config
from distillery.registry.client import RegistryClient
from distillery.trainer.errors import NoSuchJob
from distillery.trainer.failures import failure_kind
from distillery.trainer.job_records import (ACTIVE, CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, TERMINAL,
                                            TrainingJob, interrupted)
from distillery.trainer.job_store import TrainerJobStore
from distillery.trainer.pinning import pin
from distillery.trainer.trainer_config import TrainerConfig
from distillery.trainer.run import (TrainingCancelled, killed_for_memory, new_monitor, run_name, run_training,
                                    storage_path)

log = logging.getLogger(__name__)

POLL_S = 0.5


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
    def __init__(self, registry_address: str, checkpoints: S3Config, concurrent_jobs: int = 1,
                 store: TrainerJobStore | None = None) -> None:
        self.registry_address = registry_address
        self.checkpoints = checkpoints
        self.store = store
        self._jobs: dict[str, TrainingJob] = {}
        self._changed = threading.Condition()
        self._slots = threading.Semaphore(concurrent_jobs)
        self._saving = threading.Lock()  # one PUT at a time, each of the job as it is then: the newest lands last
        if store is not None:
            self._restore(store)

    def _restore(self, store: TrainerJobStore) -> None:
        """The jobs an earlier run of the service kept; those it left unfinished are failed now."""
        for job in store.load_all():
            if job.state in ACTIVE:
                job = interrupted(job, time.time())
                store.save(job)
            self._jobs[job.id] = job

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
        self._save(job)
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
        self._save(job)

    # -- running ---------------------------------------------------------------------
    def _update(self, job: TrainingJob, **changes) -> None:
        with self._changed:
            for name, value in changes.items():
                setattr(job, name, value)
            job.version += 1
            self._changed.notify_all()
        self._save(job)

    def _save(self, job: TrainingJob) -> None:
        if self.store is None:
            return
        try:
            with self._saving:
                self.store.save(job)
        except Exception:  # noqa: BLE001 - an unreachable store must not stop the job; the next change retries
            log.exception("could not save the record of training job %s", job.id)

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
                outcome = (CANCELLED, {"error": str(exc), "last_checkpoint": exc.step})
            except Exception as exc:  # the job failed; the service goes on
                log.exception("training job %s failed", job.id)
                outcome = (FAILED, {"error": _describe(exc, job.metrics), "failure_kind": failure_kind(exc)})
            stop_polling.set()
            poller.join()
            self._drain(job)
            with self._changed:
                self._finish(job, outcome[0], **outcome[1])
                job.version += 1
                self._changed.notify_all()
            self._save(job)
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
                checkpoint = job.last_checkpoint
                for event in events:
                    apply_event(job, event)
                job.events_seen += len(events)
                job.version += 1
                self._changed.notify_all()
            if job.last_checkpoint != checkpoint:
                self._save(job)


def _describe(exc: BaseException, metrics: dict) -> str:
    """The innermost useful message (Ray wraps worker errors several times); a worker that
    Ray's OOM killer ended is told as such, with the knob and the memory its workers saw."""
    text = str(exc).strip() or type(exc).__name__
    if killed_for_memory(exc) and "batch_tokens" in metrics:
        return (f"a training worker was killed for using too much memory at {metrics['batch_tokens']} tokens per "
                f"batch ({metrics.get('batch_tokens_source', '')}; each worker saw {metrics.get('memory_gib', '?')} "
                f"GiB free when it started): lower --batch-tokens (or --max-length, or --workers)")
    # The last line that says something: Ray's wrapped tracebacks can end in a bare `>` or `)`.
    lines = [line.strip() for line in text.splitlines() if re.search(r"[A-Za-z]{3}", line)]
    return lines[-1] if lines else type(exc).__name__
