"""The solve contract and the OpenAI request shapes: validation and combining, without Ray; the
request and per-team limits; the guard that runs in Serve's shared HTTP proxy."""

from __future__ import annotations

import asyncio
import json

import pydantic
import pytest

from distillery.student.generation import cut_at_stop
from distillery.serving.config import Autoscaling, Limits, ServeConfig
from distillery.serving.limits import BodyCounter, LimitExceeded, TeamGate, check_declared_length, validation_context
from distillery.serving.proxy import ProxyGuard
from distillery.serving.openai_api import SSE_DONE, ChatRequest, ChunkWriter, CompletionRequest
from distillery.serving.solver import merged
from distillery.core.errors import field_errors
from distillery.serving.solving import MAX_QUESTION_CHARS, SolveRequest, ThoughtResult, combine


def _message(model, payload) -> str:
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate(payload)
    return field_errors(caught.value.errors())


def test_solve_request_defaults_to_all_three_types_and_vote():
    request = SolveRequest(question="  How many?  ")
    assert request.question == "How many?"
    assert request.methods == ["cot", "pot", "eot"] and request.strategy == "vote"
    assert SolveRequest(question="q", methods=["pot", "pot", "cot"]).methods == ["pot", "cot"]


@pytest.mark.parametrize("payload, names", [
    ({"question": "   "}, "question: must not be empty"),
    ({"question": "x" * (MAX_QUESTION_CHARS + 1)}, f"at most {MAX_QUESTION_CHARS}"),
    ({"question": "q", "methods": ["pot", "xot"]}, "methods.1"),
    ({"question": "q", "methods": []}, "methods: must name at least one"),
    ({"question": "q", "strategy": "best"}, "strategy"),
    ({"question": "q", "methods": ["pot", "eot"], "strategy": "single"}, "exactly one method, got 2"),
    ({"question": "q", "top_k": 5}, "top_k: Extra inputs are not permitted"),
    ({"question": "q", "samples": 9}, "samples: is 9; at most 8 (max_solve_samples)"),
    ({"question": "q", "samples": -1}, "samples: Input should be greater than or equal to 0"),
    ({"question": "q", "samples": 2, "temperature": 0}, "temperature: Input should be greater than 0"),
    ({}, "question: Field required"),
])
def test_bad_solve_requests_name_the_field(payload, names):
    assert names in _message(SolveRequest, payload)


def _thought(kind, answer, status="ok", sample=-1):
    return ThoughtResult(type=kind, text="...", answer=answer if status == "ok" else None, status=status,
                         sample=sample)


def test_vote_takes_the_majority_and_breaks_ties_pot_eot_cot():
    majority = [_thought("eot", 5.0), _thought("pot", 7.0), _thought("cot", 5.0004)]
    assert combine("vote", majority) == (5.0, "eot")  # 5.0 and 5.0004 agree at 1e-3; eot outranks cot
    tie = [_thought("eot", 1.0), _thought("pot", 2.0), _thought("cot", 3.0)]
    assert combine("vote", tie) == (2.0, "pot")


def test_fallback_takes_the_first_executed_in_order():
    thoughts = [_thought("cot", 3.0), _thought("pot", 0, "exec_error"), _thought("eot", 4.0)]
    assert combine("fallback", thoughts) == (4.0, "eot")
    assert combine("vote", [_thought("pot", 0, "timeout")]) == (None, None)


def test_with_samples_every_executed_thought_votes():
    # Greedy: pot 7, eot 5, cot 5 -> 5. The samples outvote it: 7 four times against 5 three times.
    thoughts = [_thought("pot", 7.0), _thought("eot", 5.0), _thought("cot", 5.0),
                _thought("pot", 7.0, sample=0), _thought("pot", 0, "exec_error", sample=1),
                _thought("eot", 7.0, sample=0), _thought("eot", 5.0, sample=1),
                _thought("cot", 7.0004, sample=0), _thought("cot", 0, "no_answer", sample=1)]
    assert combine("vote", thoughts[:3]) == (5.0, "eot")
    assert combine("vote", thoughts) == (7.0, "pot")
    # fallback: PoT executed, so PoT's thoughts alone decide.
    assert combine("fallback", [_thought("pot", 0, "exec_error"), _thought("pot", 3.0, sample=0),
                                _thought("eot", 4.0), _thought("eot", 4.0, sample=0)]) == (3.0, "pot")
    # single: the one method's greedy and sampled thoughts; a tie goes to the greedy one.
    assert combine("single", [_thought("cot", 1.0), _thought("cot", 2.0, sample=0)]) == (1.0, "cot")
    assert combine("single", [_thought("cot", 0, "no_answer"), _thought("cot", 2.0, sample=0),
                              _thought("cot", 2.0, sample=1)]) == (2.0, "cot")
    assert combine("vote", [_thought("pot", 0, "timeout"), _thought("pot", 0, "unsafe", sample=0)]) == (None, None)
    assert SolveRequest.model_validate({"question": "q", "samples": 3}).temperature == 0.7
    assert SolveRequest.model_validate_json('{"question": "q", "samples": 12}',
                                            context=validation_context(Limits(max_solve_samples=12))).samples == 12


def test_single_answers_only_from_its_one_method():
    assert combine("single", [_thought("cot", 12.0)]) == (12.0, "cot")
    assert combine("single", [_thought("pot", 0, "parse_error")]) == (None, None)


def test_openai_requests_refuse_what_is_not_supported():
    assert "logprobs are not supported" in _message(CompletionRequest, {"prompt": "a", "logprobs": 2})
    assert "n: Input should be less than or equal to 16" in _message(CompletionRequest, {"prompt": "a", "n": 17})
    assert "prompt" in _message(CompletionRequest, {"prompt": ["a", ""]})
    assert "messages.0.role" in _message(ChatRequest, {"messages": [{"role": "robot", "content": "hi"}]})
    request = CompletionRequest(prompt=["a", "b"], stop="\n", max_tokens=5, temperature=0, user="x")
    assert request.prompts() == ["a", "b"]
    sampling = request.sampling()
    assert sampling.stop == ("\n",) and sampling.max_new_tokens == 5 and sampling.temperature == 0


def test_streamed_chunks_are_openai_server_sent_events():
    request = CompletionRequest(prompt="a", stream=True, stream_options={"include_usage": True})
    assert request.stream and request.stream_options.include_usage
    completion = ChunkWriter("team/m@1", chat=False)
    event = completion.delta(1, " 4,", None)
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    chunk = json.loads(event[len(b"data: "):])
    assert chunk["object"] == "text_completion" and chunk["id"].startswith("cmpl-") and chunk["model"] == "team/m@1"
    assert chunk["choices"] == [{"index": 1, "text": " 4,", "finish_reason": None, "logprobs": None}]
    usage = json.loads(completion.usage(5, 7)[len(b"data: "):])
    assert usage["choices"] == [] and usage["usage"] == {"prompt_tokens": 5, "completion_tokens": 7,
                                                         "total_tokens": 12}
    chat = ChunkWriter("m", chat=True)
    first, second = (json.loads(chat.delta(0, text, reason)[len(b"data: "):])
                     for text, reason in (("Hi", None), ("!", "stop")))
    assert first["object"] == "chat.completion.chunk" and first["id"].startswith("chatcmpl-")
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "Hi"}  # the role once per choice
    assert second["choices"][0] == {"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}
    assert SSE_DONE == b"data: [DONE]\n\n"


def test_merged_streams_interleave_and_a_failure_ends_them_all():
    async def items(*values, fail=False):
        for value in values:
            await asyncio.sleep(0.01)
            yield value
        if fail:
            raise RuntimeError("replica lost")

    async def collect(streams):
        return [pair async for pair in merged(streams)]

    pairs = asyncio.run(collect([items("a", "b"), items("x", "y", "z")]))
    assert sorted(pairs) == [(0, "a"), (0, "b"), (1, "x"), (1, "y"), (1, "z")]
    assert [v for i, v in pairs if i == 1] == ["x", "y", "z"]  # each stream's order is kept
    with pytest.raises(RuntimeError, match="replica lost"):
        asyncio.run(collect([items("a", fail=True), items("x", "y", "z")]))


def test_a_held_stream_releases_its_slot_once_however_it_ends():
    from distillery.serving.ingress import HeldStream

    async def events():
        yield b"a"
        yield b"b"

    ends: list[str] = []

    async def read_all():
        return [event async for event in HeldStream(events(), lambda: ends.append("read"))]

    assert asyncio.run(read_all()) == [b"a", b"b"] and ends == ["read"]
    HeldStream(events(), lambda: ends.append("dropped"))  # never read: released when dropped
    assert ends == ["read", "dropped"]


def test_stop_strings_cut_at_the_earliest():
    assert cut_at_stop("x = 1\nQuestion: next", ("\nQuestion:",)) == ("x = 1", True)
    assert cut_at_stop("abcSTOPdefEND", ("END", "STOP")) == ("abc", True)
    assert cut_at_stop("plain", ()) == ("plain", False)


def test_serve_config_checks_names_and_replica_bounds():
    base = {"model": "smollm2-135m-instruct", "team": "t", "registry": "r:1", "verifier": "v:1", "token": "x"}
    with pytest.raises(pydantic.ValidationError, match="name 'Bad_Name'"):
        ServeConfig(name="Bad_Name", **base)
    with pytest.raises(pydantic.ValidationError, match="below min_replicas"):
        Autoscaling(min_replicas=3, max_replicas=2)
    scale_to_zero = Autoscaling(min_replicas=0, max_replicas=2, downscale_delay_s=7).ray_config()
    assert scale_to_zero["min_replicas"] == 0 and scale_to_zero["downscale_to_zero_delay_s"] == 7
    assert ServeConfig(name="ok-1", **base).model_dump(mode="json")["token"] == "**********"  # never printed


# --- limits: what one request may ask, what one team may have in flight ------------------------

def _limited(model, payload, **limits) -> str:
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate_json(json.dumps(payload), context=validation_context(Limits(**limits)))
    return field_errors(caught.value.errors(), whole="request")


@pytest.mark.parametrize("model, payload, limits, message", [
    (CompletionRequest, {"prompt": ["x"] * 9}, {"max_prompts": 8}, "prompt: 9 prompts; at most 8 (max_prompts)"),
    (CompletionRequest, {"prompt": ["x"] * 4, "n": 3}, {"max_choices": 10},
     "request: n x prompts is 12; at most 10 (max_choices)"),
    (ChatRequest, {"messages": [{"role": "user", "content": "x"}], "n": 3}, {"max_choices": 2},
     "request: n is 3; at most 2 (max_choices)"),
    (ChatRequest, {"messages": [{"role": "user", "content": "x"}] * 5}, {"max_messages": 4},
     "messages: 5 messages; at most 4 (max_messages)"),
    (CompletionRequest, {"prompt": "x", "max_tokens": 101}, {"max_tokens": 100},
     "max_tokens: is 101; at most 100 (max_tokens)"),
    (SolveRequest, {"question": "x" * 11}, {"max_question_chars": 10},
     "question: is 11 characters; at most 10 (max_question_chars)"),
])
def test_requests_over_a_deployments_limits_name_the_limit(model, payload, limits, message):
    assert _limited(model, payload, **limits) == message


def test_the_default_limits_stop_the_reported_flood():
    assert "200000 prompts; at most 64 (max_prompts)" in _message(CompletionRequest, {"prompt": ["1"] * 200_000})
    assert "at most 2048 (max_tokens)" in _message(CompletionRequest, {"prompt": "x", "max_tokens": 4096})
    with pytest.raises(pydantic.ValidationError, match="max_body_bytes"):
        Limits(max_body_bytes=1 << 40)  # above the proxies' ceiling


def test_a_body_is_refused_on_its_declared_length_or_as_it_streams():
    check_declared_length(None, 10)
    check_declared_length("10", 10)
    with pytest.raises(LimitExceeded) as declared:
        check_declared_length("2800000", 1024)
    assert declared.value.status == 413 and "2800000 bytes; at most 1024 bytes (max_body_bytes)" in str(declared.value)
    counter = BodyCounter(10)
    counter.add(b"x" * 10)
    with pytest.raises(LimitExceeded, match="at most 10 bytes"):
        counter.add(b"x")


def test_the_team_gate_refuses_a_busy_team_and_admits_the_others():
    gate = TeamGate(2)
    with gate.admit("a"), gate.admit("a"):
        with pytest.raises(LimitExceeded) as busy:
            with gate.admit("a"):
                pass
        assert busy.value.status == 429 and "at most 2 (team_max_concurrent)" in str(busy.value)
        with gate.admit("b"):
            assert gate.in_flight("b") == 1
    with pytest.raises(RuntimeError):
        with gate.admit("a"):
            raise RuntimeError("a failed request gives its slot back too")
    assert gate.in_flight("a") == 0 and gate.in_flight("b") == 0


# --- the guard in Serve's shared HTTP proxy (an ASGI app in front of the proxy's) ---------------

def _through_guard(path: str, headers: dict[str, str], body_chunks=(b"",), ceiling=1024):
    """A request through ProxyGuard to an app that reads the body and echoes what it saw."""
    seen: dict = {"reached": False, "messages": []}

    async def app(scope, receive, send):
        seen["reached"] = True
        while True:
            message = await receive()
            seen["messages"].append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})

    chunks = list(body_chunks)

    async def receive():
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    sent: list = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path,
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(ProxyGuard(app, max_body_bytes=ceiling)(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, seen


def test_the_proxy_guard_hides_routes_refuses_anonymous_calls_and_caps_bodies():
    bearer = {"Authorization": "Bearer dst_x"}
    status, body, seen = _through_guard("/-/routes", bearer)
    assert status == 404 and not seen["reached"] and b"serve ls" in body
    assert _through_guard("/-/routes", {})[0] == 404
    status, body, seen = _through_guard("/team-b-model/v1/models", {})
    assert status == 401 and not seen["reached"] and b"missing bearer token" in body
    assert _through_guard("/-/healthz", {})[2]["reached"]  # probes carry no token
    status, body, seen = _through_guard("/x/v1/solve", {**bearer, "Content-Length": "2048"})
    assert status == 413 and b"at most 1024" in body and not seen["reached"]
    status, body, seen = _through_guard("/x/v1/solve", bearer, [b"x" * 600, b"x" * 600, b"x"])
    assert seen["messages"] == ["http.request", "http.disconnect"]  # cut off past the ceiling
    assert _through_guard("/x/v1/solve", bearer, [b"x" * 600])[1] == b"app"
