"""The client SDK's shared operations against a real registry: resolve, read_rows, who-am-I, header."""

from __future__ import annotations

import json
import socket
import time

import grpc
import pytest

from distillery.registry.client import WrongKind, header
from distillery.registry.principals import PrincipalCache, UnknownToken
from distillery.registry.rows import InvalidRow, parse_rows
from distillery.registry.server import create_registry_server


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


PROBLEMS = [{"id": i, "question": f"{i} + 1? " + "pad " * 40, "answer": i + 1} for i in range(2000)]


@pytest.fixture(scope="module")
def problems_ref(alpha) -> str:
    data = jsonl(PROBLEMS)
    # Chunks that cut lines in two: the registry re-shards (64 KiB shards in these tests).
    return alpha.push(header("sdk-problems", "problems"), [data[i:i + 999] for i in range(0, len(data), 999)]).ref


@pytest.fixture(scope="module")
def thoughts_ref(alpha) -> str:
    return alpha.push(header("sdk-thoughts"), [jsonl([{"id": 1, "thought_type": "pot", "text": "ans = 1"}])]).ref


# -- resolve ---------------------------------------------------------------------------------

def test_resolve_pins_the_version_of_the_kind_asked_for(alpha, problems_ref):
    manifest = alpha.resolve("sdk-problems", kind="problems")
    assert manifest.ref == problems_ref == "alpha/sdk-problems@1"
    assert alpha.resolve("sdk-problems").ref == problems_ref  # no kind: any kind


def test_resolve_names_the_ref_and_both_kinds_when_the_kind_is_wrong(alpha, thoughts_ref, problems_ref):
    with pytest.raises(WrongKind) as raised:
        alpha.resolve("sdk-thoughts", kind="problems", field="problems.dataset")
    assert str(raised.value) == f"problems.dataset: {thoughts_ref} is a dataset, not a problems dataset"
    assert (raised.value.ref, raised.value.kind, raised.value.expected) == (thoughts_ref, "dataset", "problems")
    with pytest.raises(WrongKind, match=f"^{problems_ref} is a problems dataset, not a model$"):
        alpha.resolve(problems_ref, kind="model")
    with pytest.raises(ValueError, match="kind 'problem': expected one of dataset, problems, model"):
        alpha.resolve(problems_ref, kind="problem")


def test_resolve_leaves_refusals_to_the_registry(alpha, beta, problems_ref):
    with pytest.raises(grpc.RpcError) as missing:
        alpha.resolve("sdk-no-such", kind="problems")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as private:  # alpha's unshared set, asked for by beta
        beta.resolve(problems_ref, kind="problems")
    assert private.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)


# -- read_rows -------------------------------------------------------------------------------

def test_read_rows_returns_every_row_in_order(alpha, problems_ref):
    assert len(alpha.show(problems_ref).shards) > 3
    assert alpha.read_rows(problems_ref) == PROBLEMS


def test_read_rows_stops_at_the_limit(alpha, problems_ref):
    assert alpha.read_rows(problems_ref, limit=3) == PROBLEMS[:3]
    assert alpha.read_rows(problems_ref, limit=1500) == PROBLEMS[:1500]  # beyond the first shard
    assert alpha.read_rows(problems_ref, limit=0) == []
    assert alpha.read_rows(problems_ref, limit=10**6) == PROBLEMS
    assert alpha.show(problems_ref).rows == 2000  # the channel is still good after a stream cut short


def test_parse_rows_joins_lines_split_across_chunks_and_names_bad_lines():
    data = b'{"a": 1}\n\n{"a": 2}\n{"a": 3}'  # a blank line, no final newline
    assert list(parse_rows("t/x@1", [data[i:i + 3] for i in range(0, len(data), 3)])) == [{"a": 1}, {"a": 2},
                                                                                         {"a": 3}]
    with pytest.raises(InvalidRow, match=r"^t/x@1: line 2: expected a JSON object, got list$"):
        list(parse_rows("t/x@1", [b'{"a": 1}\n[1]\n']))
    with pytest.raises(InvalidRow, match=r"^t/x@1: line 1: not JSON"):
        list(parse_rows("t/x@1", [b"{oops\n"]))


# -- who am I --------------------------------------------------------------------------------

def test_with_token_asks_as_another_caller_over_the_same_channel(alpha, team_tokens):
    as_beta = alpha.with_token(team_tokens["beta"])
    assert as_beta.whoami().team == "beta"
    as_beta.close()  # the borrowed channel stays open for its owner
    assert alpha.whoami().team == "alpha"


def test_principals_answer_for_known_tokens_and_refuse_others(address, team_tokens):
    principals = PrincipalCache(address)
    try:
        assert principals.principal(team_tokens["alpha"]).team == "alpha"
        assert principals.principal(team_tokens["beta"]).team == "beta"
        assert principals(team_tokens["alpha"]) is True
        for token in ("dst_made-up", "", None):
            with pytest.raises(UnknownToken):
                principals.principal(token)
        assert principals("dst_made-up") is False
    finally:
        principals.close()


def test_principals_are_cached_for_the_ttl(address, admin):
    token = admin.create_token("alpha")
    cached, uncached = PrincipalCache(address, ttl_s=300), PrincipalCache(address, ttl_s=0)
    try:
        principal = cached.principal(token)
        assert principal.team == "alpha" and uncached.principal(token).team == "alpha"
        admin.revoke_token(principal.token_id, team="alpha")
        assert cached.principal(token).team == "alpha"  # trusted until the TTL runs out
        with pytest.raises(UnknownToken):
            uncached.principal(token)
    finally:
        cached.close()
        uncached.close()


def test_principals_do_not_cache_a_registry_that_could_not_be_asked(registry_config, team_tokens):
    with socket.socket() as probe:  # a free port, nothing listening on it yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    principals = PrincipalCache(f"127.0.0.1:{port}", ttl_s=300)
    try:
        with pytest.raises(grpc.RpcError) as down:
            principals.principal(team_tokens["alpha"])
        assert down.value.code() == grpc.StatusCode.UNAVAILABLE
        handle, _ = create_registry_server(f"127.0.0.1:{port}", registry_config)  # the same teams
        try:
            deadline = time.monotonic() + 20  # the channel retries after its reconnect backoff
            while True:
                try:
                    assert principals.principal(team_tokens["alpha"]).team == "alpha"
                    break
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline
                    time.sleep(0.2)
        finally:
            handle.stop(grace_s=1)
    finally:
        principals.close()


# -- header ----------------------------------------------------------------------------------

def test_header_fields_after_kind_are_keywords():
    by_keyword = header("x", "model", parents=["a/p@1"], meta={"m": "1"}, share=True, stage="train",
                        config={"lr": 1}, code_version="abc")
    assert list(by_keyword.parents) == ["a/p@1"] and by_keyword.stage == "train" and by_keyword.share
    with pytest.raises(TypeError):  # stage / code_version / name are all strings: never by position
        header("x", "model", ["a/p@1"], {"m": "1"}, True, "train", {"lr": 1}, "abc")

