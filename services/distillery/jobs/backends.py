"""Where stages run: a Ray cluster through the Ray Jobs API, or KubeRay RayJobs through Kubernetes.

Both take a stage as a run id (unique per job, stage and attempt) -- its driver reads its typed
request from the controller by that id -- and answer
``submit`` (idempotent: a run id that exists is left alone -- how a restarted controller attaches
to the stage it was running), ``status``, ``logs`` and ``stop``. Statuses are Ray's job
statuses in lowercase: pending, running, succeeded, failed, stopped; ``unknown`` when the run
id was never submitted.
"""

from __future__ import annotations

import shlex
from typing import Protocol

from distillery.jobs.kuberay import STAGE_COMMAND, NoTemplate, TeamTemplate, rayjob_manifest, rayjob_name
from distillery.jobs.plan import StagePlan

TERMINAL = ("succeeded", "failed", "stopped")


class StageBackend(Protocol):
    name: str

    def submit(self, run_id: str, plan: StagePlan, team: str, job_id: str, token: str) -> None: ...

    def status(self, run_id: str, team: str) -> str: ...

    def logs(self, run_id: str, team: str) -> str: ...

    def stop(self, run_id: str, team: str) -> None: ...


class RayJobsBackend:
    """The Ray Jobs API of one Ray cluster (the local stack's head, or a KubeRay RayCluster)."""

    name = "ray"

    def __init__(self, dashboard_address: str, stage_command: list[str], service_env: dict[str, str]) -> None:
        from ray.job_submission import JobSubmissionClient

        self.client = JobSubmissionClient(dashboard_address)
        self.stage_command = stage_command
        self.service_env = service_env

    def submit(self, run_id: str, plan: StagePlan, team: str, job_id: str, token: str) -> None:
        if self.status(run_id, team) != "unknown":
            return
        # The token travels in the Ray job's environment: visible to the cluster's operators only.
        self.client.submit_job(
            entrypoint=shlex.join([*self.stage_command, run_id]), submission_id=run_id,
            runtime_env={"env_vars": {**self.service_env, "DISTILLERY_TOKEN": token}},
            metadata={"team": team, "job": job_id, "stage": plan.name})

    def status(self, run_id: str, team: str) -> str:
        try:
            return self.client.get_job_status(run_id).value.lower()
        except RuntimeError as exc:  # the Jobs API answers 404 for an unknown submission id
            if "does not exist" in str(exc) or "404" in str(exc):
                return "unknown"
            raise

    def logs(self, run_id: str, team: str) -> str:
        try:
            return self.client.get_job_logs(run_id)
        except RuntimeError:
            return ""

    def stop(self, run_id: str, team: str) -> None:
        try:
            self.client.stop_job(run_id)
        except RuntimeError:
            pass  # already gone


class KubeRayBackend:
    """One KubeRay ``RayJob`` per stage in the team's namespace, queued by Kueue.

    Each RayJob is the team's template from the chart, filled in by
    :func:`distillery.jobs.kuberay.rayjob_manifest` (validated against the CRDs in tests); the
    Kubernetes calls are the ``kubernetes`` client's, kept thin.
    """

    name = "kuberay"
    GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"

    def __init__(self, templates: dict[str, TeamTemplate], stage_command: tuple[str, ...] = STAGE_COMMAND) -> None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        self.api = client.CustomObjectsApi()
        self.core = client.CoreV1Api()
        self.templates = templates
        self.stage_command = tuple(stage_command)

    def _template(self, team: str) -> TeamTemplate:
        if team not in self.templates:
            raise NoTemplate(f"team {team!r} has no RayJob template (the chart renders one per entry of its "
                             f"`teams` values; teams with one: {', '.join(sorted(self.templates)) or 'none'})")
        return self.templates[team]

    def _namespace(self, team: str) -> str:
        return self._template(team).namespace

    def manifest(self, run_id: str, plan: StagePlan, team: str, job_id: str) -> dict:
        return rayjob_manifest(self._template(team), run_id=run_id, job_id=job_id, plan=plan,
                               stage_command=self.stage_command)

    def submit(self, run_id: str, plan: StagePlan, team: str, job_id: str, token: str) -> None:
        from kubernetes.client.exceptions import ApiException

        body = self.manifest(run_id, plan, team, job_id)
        try:
            self.api.create_namespaced_custom_object(self.GROUP, self.VERSION, body["metadata"]["namespace"],
                                                     self.PLURAL, body)
        except ApiException as exc:
            if exc.status != 409:  # 409: it exists -- a restarted controller attaching to it
                raise

    def _get(self, run_id: str, team: str) -> dict | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.get_namespaced_custom_object(self.GROUP, self.VERSION,
                                                         self._namespace(team), self.PLURAL,
                                                         rayjob_name(run_id))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def status(self, run_id: str, team: str) -> str:
        rayjob = self._get(run_id, team)
        if rayjob is None:
            return "unknown"
        status = rayjob.get("status", {})
        if status.get("jobDeploymentStatus") == "Failed":
            return "failed"
        return (status.get("jobStatus") or "PENDING").lower()

    def logs(self, run_id: str, team: str) -> str:
        # KubeRay runs the submitter as a Kubernetes Job named after the RayJob.
        namespace = self._namespace(team)
        pods = self.core.list_namespaced_pod(namespace, label_selector=f"job-name={rayjob_name(run_id)}").items
        return "".join(self.core.read_namespaced_pod_log(p.metadata.name, namespace) for p in pods)

    def stop(self, run_id: str, team: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.api.delete_namespaced_custom_object(self.GROUP, self.VERSION, self._namespace(team),
                                                     self.PLURAL, rayjob_name(run_id))
        except ApiException as exc:
            if exc.status != 404:
                raise
