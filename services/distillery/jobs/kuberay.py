"""KubeRay ``RayJob`` manifests for the controller's ``kuberay`` backend, filled in from the
chart's templates. Pure: dicts in, dicts out.

The Helm chart renders one RayJob template per team (ConfigMap ``<fullname>-rayjob-templates``,
mounted into the controller; its directory is ``DISTILLERY_RAYJOB_TEMPLATES``): ``teams.yaml``
(team -> namespace, template file, token Secret, Kueue LocalQueue) and ``<team>.yaml``. A template
holds everything that is the cluster's and the team's -- namespace, the LocalQueue label and
``suspend`` (Kueue admits the job when the team's ClusterQueue has quota), the image, security
contexts, TLS, the services' addresses, the team token's Secret reference. The controller fills in
only what is the stage's (:func:`rayjob_manifest`): its name and labels, the entrypoint -- the
stage's driver and its run id, never a spec field -- and its shape: a stage drives the platform's
services (the teacher's pool, the trainer's RayCluster), so it runs on the head alone; evaluation
generates on its driver, so an evaluation of a GPU job gets a GPU there.
"""

from __future__ import annotations

import copy
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

from distillery.jobs.plan import StagePlan

STAGE_COMMAND = ("python", "-m", "distillery.jobs.stage")  # in the image


@dataclass(frozen=True)
class TeamTemplate:
    team: str
    namespace: str
    token_secret: str
    rayjob: dict  # the chart's RayJob for the team's stages
    local_queue: str | None = None


class NoTemplate(LookupError):
    """A team the chart rendered no RayJob template for (teams come from the chart's `teams` values)."""


def load_templates(directory: Path) -> dict[str, TeamTemplate]:
    """The templates the chart mounted in ``directory``: team -> template."""
    index = yaml.safe_load((directory / "teams.yaml").read_text()) or []
    return {entry["team"]: TeamTemplate(team=entry["team"], namespace=entry["namespace"],
                                        token_secret=entry["tokenSecret"], local_queue=entry.get("localQueue"),
                                        rayjob=yaml.safe_load((directory / entry["template"]).read_text()))
            for entry in index}


def rayjob_name(run_id: str) -> str:
    """A DNS-1123 name (lowercase, '-', at most 63) for a stage run id."""
    name = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    return name[:63].rstrip("-")


def rayjob_manifest(template: TeamTemplate, *, run_id: str, job_id: str, plan: StagePlan,
                    stage_command: tuple[str, ...] = STAGE_COMMAND) -> dict:
    """The RayJob of one stage attempt: ``template`` with the stage's name, labels, entrypoint and shape."""
    rayjob = copy.deepcopy(template.rayjob)
    metadata = rayjob.setdefault("metadata", {})
    metadata.pop("generateName", None)
    metadata["name"] = rayjob_name(run_id)
    metadata["namespace"] = template.namespace
    metadata.setdefault("labels", {}).update({
        "app.kubernetes.io/managed-by": "distillery-jobs", "distillery.io/team": template.team,
        "distillery.io/job": rayjob_name(job_id), "distillery.io/stage": plan.name})
    spec = rayjob["spec"]
    spec["entrypoint"] = shlex.join([*stage_command, run_id])
    spec["backoffLimit"] = 0  # the controller retries a stage, with backoff, as a new RayJob
    cluster = spec["rayClusterSpec"]
    cluster.pop("workerGroupSpecs", None)  # the stage drives the services: its driver is all it runs
    if plan.gpus:
        head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
        for bound in ("requests", "limits"):
            head.setdefault("resources", {}).setdefault(bound, {})["nvidia.com/gpu"] = plan.gpus
    return rayjob
