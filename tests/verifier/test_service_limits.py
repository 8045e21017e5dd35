"""Per-call and per-team limits of VerifierService over real gRPC on loopback, two teams.

A team is a caller's token (the verifier knows token hashes, not team names). Each refusal names
its limit and refuses that call only: the other team is served meanwhile, and the refused team is
served again once its earlier calls end.
"""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from prometheus_client import REGISTRY

from distillery.core.auth import StaticTokens, hash_token
from distillery.core.outcome import Status
from distillery.verifier.client import VerifierClient
from distillery.verifier.config import VerifierConfig
from distillery.verifier.records import ThoughtRecord
from distillery.verifier.server import create_verifier_server

TEAM_A, TEAM_B = "team-a-token", "team-b-token"
SLOW = "while True:\n    pass"  # runs into the 1 s limit: keeps a thought in flight


@pytest.fixture(scope="module")
def server():
    config = VerifierConfig(workers=2, max_thoughts_per_call=3, max_inflight_thoughts_per_team=3,
                            max_calls_per_team=2, max_thoughts_per_stream=5, max_thought_chars=200).with_timeout(1.0)
    handle, verifier = create_verifier_server("127.0.0.1:0", config,
                                              StaticTokens([hash_token(TEAM_A), hash_token(TEAM_B)]))
    yield f"127.0.0.1:{handle.port}"
    handle.stop(grace_s=1)
    verifier.close()


@pytest.fixture()
def team_a(server):
    with VerifierClient(server, TEAM_A) as client:
        yield client


@pytest.fixture()
def team_b(server):
    with VerifierClient(server, TEAM_B) as client:
        yield client


def pot(n: int, text: str = "ans = {i} * 2") -> list[ThoughtRecord]:
    return [ThoughtRecord(id=f"t{i}", thought_type="pot", text=text.format(i=i), gold=2 * i) for i in range(n)]


def refused(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def refusals(limit: str) -> float:
    return REGISTRY.get_sample_value("distillery_verifier_refused_total", {"limit": limit}) or 0.0


def in_background(call) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    time.sleep(0.5)  # loopback: the call is admitted within milliseconds, and its thoughts run for 1-2 s
    return thread, result


def test_an_oversize_batch_is_refused_naming_the_limit_and_the_other_team_is_served(team_a, team_b):
    before = refusals("max_thoughts_per_call")
    error = refused(lambda: team_a.verify(pot(4)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_thoughts_per_call=3" in error.details() and "4" in error.details()
    assert refusals("max_thoughts_per_call") == before + 1
    assert [v.answer for v in team_b.verify(pot(3))] == [0.0, 2.0, 4.0]
    assert [v.answer for v in team_a.verify(pot(3))] == [0.0, 2.0, 4.0]  # a batch within the limit still works


def test_a_thought_over_the_size_limit_is_refused_naming_it(team_a):
    long = [ThoughtRecord(id="long", thought_type="pot", text="ans = 1  # " + "x" * 200)]
    for call in (lambda: team_a.verify(long), lambda: list(team_a.verify_stream(long))):
        error = refused(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "thought 0 (id 'long')" in error.details() and "max_thought_chars=200" in error.details()


def test_a_stream_over_its_total_gets_the_earlier_verdicts_then_the_limit(team_a):
    received = {}
    with pytest.raises(grpc.RpcError) as raised:
        for index, verdict in team_a.verify_stream(pot(7)):
            received[index] = verdict.answer
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_thoughts_per_stream=5" in raised.value.details()
    assert received == {i: 2.0 * i for i in range(5)}


def test_a_team_at_its_in_flight_limit_is_refused_while_the_other_team_is_served(team_a, team_b, server):
    thread, slow = in_background(lambda: team_a.verify(pot(3, SLOW)))
    error = refused(lambda: team_a.verify(pot(1)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_inflight_thoughts_per_team=3" in error.details()
    assert [v.answer for v in team_b.verify(pot(2))] == [0.0, 2.0]
    thread.join(timeout=30)
    assert [v.status for v in slow[0]] == [Status.TIMEOUT] * 3
    assert [v.answer for v in team_a.verify(pot(1))] == [0.0]  # its thoughts were given back


def test_a_team_at_its_call_limit_is_refused_while_the_other_team_is_served(team_a, team_b, server):
    with VerifierClient(server, TEAM_A) as second:
        calls = [in_background(lambda: team_a.verify(pot(1, SLOW))),
                 in_background(lambda: list(second.verify_stream(pot(1, SLOW))))]
        error = refused(lambda: team_a.verify(pot(1)))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_calls_per_team=2" in error.details()
        assert [v.answer for v in team_b.verify(pot(1))] == [0.0]
        for thread, _ in calls:
            thread.join(timeout=30)
    assert calls[0][1][0][0].status is Status.TIMEOUT and calls[1][1][0][0][1].status is Status.TIMEOUT
    assert [v.answer for v in team_a.verify(pot(1))] == [0.0]


def test_info_lists_the_limits(team_a):
    info = team_a.info()
    assert (info.max_thoughts_per_call, info.max_thoughts_per_stream, info.max_thought_chars,
            info.max_inflight_thoughts_per_team, info.max_calls_per_team) == (3, 5, 200, 3, 2)


def test_limits_are_validated_naming_the_field():
    with pytest.raises(ValueError, match="max_thoughts_per_call .* must not exceed max_inflight_thoughts_per_team"):
        VerifierConfig(max_thoughts_per_call=10, max_inflight_thoughts_per_team=5)
    with pytest.raises(ValueError, match="allow_missing_isolation"):
        VerifierConfig(allow_missing_isolation=("no_such_layer",))
