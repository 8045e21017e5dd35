"""The controller: takes jobs, runs their stages in order on a backend, keeps everything durable.

Each stage attempt is a typed request (:mod:`distillery.jobs.plan`) kept in the job record; the
stage's driver, a Ray job or RayJob, asks for it by run id (:meth:`Controller.stage_request`),
makes the call, and reports the typed result (:meth:`Controller.report_stage`). Nothing is read
from a stage's log but the log.

Each active job has a driver thread. Before a stage attempt is submitted its run id is written
to the job record, and backends treat submitting a known run id as attaching to it -- so a
controller killed at any point and started again (:meth:`Controller.resume`) picks every job up
where it was: a running stage is followed, not run again; a finished one is not touched.

A stage whose key has a stored result (from any job of the team) is *reused* when what it made
is still in the registry. A failed attempt is retried after ``backoff_s`` (doubling) up to
``attempts`` tries when the failure is the infrastructure's (:mod:`distillery.jobs.failures`);
one of the request's own (bad input, permission, not found) fails the job at once. The job's
error is the cause in one line; the stage's log stays in ``jobs logs``. Every reference
of a spec (datasets, models, the teacher pool) is resolved at submit, with the caller's token
(:mod:`distillery.jobs.references`): a job that could never succeed is refused, naming its
field. Team tokens are kept sealed (Fernet) in the records: a restarted controller needs them
to go on acting for the team.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import grpc
from cryptography.fernet import Fernet
from google.protobuf import json_format

from distillery.jobs.backends import TERMINAL, StageBackend
from distillery.jobs.config import ControllerConfig, quota_refusal
from distillery.jobs.errors import JobNotFound, QuotaExceeded
from distillery.jobs.failures import attempts, one_line
from distillery.jobs.plan import OUTPUT_FIELD, StagePlan, plan_stage, stage_outputs, stages_of
from distillery.jobs.records import MAX_EVENTS, Event, JobRecord, StageRecord
from distillery.jobs.references import check_references, check_teacher_pool, spec_references
from distillery.jobs.spec import JobSpec
from distillery.jobs.store import JobStore
from distillery.registry.client import RegistryClient
from distillery.teacher.client import TeacherClient
from distillery.v1 import jobs_pb2 as pb

log = logging.getLogger(__name__)


class Controller:
    def __init__(self, config: ControllerConfig, store: JobStore, backend: StageBackend) -> None:
        self.config = config
        self.store = store
        self.backend = backend
        self._fernet = Fernet(config.secret_key.get_secret_value().encode())
        self._jobs: dict[str, JobRecord] = {}
        self._changed = threading.Condition(threading.RLock())
        self._stopping = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    def resume(self) -> int:
        """Load every job; drive the unfinished ones again. Returns how many were resumed."""
        resumed = 0
        for data in self.store.all_jobs():
            record = JobRecord.from_dict(data)
            with self._changed:
                self._jobs[record.id] = record
            if record.active:
                self._event(record, "controller restarted: resuming")
                self._start_driver(record.id)
                resumed += 1
        return resumed

    def stop(self) -> None:
        self._stopping.set()

    # --- the API --------------------------------------------------------------------------------

    def submit(self, team: str, token: str, spec: JobSpec) -> JobRecord:
        with RegistryClient(self.config.registry, token) as registry:  # as the caller: its reads only
            pinned = check_references(registry, team, spec_references(spec))
        if spec.teacher.pool:  # only the teacher knows its operator's pools: asked as the caller too
            with TeacherClient(self.config.teacher, token) as teacher:
                check_teacher_pool(teacher, team, spec)
        problems = pinned["problems.dataset"]
        with self._changed:
            active = [JobSpec.model_validate(r.spec) for r in self._jobs.values() if r.team == team and r.active]
            refusal = quota_refusal(self.config.quotas.of(team), active, spec, team)
            if refusal:
                limit, why = refusal
                raise QuotaExceeded(why, team, limit)
            now = time.time()
            record = JobRecord(id=f"job-{uuid.uuid4().hex[:12]}", team=team, name=spec.name,
                               spec=spec.model_dump(mode="json"), problems=problems, backend=self.backend.name,
                               token=self._fernet.encrypt(token.encode()).decode(),
                               stages=[StageRecord(name) for name in stages_of(spec)], created_at=now, updated_at=now)
            self._jobs[record.id] = record
            self._event(record, f"submitted by team {team}: {', '.join(s.name for s in record.stages)}")
        self._start_driver(record.id)
        return record.public_copy()

    def get(self, job_id: str, team: str | None) -> JobRecord:
        """``team`` None: the admin, who sees every team's jobs."""
        with self._changed:
            return self._own(job_id, team).public_copy()

    def list(self, team: str | None) -> list[JobRecord]:
        with self._changed:
            return sorted((r.public_copy() for r in self._jobs.values() if team is None or r.team == team),
                          key=lambda r: r.created_at)

    def cancel(self, job_id: str, team: str | None) -> JobRecord:
        with self._changed:
            record = self._own(job_id, team)
            if record.active and not record.cancel_requested:
                record.cancel_requested = True
                self._event(record, "cancel requested")
            return record.public_copy()

    def watch(self, job_id: str, team: str | None, version: int, timeout_s: float) -> JobRecord:
        """The job once its version is past ``version`` (or after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                record = self._own(job_id, team)
                remaining = deadline - time.monotonic()
                if record.version > version or not record.active or remaining <= 0:
                    return record.public_copy()
                self._changed.wait(remaining)

    def logs(self, job_id: str, team: str | None, stage: str | None) -> str:
        record = self.get(job_id, team)
        names = [s.name for s in record.stages]
        if stage and stage not in names:
            raise JobNotFound(f"job {job_id} has no stage {stage!r} (stages: {', '.join(names)})")
        parts = []
        for entry in record.stages:
            if stage and entry.name != stage:
                continue
            text = self.store.log(record.team, job_id, entry.name)
            if text is None and entry.state == "running":
                text = self.backend.logs(entry.run_id, record.team)  # live, still in the cluster
            if text is None and entry.state == "reused":
                text = f"(reused: stage key {entry.key})\n"
            parts.append(f"===== {entry.name} ({entry.state}) =====\n{text or ''}")
        return "\n".join(parts)

    def _own(self, job_id: str, team: str | None) -> JobRecord:
        record = self._jobs.get(job_id)
        if record is None or (team is not None and record.team != team):
            raise JobNotFound(f"no job {job_id!r}")
        return record

    # --- the stage drivers' side -----------------------------------------------------------------

    def stage_request(self, run_id: str, team: str | None) -> pb.StageRequest:
        """The typed request of a stage run of the team's (JobNotFound otherwise)."""
        _, stage = self._stage_run(run_id, team)
        return stage.request

    def report_stage(self, run_id: str, team: str | None, report: pb.StageRunReport) -> None:
        """Keep what a stage's driver reports; the job's driver thread acts on it once the run ends."""
        record, stage = self._stage_run(run_id, team)
        with self._changed:
            stage.report = report
            self._event(record, f"{stage.name}: attempt {stage.attempts} reported "
                                f"{'a result' if report.HasField('result') else 'an error'}")

    def _stage_run(self, run_id: str, team: str | None) -> tuple[JobRecord, StageRecord]:
        with self._changed:
            for record in self._jobs.values():
                if team is not None and record.team != team:
                    continue
                for stage in record.stages:
                    if stage.run_id == run_id and stage.request is not None:
                        return record, stage
        raise JobNotFound(f"no stage run {run_id!r}")

    # --- driving a job --------------------------------------------------------------------------

    def _start_driver(self, job_id: str) -> None:
        threading.Thread(target=self._drive_safely, args=(job_id,), name=f"drive-{job_id}", daemon=True).start()

    def _drive_safely(self, job_id: str) -> None:
        try:
            self._drive(job_id)
        except Exception as exc:  # the controller's own failure (store, backend unreachable): say so
            log.exception("job %s", job_id)
            with self._changed:
                record = self._jobs[job_id]
                if not self._stopping.is_set():
                    record.state, record.error = "failed", f"controller error: {type(exc).__name__}: {exc}"
                    self._event(record, record.error)

    def _drive(self, job_id: str) -> None:
        with self._changed:
            record = self._jobs[job_id]
            token = self._fernet.decrypt(record.token.encode()).decode()
            spec = JobSpec.model_validate(record.spec)
            if record.state == "queued":
                record.state = "running"
                self._event(record, "running")
        outputs = {s.name: s.outputs.get(OUTPUT_FIELD[s.name], "") for s in record.stages if s.done}
        for stage in record.stages:
            if stage.done:
                continue
            if record.cancel_requested:
                return self._finish(record, "cancelled", "")
            plan = plan_stage(spec, stage.name, record.problems, outputs, self.config.serve_ports)
            if stage.attempts == 0 and plan.key and self._reuse(record, stage, plan.key, token):
                outputs[stage.name] = stage.outputs[OUTPUT_FIELD[stage.name]]
                continue
            if not self._run_stage(record, stage, plan, token, spec):
                if self._stopping.is_set():
                    return None
                state = "cancelled" if record.cancel_requested else "failed"
                return self._finish(record, state, "" if state == "cancelled" else
                                    f"stage {stage.name} failed after {attempts(stage.attempts)}: {stage.error}")
            outputs[stage.name] = stage.outputs[OUTPUT_FIELD[stage.name]]
        return self._finish(record, "succeeded", "")

    def _reuse(self, record: JobRecord, stage: StageRecord, key: str, token: str) -> bool:
        cached = self.store.stage_result(record.team, key)
        made = (cached or {}).get("outputs", {}).get(OUTPUT_FIELD[stage.name])
        if not made or not self._still_in_registry(made, token):
            return False
        with self._changed:
            stage.state, stage.key, stage.outputs, stage.finished_at = "reused", key, cached["outputs"], time.time()
            stage.result = json_format.ParseDict(cached["result"], pb.StageResult())
            self._event(record, f"{stage.name}: reused {made} (same inputs)")
        return True

    def _run_stage(self, record: JobRecord, stage: StageRecord, plan: StagePlan, token: str, spec: JobSpec) -> bool:
        team, job_id = record.team, record.id
        attempt = max(stage.attempts, 1)
        while True:
            run_id = f"{job_id}-{stage.name}-{attempt}"
            if stage.run_id != run_id:  # a new attempt: recorded, with its request, before it is submitted
                request = pb.StageRequest()
                request.CopyFrom(plan.request)
                request.run_id = run_id
                with self._changed:
                    stage.run_id, stage.attempts, stage.state, stage.key = run_id, attempt, "running", plan.key or ""
                    stage.request, stage.report, stage.started_at, stage.error = request, None, time.time(), ""
                    self._event(record, f"{stage.name}: attempt {attempt} submitted ({run_id})")
            self.backend.submit(run_id, plan, team, job_id, token)
            status = self._follow(record, run_id)
            if status is None:  # the controller is stopping: the stage goes on; a restart re-attaches
                return False
            text = self.backend.logs(run_id, team)
            self.store.save_log(team, job_id, stage.name, text)
            if status == "cancelled":
                with self._changed:
                    stage.state, stage.finished_at = "cancelled", time.time()
                    self._event(record, f"{stage.name}: cancelled")
                return False
            report = stage.report or pb.StageRunReport()
            if status == "succeeded" and report.HasField("result"):
                outputs = stage_outputs(stage.name, report.result)
                if plan.key:
                    self.store.save_stage_result(team, plan.key, {
                        "outputs": outputs,
                        "result": json_format.MessageToDict(report.result, preserving_proto_field_name=True)})
                with self._changed:
                    stage.state, stage.outputs, stage.result, stage.finished_at = (
                        "succeeded", outputs, report.result, time.time())
                    self._event(record, f"{stage.name}: succeeded -> {outputs[OUTPUT_FIELD[stage.name]]}")
                return True
            # The cause in one line; the log (a traceback, progress) stays in `jobs logs`. A driver
            # that ended without reporting (killed, out of memory, its node gone) is retried.
            error = one_line(report.error) or (f"its driver {status} without reporting a result (see `distillery "
                                               f"jobs logs {job_id} --stage {stage.name}`)")
            # A failure its driver says no retry can mend (bad input, no permission) ends the stage now.
            final = bool(report.error) and not report.retryable
            with self._changed:
                stage.error = error
                if final or attempt >= spec.retries.attempts:
                    stage.state, stage.finished_at = "failed", time.time()
                    self._event(record, f"{stage.name}: failed ({error})")
                    return False
                wait = spec.retries.backoff_s * 2 ** (attempt - 1)
                self._event(record, f"{stage.name}: attempt {attempt} {status} ({error}); retrying in {wait:.0f} s")
            if self._sleep_unless_cancelled(record, wait):
                with self._changed:
                    stage.state, stage.finished_at = "cancelled", time.time()
                return False
            attempt += 1

    def _follow(self, record: JobRecord, run_id: str) -> str | None:
        """Poll the run to its end: its status, ``cancelled`` after a cancel, None when stopping."""
        while not self._stopping.is_set():
            if record.cancel_requested:
                self.backend.stop(run_id, record.team)
                return "cancelled"
            status = self.backend.status(run_id, record.team)
            if status in TERMINAL:
                return status
            time.sleep(self.config.poll_interval_s)
        return None

    def _sleep_unless_cancelled(self, record: JobRecord, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if record.cancel_requested or self._stopping.is_set():
                return True
            time.sleep(min(0.5, self.config.poll_interval_s))
        return False

    def _finish(self, record: JobRecord, state: str, error: str) -> None:
        with self._changed:
            for stage in record.stages:
                if stage.state in ("pending", "running") and state == "cancelled":
                    stage.state = "cancelled"
            record.state, record.error = state, error
            self._event(record, state + (f": {error}" if error else ""))

    # --- helpers --------------------------------------------------------------------------------

    def _event(self, record: JobRecord, message: str) -> None:
        """Record a change: bump the version, persist, wake watchers. Call with the lock held."""
        with self._changed:
            record.version += 1
            record.updated_at = time.time()
            record.events = (record.events + [Event(record.updated_at, message)])[-MAX_EVENTS:]
            self.store.save_job(record.to_dict())
            self._changed.notify_all()
        log.info("%s %s", record.id, message)

    def _still_in_registry(self, reference: str, token: str) -> bool:
        if "@" not in reference:  # not a registry output (a URL): always made again
            return False
        with RegistryClient(self.config.registry, token) as registry:
            try:
                registry.show(reference)
            except grpc.RpcError:
                return False
        return True

