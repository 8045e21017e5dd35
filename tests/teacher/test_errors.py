"""Each of the teacher's expected failures reaches a caller as its status code and message, through
``answered_as_status`` -- the one mapping the servicer uses. The failures are raised by the
teacher's real code (its pools, backends, runner, job), inside a tiny real gRPC server on loopback;
the registry it is pointed at is a closed port, so a call to it fails as a real one does."""

from __future__ import annotations

import socket
from concurrent import futures

import grpc
import pytest

from distillery.core.service_errors import answered_as_status
from distillery.registry.principals import PrincipalCache, UnknownToken
from distillery.teacher.backends.factory import make_backend
from distillery.teacher.backends.openai_http import OpenAIBackend
from distillery.teacher.config import TeacherJobConfig
from distillery.teacher.errors import (BackendUnavailable, BadJob, EndpointRefused, EvaluationProblems,
                                       GenerationFailed, GuardDatasetMissing, ServiceRefused, UnknownPool,
                                       missing_guard_dataset)
from distillery.teacher.job import run_job
from distillery.teacher.pools import TeacherPool, TeacherServiceConfig, TeamEndpoints, check_team_endpoint
from distillery.teacher.running import TeacherJobRunner
from distillery.teacher.servicer import job_config
from distillery.v1 import teacher_pb2 as pb
from distillery.v1 import teacher_config_pb2 as teacher_config_pb

Code = grpc.StatusCode
PROBLEM = {"id": "p1", "question": "Ann has 3 apples and buys 4 more. How many apples does she have?", "answer": 7}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def nowhere() -> str:
    """A registry (and verifier, and endpoint) address nothing listens on."""
    return f"127.0.0.1:{closed_port()}"


@pytest.fixture(scope="module")
def runner(nowhere, tmp_path_factory) -> TeacherJobRunner:
    pools = TeacherServiceConfig(pools=[TeacherPool(name="house", base_url=f"http://{nowhere}/v1", models=["m"])])
    return TeacherJobRunner(nowhere, nowhere, tmp_path_factory.mktemp("jobs"), pools, PrincipalCache(nowhere))


def config(**fields) -> TeacherJobConfig:
    return TeacherJobConfig(**{"problems": "p@1", "out": "x", "contamination_guard": (), **fields})


def unreachable(nowhere: str) -> OpenAIBackend:
    return OpenAIBackend(f"http://{nowhere}", "m", max_retries=0, timeout_s=5)


@pytest.fixture(scope="module")
def failing_server():
    """A loopback server: ``Fail`` (unary) and ``FailLater`` (streams one message first, as RunJob
    does) run the failure named by the request inside ``answered_as_status``."""
    failures: dict[str, object] = {}

    def fail(request: bytes, context: grpc.ServicerContext) -> bytes:
        with answered_as_status(context, whole="job"):
            failures[request.decode()]()
        return b"no failure"

    def fail_later(request: bytes, context: grpc.ServicerContext):
        with answered_as_status(context, whole="job"):
            yield b"first"
            failures[request.decode()]()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Failing", {
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "FailLater": grpc.unary_stream_rpc_method_handler(fail_later)})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield failures, channel
    channel.close()
    server.stop(grace=1).wait()


def answer(failing_server, failure, streaming: bool = False) -> grpc.RpcError:
    failures, channel = failing_server
    failures[name := str(len(failures))] = failure
    with pytest.raises(grpc.RpcError) as caught:
        if streaming:
            replies = channel.unary_stream("/test.Failing/FailLater")(name.encode())
            assert next(replies) == b"first"
            list(replies)
        else:
            channel.unary_unary("/test.Failing/Fail")(name.encode())
    return caught.value


def raises(error: Exception):
    def failure():
        raise error
    return failure


def test_each_teacher_failure_class_has_its_status_code(failing_server):
    table = {BadJob: Code.INVALID_ARGUMENT, UnknownPool: Code.INVALID_ARGUMENT,
             EvaluationProblems: Code.INVALID_ARGUMENT, EndpointRefused: Code.PERMISSION_DENIED,
             BackendUnavailable: Code.FAILED_PRECONDITION, GenerationFailed: Code.UNAVAILABLE,
             UnknownToken: Code.UNAUTHENTICATED}
    for error_class, code in table.items():
        error = answer(failing_server, raises(error_class(f"{error_class.__name__}: why")))
        assert (error.code(), error.details()) == (code, f"{error_class.__name__}: why")
    missing = answer(failing_server, raises(GuardDatasetMissing("svamp")))
    assert (missing.code(), missing.details()) == (Code.FAILED_PRECONDITION, missing_guard_dataset("svamp"))
    # A job's stream ends with the same status after the messages it already sent.
    later = answer(failing_server, raises(GenerationFailed("endpoint: unreachable")), streaming=True)
    assert (later.code(), later.details()) == (Code.UNAVAILABLE, "endpoint: unreachable")


def test_the_teachers_code_raises_them(failing_server, runner, nowhere, tmp_path):
    def status(failure) -> tuple[Code, str]:
        error = answer(failing_server, failure)
        return error.code(), error.details()

    # The request: fields that contradict each other, or an invalid config (each field named).
    both = pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="p@1", out="x", contamination_guard=["svamp"], no_contamination_guard=True))
    assert status(lambda: job_config(both)) == (
        Code.INVALID_ARGUMENT, "job: contamination_guard: give the datasets or no_contamination_guard, not both")
    code, details = status(lambda: job_config(pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="p@1", out="x", variants=65))))
    assert code == Code.INVALID_ARGUMENT and "variants: Input should be less than or equal to 64" in details
    # Pools and endpoints: the operator's policy.
    assert status(lambda: runner.backend(config(backend="openai", pool="nope"), "token", None)) == (
        Code.INVALID_ARGUMENT, "pool: no teacher pool 'nope'; available: house")
    assert status(lambda: runner.backend(config(backend="openai", pool="house", model="gpt-9"), "token", None)) == (
        Code.INVALID_ARGUMENT, "model: pool 'house' serves m, not 'gpt-9'")
    assert status(lambda: runner.backend(config(), "token", "team-key")) == (
        Code.INVALID_ARGUMENT, "endpoint_api_key: only with `endpoint`")
    assert status(lambda: check_team_endpoint("https://93.184.216.34/v1", TeamEndpoints())) == (
        Code.PERMISSION_DENIED, "endpoint: this teacher does not accept team endpoints; use `pool`")
    # A pool that lists teams: the caller's team is asked of the registry -- which cannot be reached.
    listing = TeacherJobRunner(nowhere, nowhere, tmp_path, TeacherServiceConfig(pools=[TeacherPool(
        name="alpha-only", base_url=f"http://{nowhere}/v1", models=["m"], teams=["alpha"])]), PrincipalCache(nowhere))
    code, details = status(lambda: listing.backend(config(backend="openai", pool="alpha-only"), "token", None))
    assert code == Code.UNAVAILABLE and details.startswith("registry: ")
    assert status(lambda: listing.backend(config(backend="openai", pool="alpha-only"), "", None)) == (
        Code.UNAUTHENTICATED, "missing bearer token")
    # Engines: what the factory cannot build, and the model: a path is refused, a registry model
    # is asked of the registry (its refusal keeps its code, the field is named).
    code, details = status(lambda: config(backend="hf"))  # the config refuses an engine without a model
    assert code == Code.INVALID_ARGUMENT and "model: backend 'hf' needs `model`" in details
    code, details = status(lambda: runner.backend(config(backend="hf", model="/etc"), "token", None))
    assert code == Code.INVALID_ARGUMENT and details.startswith("model: '/etc' is not a model alias")
    code, details = status(lambda: runner.backend(config(backend="hf", model="alpha/mine@1"), "token", None))
    assert code == Code.UNAVAILABLE and details.startswith("model: ")
    # A job's problems: a refusal of the registry passes on as it is.
    code, details = status(lambda: list(runner.run_job(config(), "token", make_backend(config()))))
    assert code == Code.UNAVAILABLE and not details.startswith("registry: ")
    # Generation: a job's batch stops the job (resumable); an inline generation says why.
    job = run_job(config(thought_types=("pot",)), "alpha/p@1", [PROBLEM], unreachable(nowhere),
                  verify_many=lambda records: [], push=lambda *args: "", work_dir=tmp_path / "job")
    assert status(lambda: list(job)) == (
        Code.UNAVAILABLE, "endpoint: unreachable; the job stopped, run it again to resume")
    inline = runner.generate(config(thought_types=("pot",)), "token", unreachable(nowhere), [PROBLEM])
    assert status(lambda: list(inline)) == (Code.UNAVAILABLE, "endpoint: unreachable")


def test_a_registry_refusal_keeps_its_code_and_names_the_field(failing_server, nowhere):
    with grpc.insecure_channel(nowhere) as channel, pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/distillery.v1.RegistryService/Show")(b"", timeout=5)
    refusal = caught.value
    plain = answer(failing_server, raises(ServiceRefused(refusal)))
    assert (plain.code(), plain.details()) == (refusal.code(), refusal.details())
    named = answer(failing_server, raises(ServiceRefused(refusal, field="model")))
    assert (named.code(), named.details()) == (refusal.code(), f"model: {refusal.details()}")


def test_the_old_homes_of_the_failures_still_name_them():
    from distillery.teacher import job, pools
    from distillery.teacher.backends import factory

    assert (pools.UnknownPool, pools.EndpointRefused) == (UnknownPool, EndpointRefused)
    assert factory.BackendUnavailable is BackendUnavailable and job.GenerationFailed is GenerationFailed
    assert issubclass(UnknownPool, ValueError) and not issubclass(EndpointRefused, OSError)
