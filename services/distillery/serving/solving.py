"""The solve call: what a caller may ask, what comes back, and how thoughts become one answer.

Pure: no Ray, no gRPC. The ingress validates a request into :class:`SolveRequest`, asks the
model replicas for the thoughts, has the verifier run them, and builds the reply with
:func:`combine`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from distillery.core.ensemble import fallback, vote
from distillery.core.thought_text import THOUGHT_TYPES
from distillery.serving.limits import DEFAULT_LIMITS, limits_from

MAX_QUESTION_CHARS = DEFAULT_LIMITS.max_question_chars  # a deployment sets its own (Limits.max_question_chars)
Method = Literal["eot", "pot", "cot"]
Strategy = Literal["vote", "fallback", "single"]


class SolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="A math word problem.")
    methods: list[Method] = Field(default_factory=lambda: list(THOUGHT_TYPES),
                                  description="Thought types to generate; default all three.")
    strategy: Strategy = Field("vote", description="vote: majority over executed answers (ties PoT>EoT>CoT); "
                                                   "fallback: first executed in PoT>EoT>CoT; single: one method.")

    @field_validator("question")
    @classmethod
    def _question(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        limit = limits_from(info).max_question_chars
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters; at most {limit} (max_question_chars)")
        return value

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one of eot, pot, cot")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _single_needs_one(self) -> "SolveRequest":
        if self.strategy == "single" and len(self.methods) != 1:
            raise ValueError(f"strategy 'single' takes exactly one method, got {len(self.methods)}")
        return self


class ThoughtResult(BaseModel):
    type: Method
    text: str
    answer: float | None
    status: str  # the verifier's: ok, no_answer, parse_error, exec_error, timeout, resource_limit, unsafe
    error: str | None = None


class SolveResponse(BaseModel):
    answer: float | None
    method: Method | None
    thoughts: list[ThoughtResult]
    latency_ms: float
    model: str


def combine(strategy: Strategy, thoughts: list[ThoughtResult]) -> tuple[float | None, str | None]:
    """The answer and the thought type it came from; ``(None, None)`` when nothing executed."""
    answers = {t.type: t.answer for t in thoughts if t.status == "ok" and t.answer is not None}
    if strategy == "vote":
        method = vote(answers)
    elif strategy == "fallback":
        method = fallback(answers)
    else:
        method = thoughts[0].type if thoughts and thoughts[0].type in answers else None
    return (answers[method], method) if method else (None, None)
