"""KubeRay ``RayJob`` manifests for the controller's ``kuberay`` backend. Pure: dicts in, dicts out.

One RayJob per stage, in the team's namespace, labelled with the team's Kueue ``LocalQueue``
(``kueue.x-k8s.io/queue-name``) and created suspended, so Kueue admits it -- unsuspends it --
when the team's ClusterQueue has quota for its pods, and fair-shares the cluster between teams.
The head runs the stage's driver (``python -m distillery.jobs.stage RUN_ID``: it reads its typed
request from the jobs service and reports its result there). Evaluation generates
there, so an evaluation of a GPU job gets a GPU head; the other stages are clients of the
platform's services (the teacher's vLLM pool, the trainer's RayCluster), so their RayJobs stay
small -- the GPUs of training are the trainer RayCluster's, counted by the controller's own
per-team ``max_gpus`` quota, not by Kueue. The team token reaches the pods from the team's
Secret, never through the manifest.
"""

from __future__ import annotations

import re
import shlex

from distillery.jobs.plan import StagePlan

RAY_VERSION = "2.60.0"
TOKEN_SECRET_KEY = "token"


def rayjob_name(run_id: str) -> str:
    """A DNS-1123 name (lowercase, '-', at most 63) for a stage run id."""
    name = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    return name[:63].rstrip("-")


def _container(name: str, image: str, cpu: str, memory: str, gpus: int, env: list[dict]) -> dict:
    # Ray writes its session files under /tmp: an emptyDir keeps the root filesystem read-only.
    limits = {"cpu": cpu, "memory": memory, **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    return {
        "name": name, "image": image, "env": env,
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
    }


def rayjob_manifest(*, run_id: str, team: str, job_id: str, plan: StagePlan, namespace: str, queue: str,
                    image: str, service_env: dict[str, str], token_secret: str,
                    stage_command: tuple[str, ...] = ("python", "-m", "distillery.jobs.stage"), head_cpu: str = "2",
                    head_memory: str = "8Gi", ttl_s: int = 3600) -> dict:
    env = [{"name": k, "value": v} for k, v in sorted(service_env.items())]
    env.append({"name": "DISTILLERY_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": token_secret, "key": TOKEN_SECRET_KEY}}})
    head_gpus = 1 if plan.name in ("eval", "eval-base") and plan.gpus else 0
    spec: dict = {
        "entrypoint": shlex.join([*stage_command, run_id]),
        "suspend": True,
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": ttl_s,
        "backoffLimit": 0,  # the controller retries a stage, with backoff, as a new RayJob
        "rayClusterSpec": {
            "rayVersion": RAY_VERSION,
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {
                    "containers": [_container("ray-head", image, head_cpu, head_memory, head_gpus, env)],
                    "volumes": [{"name": "tmp", "emptyDir": {}}]}},
            },
        },
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {
            "name": rayjob_name(run_id), "namespace": namespace,
            "labels": {"kueue.x-k8s.io/queue-name": queue, "app.kubernetes.io/managed-by": "distillery-jobs",
                       "distillery.io/team": team, "distillery.io/job": rayjob_name(job_id),
                       "distillery.io/stage": plan.name},
        },
        "spec": spec,
    }

