"""A stage's driver: ``python -m distillery.jobs.stage RUN_ID``, run as a Ray job or a RayJob.

It asks the jobs service for its typed :class:`StageRequest`, makes that request of the service
that serves it through the service's SDK client -- the teacher's ``RunJob``, the trainer's
``SubmitJob`` (followed to its end), the evaluation harness, Ray Serve -- and reports the typed
:class:`StageResult`, or the failure's cause in one line and whether another attempt could mend
it (:mod:`distillery.jobs.failures`: the request's own faults are not retried, whatever the
stage). What it prints is the stage's log, for people; nothing reads results from it.

The environment holds the team token (``DISTILLERY_TOKEN``) and the services' addresses
(``DISTILLERY_JOBS``, ``_REGISTRY``, ``_VERIFIER``, ``_TEACHER``, ``_TRAINER``; ``RAY_ADDRESS``
for serve), as the controller's backend sets them. SIGTERM -- how the controller stops a stage --
cancels a training job after its last checkpoint.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback

import grpc

from distillery.jobs.client import JobClient
from distillery.jobs.failures import classify, one_line, training_retryable
from distillery.v1 import jobs_pb2 as pb

REPORT_FOR_S = 600.0  # how long a driver waits for a restarting controller to answer


class StageFailed(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def teacher_stage(request, token: str) -> pb.StageResult:
    from distillery.teacher.client import TeacherClient

    last = None
    with TeacherClient(os.environ["DISTILLERY_TEACHER"], token) as teacher:
        for event in teacher.run_job(request):
            p = event.progress
            print(f"{p.problems_done}/{p.problems_total} problems, {p.generated} thoughts, "
                  f"{sum(p.accepted.values())} verified", flush=True)
            if event.HasField("result"):
                last = event
    if last is None:
        raise StageFailed("teacher: the job ended without a result", retryable=True)
    print(f"dataset {last.result.dataset}", flush=True)
    return pb.StageResult(teacher=last)


def train_stage(request, token: str) -> pb.StageResult:
    from distillery.trainer.client import TrainerClient, ended_without_model
    from distillery.v1 import trainer_pb2

    with TrainerClient(os.environ["DISTILLERY_TRAINER"], token) as trainer:
        job = trainer.submit(request)
        print(f"{job.id}: training {request.config.out} (checkpoints in {job.run})", flush=True)
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            for job in trainer.watch(job.id):
                print(f"{job.id}: step {job.metrics.step}/{job.metrics.total_steps or '?'}", flush=True)
        except KeyboardInterrupt:
            trainer.cancel(job.id)
            print(f"{job.id}: cancelled", flush=True)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
    if job.state != trainer_pb2.JOB_STATE_SUCCEEDED:
        # A run that failed from its own input (its data, its config, its batch size) fails again.
        raise StageFailed(ended_without_model(job), retryable=training_retryable(job.failure_kind))
    return pb.StageResult(train=job)


def eval_stage(request, token: str) -> pb.StageResult:
    from distillery.evaluation.harness import run_eval
    from distillery.registry.client import RegistryClient
    from distillery.verifier.client import VerifierClient

    with RegistryClient(os.environ["DISTILLERY_REGISTRY"], token) as registry, \
            VerifierClient(os.environ["DISTILLERY_VERIFIER"], token) as verifier:
        try:
            report = run_eval(request.model, list(request.benchmarks), list(request.methods), registry=registry,
                              verify_many=verifier.verify_many, limit=request.limit or None, backend=request.backend,
                              max_new_tokens=request.max_new_tokens, out=request.out, log=print,
                              samples=request.samples, temperature=request.temperature or 0.7, seed=request.seed,
                              allow_local_paths=False)  # the stage runs for a tenant on a shared node
        except ValueError as exc:
            raise StageFailed(f"eval: {exc}", retryable=False) from None
    scores = [pb.EvalScore(benchmark=r.benchmark, method=r.method, correct=r.correct, total=r.total,
                           accuracy=r.accuracy) for r in report.results]
    return pb.StageResult(eval=pb.EvalStageResult(model=report.model, dataset=report.dataset, results=scores))


def serve_stage(request, token: str) -> pb.StageResult:
    from distillery.student.model_refs import safe_name
    from distillery.registry.client import RegistryClient
    from distillery.serving.config import Autoscaling, ServeConfig
    from distillery.serving.deploy import DeploymentError, ServeEndpoint, deploy

    registry = os.environ["DISTILLERY_REGISTRY"]
    with RegistryClient(registry, token) as client:
        team = client.whoami().team
    endpoint = ServeEndpoint("127.0.0.1", *((request.http_port, request.grpc_port) if request.http_port else ()))
    config = ServeConfig(name=safe_name(request.name).replace(".", "-").replace("_", "-"), model=request.model,
                         team=team, backend=request.backend or "auto",
                         autoscaling=Autoscaling(min_replicas=request.min_replicas, max_replicas=request.max_replicas),
                         registry=registry, verifier=os.environ["DISTILLERY_VERIFIER"], token=token)
    try:
        url = deploy(config, os.environ.get("RAY_ADDRESS", "auto"), endpoint)
    except DeploymentError as exc:
        raise StageFailed(f"serve: {exc}", retryable=True) from None
    print(f"serving {request.model} at {url}", flush=True)
    return pb.StageResult(serve=pb.ServeStageResult(name=config.name, model=request.model, url=url,
                                                    grpc=endpoint.grpc_address()))


RUNNERS = {"teacher": teacher_stage, "train": train_stage, "eval": eval_stage, "serve": serve_stage}


def run(run_id: str, jobs: JobClient, token: str) -> bool:
    """Run the stage and report how it went; True when it succeeded."""
    request = _patiently(lambda: jobs.stage_request(run_id))
    called = request.WhichOneof("request")
    try:
        result = RUNNERS[called](getattr(request, called), token)
    except StageFailed as exc:
        return _report(jobs, run_id, error=one_line(str(exc)), retryable=exc.retryable)
    except Exception as exc:  # every stage type: the cause in one line, classified; the traceback to the log
        traceback.print_exc()
        error, retryable = classify(called, exc)
        return _report(jobs, run_id, error=error, retryable=retryable)
    return _report(jobs, run_id, result=result)


def _patiently(call):
    """``call()``, waiting out a restarting controller (UNAVAILABLE) for up to REPORT_FOR_S."""
    deadline = time.monotonic() + REPORT_FOR_S
    while True:
        try:
            return call()
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(2)


def _report(jobs: JobClient, run_id: str, **report) -> bool:
    _patiently(lambda: jobs.report_stage(run_id, **report))
    if report.get("error"):
        print(f"failed: {report['error']}", file=sys.stderr, flush=True)
    return not report.get("error")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    (run_id,) = argv if argv is not None else sys.argv[1:]
    token = os.environ["DISTILLERY_TOKEN"]
    with JobClient(os.environ["DISTILLERY_JOBS"], token) as jobs:
        return 0 if run(run_id, jobs, token) else 1


if __name__ == "__main__":
    sys.exit(main())
