"""OpenAI-compatible request and response shapes (``/v1/completions``, ``/v1/chat/completions``,
``/v1/models``): plain generation with the served student, so the teacher service's ``openai``
backend -- or any OpenAI client -- can use it. Pure.

Supported: ``prompt`` (a string or a list of strings), ``messages`` (the tokenizer's chat
template), ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``n``. ``seed`` is accepted
and, as OpenAI documents it, best-effort: a sampled request shares a batch with others, so it
is not reproducible. Streaming, logprobs and tools are refused with a 400 naming the field.
"""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from distillery.core.generation import Completion, Sampling

MAX_TOKENS = 2048
MAX_N = 16


class _GenerationParams(BaseModel):
    # Unknown OpenAI fields (user, presence_penalty, ...) are ignored, as OpenAI-compatible servers do.
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: int = Field(16, ge=1, le=MAX_TOKENS)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=MAX_N)
    seed: int | None = None
    stream: bool = False
    logprobs: bool | int | None = None

    @field_validator("stream")
    @classmethod
    def _no_stream(cls, value: bool) -> bool:
        if value:
            raise ValueError("streaming is not supported; send stream=false")
        return value

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

    def sampling(self, max_new_tokens_cap: int = MAX_TOKENS) -> Sampling:
        return Sampling(max_new_tokens=min(self.max_tokens, max_new_tokens_cap), temperature=self.temperature,
                        top_p=self.top_p, stop=tuple(self.stop or ()))


class CompletionRequest(_GenerationParams):
    prompt: str | list[str]

    @field_validator("prompt")
    @classmethod
    def _prompts(cls, value):
        prompts = [value] if isinstance(value, str) else value
        if not prompts or any(not p for p in prompts):
            raise ValueError("must be a non-empty string or a non-empty list of non-empty strings")
        return value

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(_GenerationParams):
    messages: list[ChatMessage] = Field(min_length=1)


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


def models_response(model: str, owner: str, created: int) -> dict:
    return {"object": "list", "data": [{"id": model, "object": "model", "created": created, "owned_by": owner}]}


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict:
    """OpenAI's error shape (clients read ``error.message``)."""
    return {"error": {"message": message, "type": kind, "code": code}}
