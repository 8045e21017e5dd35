"""The call metrics every gRPC server carries, over a real loopback server (the verifier's):
each call counted once under the status it really ended with, refused calls included."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import REGISTRY

from distillery.core.auth import StaticTokens, bearer_metadata, hash_token
from distillery.v1 import verifier_pb2 as pb
from distillery.v1 import verifier_pb2_grpc as pb_grpc
from distillery.verifier.config import VerifierConfig
from distillery.verifier.server import SERVICE_NAME, create_verifier_server

TOKEN = "metrics-team-token"


@pytest.fixture(scope="module")
def stub():
    handle, verifier = create_verifier_server("127.0.0.1:0", VerifierConfig(workers=1),
                                              StaticTokens([hash_token(TOKEN)]))
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        yield pb_grpc.VerifierServiceStub(channel)
    handle.stop(grace_s=1)
    verifier.close()


def handled(method: str, code: str) -> float:
    return REGISTRY.get_sample_value("grpc_server_handled_total", {
        "grpc_service": SERVICE_NAME, "grpc_method": method, "grpc_code": code,
        "grpc_type": "bidi_stream" if method == "VerifyStream" else "unary"}) or 0.0


def counts(method: str) -> dict[str, float]:
    return {code: handled(method, code) for code in ("OK", "INVALID_ARGUMENT", "UNAUTHENTICATED", "UNKNOWN")}


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {code: after[code] - before[code] for code in before if after[code] != before[code]}


def test_unary_calls_are_counted_by_the_code_they_ended_with(stub):
    good = pb.VerifyRequest(thoughts=[pb.Thought(id="a", thought_type=pb.THOUGHT_TYPE_POT, text="ans = 2")])
    typeless = pb.VerifyRequest(thoughts=[pb.Thought(id="b", text="ans = 2")])
    before = counts("Verify")
    stub.Verify(good, metadata=bearer_metadata(TOKEN))
    for request, token in ((typeless, TOKEN), (good, "forged"), (good, None)):
        with pytest.raises(grpc.RpcError):
            stub.Verify(request, metadata=bearer_metadata(token))
    assert delta(before, counts("Verify")) == {"OK": 1, "INVALID_ARGUMENT": 1, "UNAUTHENTICATED": 2}


def test_streams_count_their_messages_and_their_end(stub):
    labels = {"grpc_service": SERVICE_NAME, "grpc_method": "VerifyStream", "grpc_type": "bidi_stream"}

    def sent() -> float:
        return REGISTRY.get_sample_value("grpc_server_msg_sent_total", labels) or 0.0

    before, sent_before = counts("VerifyStream"), sent()
    thoughts = [pb.Thought(id=str(i), thought_type=pb.THOUGHT_TYPE_EOT, text=f"x = {i}\nans = x") for i in range(5)]
    assert len(list(stub.VerifyStream(iter(thoughts), metadata=bearer_metadata(TOKEN)))) == 5
    with pytest.raises(grpc.RpcError):
        list(stub.VerifyStream(iter([*thoughts, pb.Thought(id="typeless", text="ans = 1")]),
                               metadata=bearer_metadata(TOKEN)))
    assert delta(before, counts("VerifyStream")) == {"OK": 1, "INVALID_ARGUMENT": 1}
    assert sent() - sent_before >= 5  # the second stream may have sent some verdicts before failing
