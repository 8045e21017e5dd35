"""OpenAI-compatible request and response shapes (``/v1/completions``, ``/v1/chat/completions``,
``/v1/models``): plain generation with the served student, so the teacher service's ``openai``
backend -- or any OpenAI client -- can use it. Pure.

Supported: ``prompt`` (a string or a list of strings), ``messages`` (the tokenizer's chat
template), ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``n``, ``stream`` (server-sent
events as OpenAI sends them: ``data: {chunk}`` lines, then ``data: [DONE]``; with
``stream_options: {"include_usage": true}`` a last chunk with ``usage`` and no choices). ``seed``
is accepted and, as OpenAI documents it, best-effort: a sampled request shares a batch with
others, so it is not reproducible. Logprobs and tools are refused with a 400 naming the field.
Sizes are bounded by the deployment's ``Limits`` (validation context): ``max_tokens``, the
number of prompts and messages, and ``n`` x prompts -- each refusal names its limit.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from distillery.student.generation import Completion, Decoding
from distillery.serving.limits import at_most, limits_from

MAX_N = 16


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class _GenerationParams(BaseModel):
    # Unknown OpenAI fields (user, presence_penalty, ...) are ignored, as OpenAI-compatible servers do.
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: int = Field(16, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=MAX_N)
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: bool | int | None = None

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens(cls, value: int, info: ValidationInfo) -> int:
        return at_most(value, info, "max_tokens")

    def _check_choices(self, prompts: int, info: ValidationInfo) -> None:
        """Every prompt gets ``n`` completions: that product is what the replicas generate."""
        limit = limits_from(info).max_choices
        if self.n * prompts > limit:
            what = "n" if prompts == 1 else "n x prompts"
            raise ValueError(f"{what} is {self.n * prompts}; at most {limit} (max_choices)")

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value):
        if value:
            raise ValueError("logprobs are not supported")
        return value

    @field_validator("stop")
    @classmethod
    def _stops(cls, value):
        stops = [value] if isinstance(value, str) else list(value or [])
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError("up to 4 non-empty stop strings")
        return stops

    def sampling(self) -> Decoding:
        return Decoding(max_new_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                        stop=tuple(self.stop or ()))


class CompletionRequest(_GenerationParams):
    prompt: str | list[str]

    @field_validator("prompt")
    @classmethod
    def _prompts(cls, value, info: ValidationInfo):
        prompts = [value] if isinstance(value, str) else value
        limit = limits_from(info).max_prompts
        if len(prompts) > limit:
            raise ValueError(f"{len(prompts)} prompts; at most {limit} (max_prompts)")
        if not prompts or any(not p for p in prompts):
            raise ValueError("must be a non-empty string or a non-empty list of non-empty strings")
        return value

    @model_validator(mode="after")
    def _choices(self, info: ValidationInfo) -> "CompletionRequest":
        self._check_choices(len(self.prompts()), info)
        return self

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(_GenerationParams):
    messages: list[ChatMessage] = Field(min_length=1)

    @field_validator("messages")
    @classmethod
    def _messages(cls, value: list[ChatMessage], info: ValidationInfo) -> list[ChatMessage]:
        limit = limits_from(info).max_messages
        if len(value) > limit:
            raise ValueError(f"{len(value)} messages; at most {limit} (max_messages)")
        return value

    @model_validator(mode="after")
    def _choices(self, info: ValidationInfo) -> "ChatRequest":
        self._check_choices(1, info)
        return self


def _usage(prompt_tokens: int, completions: list[Completion]) -> dict:
    completion_tokens = sum(c.output_tokens for c in completions)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion_response(model: str, completions: list[Completion], prompt_tokens: int) -> dict:
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": i, "text": c.text, "finish_reason": c.finish_reason, "logprobs": None}
                        for i, c in enumerate(completions)],
            "usage": _usage(prompt_tokens, completions)}


def chat_response(model: str, completions: list[Completion], prompt_tokens: int) -> dict:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": c.text},
                         "finish_reason": c.finish_reason} for i, c in enumerate(completions)],
            "usage": _usage(prompt_tokens, completions)}


SSE_DONE = b"data: [DONE]\n\n"


def sse(payload: dict) -> bytes:
    """One server-sent event, as OpenAI streams its chunks."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


@dataclass
class ChunkWriter:
    """The chunks of one streamed completion (``text_completion``) or chat completion
    (``chat.completion.chunk``: each choice's first delta carries the assistant role)."""

    model: str
    chat: bool
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))
    _started: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.id = self.id or f"{'chatcmpl' if self.chat else 'cmpl'}-{uuid.uuid4().hex}"

    def _chunk(self, choices: list[dict], **extra) -> bytes:
        return sse({"id": self.id, "object": "chat.completion.chunk" if self.chat else "text_completion",
                    "created": self.created, "model": self.model, "choices": choices, **extra})

    def delta(self, index: int, text: str, finish_reason: str | None) -> bytes:
        if not self.chat:
            return self._chunk([{"index": index, "text": text, "finish_reason": finish_reason, "logprobs": None}])
        delta = {"content": text}
        if index not in self._started:
            self._started.add(index)
            delta = {"role": "assistant", **delta}
        return self._chunk([{"index": index, "delta": delta, "finish_reason": finish_reason}])

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return self._chunk([], usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                      "total_tokens": prompt_tokens + completion_tokens})


def models_response(model: str, owner: str, created: int) -> dict:
    return {"object": "list", "data": [{"id": model, "object": "model", "created": created, "owned_by": owner}]}


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict:
    """OpenAI's error shape (clients read ``error.message``)."""
    return {"error": {"message": message, "type": kind, "code": code}}
