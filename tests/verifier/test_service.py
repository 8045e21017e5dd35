"""VerifierService over a real loopback port: batch, stream, info, health, reflection, auth."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from distillery.core.auth import StaticTokens, bearer_metadata, check_exposure, hash_token
from distillery.core.outcome import Status
from distillery.v1 import verifier_pb2 as pb
from distillery.v1 import verifier_pb2_grpc as pb_grpc
from distillery.verifier.client import VerifierClient
from distillery.verifier.config import VerifierConfig
from distillery.verifier.grade import GradingConfig
from distillery.verifier.records import ThoughtRecord
from distillery.verifier.server import SERVICE_NAME, create_verifier_server

TOKEN = "team-a-token"


@pytest.fixture(scope="module")
def server():
    handle, verifier = create_verifier_server("127.0.0.1:0", VerifierConfig(workers=2),
                                              StaticTokens([hash_token(TOKEN)]))
    yield f"127.0.0.1:{handle.port}"
    handle.stop(grace_s=1)
    verifier.close()


@pytest.fixture()
def client(server):
    with VerifierClient(server, TOKEN) as c:
        yield c


def records(n: int) -> list[ThoughtRecord]:
    kinds = [("pot", "ans = {i} * 2"), ("eot", "half = x / 2\nhalf = {i}\nans = x"), ("cot", "The answer is {d}.")]
    return [ThoughtRecord(id=f"t{i}", thought_type=kinds[i % 3][0], text=kinds[i % 3][1].format(i=i, d=2 * i),
                          gold=2 * i) for i in range(n)]


def test_batch_verify_in_order(client):
    verdicts = client.verify(records(9))
    assert [v.answer for v in verdicts] == [2.0 * i for i in range(9)]
    assert all(v.status is Status.OK and v.correct for v in verdicts)


def test_stream_returns_every_verdict_with_its_index(client):
    batch = records(30) + [ThoughtRecord(id="slow", thought_type="pot", text="while True:\n    pass")]
    results = dict(client.verify_stream(batch))
    assert sorted(results) == list(range(31))
    assert all(results[i].answer == 2.0 * i for i in range(30))
    assert results[30].status is Status.TIMEOUT


def test_stream_reordered_by_the_client(client):
    verdicts = list(client.verify_many(records(12)))
    assert [v.answer for v in verdicts] == [2.0 * i for i in range(12)]


def test_failures_are_verdicts_not_rpc_errors(client):
    bad = [ThoughtRecord(id="u", thought_type="pot", text="import socket\nans = 1"),
           ThoughtRecord(id="p", thought_type="eot", text="ans = = 3"),
           ThoughtRecord(id="n", thought_type="cot", text="no idea")]
    assert [v.status for v in client.verify(bad)] == [Status.UNSAFE, Status.PARSE_ERROR, Status.NO_ANSWER]


def test_invalid_thought_is_invalid_argument_naming_it(server):
    stub = pb_grpc.VerifierServiceStub(grpc.insecure_channel(server))
    request = pb.VerifyRequest(thoughts=[pb.Thought(id="fine", thought_type=pb.THOUGHT_TYPE_POT, text="ans=1"),
                                         pb.Thought(id="typeless", text="ans = 1")])
    with pytest.raises(grpc.RpcError) as raised:
        stub.Verify(request, metadata=bearer_metadata(TOKEN))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "thought 1 (id 'typeless')" in raised.value.details() and "thought_type" in raised.value.details()
    with pytest.raises(grpc.RpcError) as streamed:
        list(stub.VerifyStream(iter(request.thoughts), metadata=bearer_metadata(TOKEN)))
    assert streamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_per_request_grading(server):
    stub = pb_grpc.VerifierServiceStub(grpc.insecure_channel(server))
    thought = pb.Thought(id="r", thought_type=pb.THOUGHT_TYPE_POT, text="ans = 1005", gold=1000)
    strict = stub.Verify(pb.VerifyRequest(thoughts=[thought]), metadata=bearer_metadata(TOKEN))
    loose = stub.Verify(pb.VerifyRequest(thoughts=[thought], grading=pb.Grading(rel_tol=0.01)),
                        metadata=bearer_metadata(TOKEN))
    assert strict.verdicts[0].correct is False and loose.verdicts[0].correct is True
    with VerifierClient(server, TOKEN) as client:  # the SDK carries the same override
        record = ThoughtRecord(id="r", thought_type="pot", text="ans = 1005", gold=1000)
        assert client.verify([record], grading=GradingConfig(rel_tol=0.01))[0].correct is True
        assert client.verify([record])[0].correct is False


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_calls_without_a_valid_token_are_unauthenticated(server, token):
    with VerifierClient(server, token) as anonymous:
        for call in (lambda: anonymous.verify(records(1)), lambda: list(anonymous.verify_stream(records(1))),
                     anonymous.info):
            with pytest.raises(grpc.RpcError) as raised:
                call()
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_info_reports_isolation_and_limits(client):
    info = client.info()
    assert info.isolation.seccomp and info.isolation.network_namespace and info.isolation.landlock_abi >= 1
    assert list(info.isolation.missing) == []
    assert info.workers == 2 and info.pot_timeout_s == 5.0 and "math" in info.allowed_imports


def test_health_and_reflection_need_no_token(server):
    channel = grpc.insecure_channel(server)
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE_NAME):
        status = health.Check(health_pb2.HealthCheckRequest(service=name)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    reply = next(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in reply.list_services_response.service}
    assert SERVICE_NAME in names and "grpc.health.v1.Health" in names


def test_service_keeps_answering_after_hostile_programs(client):
    hostile = [ThoughtRecord(id=str(i), thought_type="pot", text=text) for i, text in enumerate([
        "x = 'a' * 10**10", "while True:\n    print('x' * 4096)", "ans = ().__class__.__base__.__subclasses__()",
    ])]
    assert [v.status for v in client.verify(hostile)] == [Status.RESOURCE_LIMIT, Status.RESOURCE_LIMIT, Status.UNSAFE]
    assert client.verify(records(3))[0].correct is True


def test_refuses_unauthenticated_exposure_beyond_loopback():
    with pytest.raises(ValueError, match="without authentication"):
        check_exposure("0.0.0.0:50051", authenticated=False)
    check_exposure("127.0.0.1:50051", authenticated=False)
    check_exposure("0.0.0.0:50051", authenticated=True)
