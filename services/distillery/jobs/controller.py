"""The controller: takes jobs, runs their stages in order on a backend, keeps everything durable.

Each active job has a driver thread. Before a stage attempt is submitted its run id is written
to the job record, and backends treat submitting a known run id as attaching to it -- so a
controller killed at any point and started again (:meth:`Controller.resume`) picks every job up
where it was: a running stage is followed, not run again; a finished one is not touched.

A stage whose key has a stored result (from any job of the team) is *reused* when what it made
is still in the registry. A failed attempt is retried after ``backoff_s`` (doubling) up to
``attempts`` tries; then the job fails with the stage's error. Team tokens are kept sealed
(Fernet) in the records: a restarted controller needs them to go on acting for the team.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid

import grpc
from cryptography.fernet import Fernet

from distillery.jobs.backends import TERMINAL, StageBackend
from distillery.jobs.config import ControllerConfig, quota_refusal
from distillery.jobs.plan import OUTPUT_FIELD, plan_stage, stage_output, stages_of
from distillery.jobs.spec import JobSpec
from distillery.jobs.store import JobStore
from distillery.registry.client import RegistryClient
from distillery.v1 import registry_pb2 as registry_pb

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
DONE_STAGES = ("succeeded", "reused")
MAX_EVENTS = 200


class QuotaExceeded(Exception):
    pass


class JobNotFound(Exception):
    pass


class InvalidJob(ValueError):
    pass


class Controller:
    def __init__(self, config: ControllerConfig, store: JobStore, backend: StageBackend) -> None:
        self.config = config
        self.store = store
        self.backend = backend
        self._fernet = Fernet(config.secret_key.get_secret_value().encode())
        self._jobs: dict[str, dict] = {}
        self._changed = threading.Condition(threading.RLock())
        self._stopping = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    def resume(self) -> int:
        """Load every job; drive the unfinished ones again. Returns how many were resumed."""
        resumed = 0
        for record in self.store.all_jobs():
            with self._changed:
                self._jobs[record["id"]] = record
            if record["state"] in ACTIVE:
                self._event(record, "controller restarted: resuming")
                self._start_driver(record["id"])
                resumed += 1
        return resumed

    def stop(self) -> None:
        self._stopping.set()

    # --- the API --------------------------------------------------------------------------------

    def submit(self, team: str, token: str, spec: JobSpec) -> dict:
        problems = self._pin_problems(token, spec.problems.dataset)
        with self._changed:
            active = [JobSpec.model_validate(r["spec"]) for r in self._jobs.values()
                      if r["team"] == team and r["state"] in ACTIVE]
            refusal = quota_refusal(self.config.quotas.of(team), active, spec, team)
            if refusal:
                raise QuotaExceeded(refusal)
            now = time.time()
            record = {
                "id": f"job-{uuid.uuid4().hex[:12]}", "team": team, "name": spec.name, "state": "queued",
                "spec": spec.model_dump(mode="json"), "problems": problems, "backend": self.backend.name,
                "token": self._fernet.encrypt(token.encode()).decode(), "cancel_requested": False,
                "stages": [{"name": s, "state": "pending", "attempts": 0, "run_id": "", "key": "", "outputs": {},
                            "error": "", "started_at": 0.0, "finished_at": 0.0} for s in stages_of(spec)],
                "error": "", "created_at": now, "updated_at": now, "version": 0, "events": [],
            }
            self._jobs[record["id"]] = record
            self._event(record, f"submitted by team {team}: {', '.join(s['name'] for s in record['stages'])}")
        self._start_driver(record["id"])
        return record

    def get(self, job_id: str, team: str | None) -> dict:
        """``team`` None: the admin, who sees every team's jobs."""
        with self._changed:
            record = self._jobs.get(job_id)
            if record is None or (team is not None and record["team"] != team):
                raise JobNotFound(f"no job {job_id!r}")
            return _copy(record)

    def list(self, team: str | None) -> list[dict]:
        with self._changed:
            return sorted((_copy(r) for r in self._jobs.values() if team is None or r["team"] == team),
                          key=lambda r: r["created_at"])

    def cancel(self, job_id: str, team: str | None) -> dict:
        with self._changed:
            record = self._jobs.get(job_id)
            if record is None or (team is not None and record["team"] != team):
                raise JobNotFound(f"no job {job_id!r}")
            if record["state"] in ACTIVE and not record["cancel_requested"]:
                record["cancel_requested"] = True
                self._event(record, "cancel requested")
            return _copy(record)

    def watch(self, job_id: str, team: str | None, version: int, timeout_s: float) -> dict:
        """The job once its version is past ``version`` (or after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                record = self.get(job_id, team)
                if record["version"] > version or record["state"] not in ACTIVE:
                    return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return record
                self._changed.wait(remaining)

    def logs(self, job_id: str, team: str | None, stage: str | None) -> str:
        record = self.get(job_id, team)
        names = [s["name"] for s in record["stages"]]
        if stage and stage not in names:
            raise JobNotFound(f"job {job_id} has no stage {stage!r} (stages: {', '.join(names)})")
        parts = []
        for entry in record["stages"]:
            if stage and entry["name"] != stage:
                continue
            text = self.store.log(record["team"], job_id, entry["name"])
            if text is None and entry["state"] == "running":
                text = self.backend.logs(entry["run_id"], record["team"])  # live, still in the cluster
            if text is None and entry["state"] == "reused":
                text = f"(reused: stage key {entry['key']})\n"
            parts.append(f"===== {entry['name']} ({entry['state']}) =====\n{text or ''}")
        return "\n".join(parts)

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
                    record["state"], record["error"] = "failed", f"controller error: {type(exc).__name__}: {exc}"
                    self._event(record, record["error"])

    def _drive(self, job_id: str) -> None:
        with self._changed:
            record = self._jobs[job_id]
            token = self._fernet.decrypt(record["token"].encode()).decode()
            spec = JobSpec.model_validate(record["spec"])
            if record["state"] == "queued":
                record["state"] = "running"
                self._event(record, "running")
        outputs = {s["name"]: s["outputs"].get(OUTPUT_FIELD[s["name"]], "") for s in record["stages"]
                   if s["state"] in DONE_STAGES}
        for stage in record["stages"]:
            if stage["state"] in DONE_STAGES:
                continue
            if record["cancel_requested"]:
                return self._finish(record, "cancelled", "")
            plan = plan_stage(spec, stage["name"], record["problems"], outputs, self.config.serve_ports)
            if stage["attempts"] == 0 and plan.key and self._reuse(record, stage, plan.key, token):
                outputs[stage["name"]] = stage["outputs"][OUTPUT_FIELD[stage["name"]]]
                continue
            if not self._run_stage(record, stage, plan, token, spec):
                if self._stopping.is_set():
                    return None
                state = "cancelled" if record["cancel_requested"] else "failed"
                return self._finish(record, state, "" if state == "cancelled" else
                                    f"stage {stage['name']} failed after {stage['attempts']} attempt(s): "
                                    f"{stage['error']}")
            outputs[stage["name"]] = stage["outputs"][OUTPUT_FIELD[stage["name"]]]
        return self._finish(record, "succeeded", "")

    def _reuse(self, record: dict, stage: dict, key: str, token: str) -> bool:
        cached = self.store.stage_result(record["team"], key)
        if not cached or not self._still_in_registry(cached[OUTPUT_FIELD[stage["name"]]], token):
            return False
        with self._changed:
            stage.update(state="reused", key=key, outputs=cached, finished_at=time.time())
            self._event(record, f"{stage['name']}: reused {cached[OUTPUT_FIELD[stage['name']]]} (same inputs)")
        return True

    def _run_stage(self, record: dict, stage: dict, plan, token: str, spec: JobSpec) -> bool:
        team, job_id = record["team"], record["id"]
        attempt = max(stage["attempts"], 1)
        while True:
            run_id = f"{job_id}-{stage['name']}-{attempt}"
            if stage["run_id"] != run_id:  # a new attempt: recorded before it is submitted
                with self._changed:
                    stage.update(run_id=run_id, attempts=attempt, state="running", key=plan.key or "",
                                 started_at=time.time(), error="")
                    self._event(record, f"{stage['name']}: attempt {attempt} submitted ({run_id})")
            self.backend.submit(run_id, plan, team, job_id, token)
            status = self._follow(record, run_id)
            if status is None:  # the controller is stopping: the stage goes on; a restart re-attaches
                return False
            text = self.backend.logs(run_id, team)
            self.store.save_log(team, job_id, stage["name"], text)
            if status == "cancelled":
                with self._changed:
                    stage.update(state="cancelled", finished_at=time.time())
                    self._event(record, f"{stage['name']}: cancelled")
                return False
            error = ""
            if status == "succeeded":
                try:
                    result = stage_output(stage["name"], text)
                except ValueError as exc:
                    error = str(exc)
                else:
                    outputs = {k: v if isinstance(v, str) else _json(v) for k, v in result.items()}
                    if plan.key:
                        self.store.save_stage_result(team, plan.key, outputs)
                    with self._changed:
                        stage.update(state="succeeded", outputs=outputs, finished_at=time.time())
                        made = outputs[OUTPUT_FIELD[stage["name"]]]
                        self._event(record, f"{stage['name']}: succeeded -> {made}")
                    return True
            error = error or _tail(text) or f"ray job {status}"
            with self._changed:
                stage["error"] = error
                if attempt >= spec.retries.attempts:
                    stage.update(state="failed", finished_at=time.time())
                    self._event(record, f"{stage['name']}: failed ({error.splitlines()[-1][:200]})")
                    return False
                wait = spec.retries.backoff_s * 2 ** (attempt - 1)
                self._event(record, f"{stage['name']}: attempt {attempt} {status}; retrying in {wait:.0f} s")
            if self._sleep_unless_cancelled(record, wait):
                with self._changed:
                    stage.update(state="cancelled", finished_at=time.time())
                return False
            attempt += 1

    def _follow(self, record: dict, run_id: str) -> str | None:
        """Poll the run to its end: its status, ``cancelled`` after a cancel, None when stopping."""
        while not self._stopping.is_set():
            if record["cancel_requested"]:
                self.backend.stop(run_id, record["team"])
                return "cancelled"
            status = self.backend.status(run_id, record["team"])
            if status in TERMINAL:
                return status
            time.sleep(self.config.poll_interval_s)
        return None

    def _sleep_unless_cancelled(self, record: dict, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if record["cancel_requested"] or self._stopping.is_set():
                return True
            time.sleep(min(0.5, self.config.poll_interval_s))
        return False

    def _finish(self, record: dict, state: str, error: str) -> None:
        with self._changed:
            for stage in record["stages"]:
                if stage["state"] in ("pending", "running") and state == "cancelled":
                    stage["state"] = "cancelled"
            record["state"], record["error"] = state, error
            self._event(record, state + (f": {error}" if error else ""))

    # --- helpers --------------------------------------------------------------------------------

    def _event(self, record: dict, message: str) -> None:
        """Record a change: bump the version, persist, wake watchers. Call with the lock held."""
        with self._changed:
            record["version"] += 1
            record["updated_at"] = time.time()
            record["events"] = (record["events"] + [{"at": record["updated_at"], "message": message}])[-MAX_EVENTS:]
            self.store.save_job(record)
            self._changed.notify_all()
        log.info("%s %s", record["id"], message)

    def _pin_problems(self, token: str, reference: str) -> str:
        with RegistryClient(self.config.registry, token) as registry:
            try:
                manifest = registry.show(reference)
            except grpc.RpcError as exc:
                raise InvalidJob(f"problems.dataset: {exc.details()}") from None
        if manifest.kind != registry_pb.KIND_PROBLEMS:
            raise InvalidJob(f"problems.dataset: {manifest.ref} is not a problems dataset")
        return manifest.ref

    def _still_in_registry(self, reference: str, token: str) -> bool:
        if "@" not in reference:  # not a registry output (a URL): always made again
            return False
        with RegistryClient(self.config.registry, token) as registry:
            try:
                registry.show(reference)
            except grpc.RpcError:
                return False
        return True


def _copy(record: dict) -> dict:
    """What callers see: everything but the sealed token."""
    return copy.deepcopy({k: v for k, v in record.items() if k != "token"})


def _json(value) -> str:
    return json.dumps(value)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
