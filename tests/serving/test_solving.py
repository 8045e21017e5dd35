"""The solve contract and the OpenAI request shapes: validation and combining, without Ray."""

from __future__ import annotations

import pydantic
import pytest

from distillery.core.generation import cut_at_stop
from distillery.serving.config import Autoscaling, ServeConfig
from distillery.serving.openai_api import ChatRequest, CompletionRequest
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
    ({"question": "q", "temperature": 0.5}, "temperature: Extra inputs are not permitted"),
    ({}, "question: Field required"),
])
def test_bad_solve_requests_name_the_field(payload, names):
    assert names in _message(SolveRequest, payload)


def _thought(kind, answer, status="ok"):
    return ThoughtResult(type=kind, text="...", answer=answer if status == "ok" else None, status=status)


def test_vote_takes_the_majority_and_breaks_ties_pot_eot_cot():
    majority = [_thought("eot", 5.0), _thought("pot", 7.0), _thought("cot", 5.0004)]
    assert combine("vote", majority) == (5.0, "eot")  # 5.0 and 5.0004 agree at 1e-3; eot outranks cot
    tie = [_thought("eot", 1.0), _thought("pot", 2.0), _thought("cot", 3.0)]
    assert combine("vote", tie) == (2.0, "pot")


def test_fallback_takes_the_first_executed_in_order():
    thoughts = [_thought("cot", 3.0), _thought("pot", 0, "exec_error"), _thought("eot", 4.0)]
    assert combine("fallback", thoughts) == (4.0, "eot")
    assert combine("vote", [_thought("pot", 0, "timeout")]) == (None, None)


def test_single_answers_only_from_its_one_method():
    assert combine("single", [_thought("cot", 12.0)]) == (12.0, "cot")
    assert combine("single", [_thought("pot", 0, "parse_error")]) == (None, None)


def test_openai_requests_refuse_what_is_not_supported():
    assert "streaming is not supported" in _message(CompletionRequest, {"prompt": "a", "stream": True})
    assert "n: Input should be less than or equal to 16" in _message(CompletionRequest, {"prompt": "a", "n": 17})
    assert "prompt" in _message(CompletionRequest, {"prompt": ["a", ""]})
    assert "messages.0.role" in _message(ChatRequest, {"messages": [{"role": "robot", "content": "hi"}]})
    request = CompletionRequest(prompt=["a", "b"], stop="\n", max_tokens=5, temperature=0, user="x")
    assert request.prompts() == ["a", "b"]
    sampling = request.sampling()
    assert sampling.stop == ("\n",) and sampling.max_new_tokens == 5 and sampling.temperature == 0


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
