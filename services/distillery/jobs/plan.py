"""A job's stages, the typed request each makes, and the key that makes it reusable. Pure.

Stages, in order: ``teacher`` (generate thoughts for the problems, verified by the verifier
service, pushed as a dataset), ``train`` (fine-tune the student on them), ``eval-base`` (the base
model on the benchmarks: the "before"), ``eval`` (the student: the "after"), ``serve`` (deploy it).
Each stage is one :class:`~distillery.v1.jobs_pb2.StageRequest`: the teacher's ``TeacherJob``,
the trainer's ``SubmitJobRequest``, or an ``EvalStage`` / ``ServeStage``. Its driver
(:mod:`distillery.jobs.stage`) makes that call and reports the typed ``StageResult``.

A stage's *key* hashes everything its result depends on -- its request and the exact versions it
reads -- so a stage with a key that already finished (in any job of the team) is reused instead of
run again. ``serve`` has no key: a deployment can be removed at any time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from google.protobuf import json_format

from distillery.core.pydantic_proto import to_message
from distillery.jobs.spec import JobSpec
from distillery.v1 import jobs_pb2 as pb
from distillery.v1 import teacher_config_pb2 as teacher_config_pb
from distillery.v1 import teacher_pb2 as teacher_pb
from distillery.v1 import trainer_config_pb2 as trainer_config_pb
from distillery.v1 import trainer_pb2 as trainer_pb

STAGES = ("teacher", "train", "eval-base", "eval", "serve")
# What each stage made, as its job record's ``outputs`` names it.
OUTPUT_FIELD = {"teacher": "dataset", "train": "model", "eval-base": "dataset", "eval": "dataset", "serve": "url"}


@dataclass(frozen=True)
class StagePlan:
    name: str
    request: pb.StageRequest  # without its run id (one per attempt)
    key: str | None  # None: never reused
    gpus: int = 0  # GPUs the stage's own driver needs


def stages_of(spec: JobSpec) -> list[str]:
    """The stages this spec asks for, in order."""
    wanted = ["teacher", "train"]
    if spec.evaluation.enabled:
        wanted += (["eval-base"] if spec.evaluation.baseline else []) + ["eval"]
    if spec.deploy.enabled:
        wanted.append("serve")
    return wanted


def stage_key(stage: str, *parts: object) -> str:
    blob = json.dumps([stage, *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def plan_stage(spec: JobSpec, stage: str, problems_ref: str, outputs: dict[str, str],
               serve_ports: tuple[int, int] | None = None) -> StagePlan:
    """The request of ``stage``; ``outputs`` holds earlier stages' outputs (stage -> ref/URL)."""
    if stage == "teacher":
        config = spec.teacher.job(problems=problems_ref, out=f"{spec.name}-thoughts", limit=spec.problems.limit)
        job = teacher_pb.TeacherJob(config=to_message(config, teacher_config_pb.TeacherJobConfig))
        return _plan(stage, pb.StageRequest(teacher=job), keyed=True)
    if stage == "train":
        config = spec.student.to_trainer_config(outputs["teacher"], f"{spec.name}-student")
        train = trainer_pb.SubmitJobRequest(config=to_message(config, trainer_config_pb.TrainerConfig))
        return _plan(stage, pb.StageRequest(train=train), keyed=True)
    if stage in ("eval-base", "eval"):
        e = spec.evaluation
        model = spec.student.base if stage == "eval-base" else outputs["train"]
        request = pb.EvalStage(model=model, benchmarks=e.benchmarks, methods=e.methods, limit=e.limit or 0,
                               backend=e.backend, max_new_tokens=e.max_new_tokens,
                               out=f"eval-{spec.name}-{'base' if stage == 'eval-base' else 'student'}")
        # generation runs on the stage's driver: a GPU job's evaluation gets a GPU there
        return _plan(stage, pb.StageRequest(eval=request), keyed=True, gpus=1 if spec.student.use_gpu else 0)
    if stage == "serve":
        d = spec.deploy
        http_port, grpc_port = serve_ports or (0, 0)
        request = pb.ServeStage(model=outputs["train"], name=d.name or spec.name, min_replicas=d.min_replicas,
                                max_replicas=d.max_replicas, backend=d.backend, http_port=http_port,
                                grpc_port=grpc_port)
        return _plan(stage, pb.StageRequest(serve=request), keyed=False)
    raise ValueError(f"unknown stage {stage!r}")


def _plan(stage: str, request: pb.StageRequest, *, keyed: bool, gpus: int = 0) -> StagePlan:
    # The key is the request itself -- every input that can change the result is in it -- but
    # for the output's name: another job of the team with the same inputs reuses the result.
    if not keyed:
        return StagePlan(stage, request, None, gpus)
    unnamed = pb.StageRequest()
    unnamed.CopyFrom(request)
    called = getattr(unnamed, unnamed.WhichOneof("request"))
    (called.config if stage in ("teacher", "train") else called).ClearField("out")
    return StagePlan(stage, request, stage_key(stage, json_format.MessageToDict(unnamed, preserving_proto_field_name=True)),
                     gpus)


def stage_outputs(stage: str, result: pb.StageResult) -> dict[str, str]:
    """The job record's ``outputs`` of a stage: what it made (a registry reference, a URL)."""
    if result.HasField("teacher"):
        return {"dataset": result.teacher.result.dataset}
    if result.HasField("train"):
        return {"model": result.train.model}
    if result.HasField("eval"):
        return {"dataset": result.eval.dataset, "model": result.eval.model}
    if result.HasField("serve"):
        return {"url": result.serve.url}
    raise ValueError(f"stage {stage} reported an empty result")
