"""The solve call: what a caller may ask, what comes back, and how thoughts become one answer.

Pure: no Ray, no gRPC. The ingress validates a request into :class:`SolveRequest`, asks the
model replicas for the thoughts, has the verifier run them, and builds the reply with
:func:`combine`.

Self-consistency: ``samples`` K asks for K sampled thoughts (``temperature``) per method besides
the greedy one; the strategies then count every executed thought, greedy and sampled (a majority
over answers rounded to 1e-3, ties PoT > EoT > CoT, then greedy before samples). Without samples
they are the paper's: one thought per method.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from distillery.student.ensemble import PREFERENCE, majority
from distillery.student.thought_text import THOUGHT_TYPES
from distillery.serving.limits import DEFAULT_LIMITS, at_most, limits_from

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
    samples: int = Field(0, ge=0, description="Sampled thoughts per method besides the greedy one "
                                              "(self-consistency); at most max_solve_samples.")
    temperature: float = Field(0.7, gt=0, le=2, description="Of the sampled thoughts.")

    @field_validator("samples")
    @classmethod
    def _samples(cls, value: int, info: ValidationInfo) -> int:
        return at_most(value, info, "max_solve_samples")

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
    sample: int = -1  # -1: the greedy thought; 0..samples-1: a sampled one


class SolveResponse(BaseModel):
    answer: float | None
    method: Method | None
    thoughts: list[ThoughtResult]
    latency_ms: float
    model: str


def combine(strategy: Strategy, thoughts: list[ThoughtResult]) -> tuple[float | None, str | None]:
    """The answer and the thought type it came from; ``(None, None)`` when nothing executed.

    ``vote``: the majority over every executed thought. ``fallback``: the first type in PoT > EoT
    > CoT with an executed thought, then the majority of that type's. ``single``: the majority of
    the first thought's type (with one thought per type: that thought, if it executed).
    """
    executed = [t for t in thoughts if t.status == "ok" and t.answer is not None]
    if strategy == "fallback":
        first = next((p for p in PREFERENCE if any(t.type == p for t in executed)), None)
        executed = [t for t in executed if t.type == first]
    elif strategy == "single":
        executed = [t for t in executed if thoughts and t.type == thoughts[0].type]
    # Greedy thoughts before sampled ones: a tie between equally reliable types goes to greedy.
    executed.sort(key=lambda t: t.sample < 0, reverse=True)
    winner = majority([(t.type, t.answer) for t in executed])
    return (None, None) if winner is None else (executed[winner].answer, executed[winner].type)
