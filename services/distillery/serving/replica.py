"""The model replicas: a student behind its engine, every request handed to it as it comes.

Every generation -- a greedy thought for ``/v1/solve``, the K sampled thoughts of one type, or an
OpenAI completion with its ``n`` choices -- is one engine request ``(prompt ids, Decoding)``
answered with ``Decoding.n`` completions (or streamed as :class:`~distillery.student.async_engine.Delta` s).

* vLLM (:class:`~distillery.student.async_engine.AsyncStudentEngine`): the async engine on the
  replica's event loop. A request enters the engine's running batch at its next step, whatever
  else is in flight (continuous batching); nothing batches or waits in front of it.
* HF (:class:`~distillery.serving.batching.BatchedGenerator`): ``generate`` cannot take requests
  into a running batch, so Ray Serve's ``@serve.batch`` gathers concurrent ones into one call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from ray import serve

from distillery.student.async_engine import AsyncStudentEngine, Delta
from distillery.student.generation import (Completion, Decoding, HFGenerator, choose_backend, encode_prompts,
                                           is_encoder_decoder, thought_sampling, vllm_available)
from distillery.student.model_refs import resolve_student
from distillery.student.thought_text import clean_thought
from distillery.serving.batching import BatchedGenerator
from distillery.serving.config import ServeConfig
from distillery.serving.metrics import ReplicaMetrics

MAX_CONTEXT = 4096  # the longest prompt + completion a replica accepts


@dataclass(frozen=True)
class CompletionResult:
    completions: list[Completion]
    prompt_tokens: int
    error: str | None = None  # a request this model cannot take (too long): the caller's 400


@serve.deployment(name="StudentReplica")
class StudentReplica:
    """One model replica: the student behind vLLM's async engine, or HF behind Serve's batching."""

    def __init__(self, config: ServeConfig) -> None:
        from transformers import AutoConfig

        from distillery.registry.client import RegistryClient

        with RegistryClient(config.registry, config.token.get_secret_value()) as registry:
            # An alias or a registry model only (never a path), asked for with the deploying team's
            # token before the node's cache is used; pulled once per node, sha256-checked.
            model_dir = resolve_student(config.model, registry, field="model").path
        self.context = min(getattr(AutoConfig.from_pretrained(model_dir), "max_position_embeddings", 2048),
                           MAX_CONTEXT)
        self.metrics = ReplicaMetrics()
        if choose_backend(config.backend, is_encoder_decoder(model_dir), vllm_available()) == "vllm":
            self.engine = AsyncStudentEngine(model_dir, config.max_new_tokens, max_model_len=self.context,
                                             on_load=self.metrics.engine_load)
        else:
            self.engine = BatchedGenerator(HFGenerator(model_dir, config.max_new_tokens, config.max_batch_size),
                                           config.max_batch_size, config.batch_wait_timeout_s)
        self.tokenizer = self.engine.tokenizer
        self.max_new_tokens = config.max_new_tokens

    def _thought_sampling(self, thought_type: str) -> Decoding:
        return thought_sampling(self.engine.token_caps.cap(thought_type, self.max_new_tokens))

    async def _generate(self, ids, sampling: Decoding) -> list[Completion]:
        completions = await self.engine.complete(ids, sampling)
        self.metrics.tokens(sum(c.output_tokens for c in completions))
        return completions

    async def thought(self, question: str, thought_type: str) -> tuple[str, int]:
        """One greedy thought, as the student was trained to write it; with its token count."""
        ids = encode_prompts(self.tokenizer, [(question, thought_type)])[0]
        [completion] = await self._generate(ids, self._thought_sampling(thought_type))
        return clean_thought(completion.text, thought_type), completion.output_tokens

    async def sampled_thoughts(self, question: str, thought_type: str, samples: int,
                               temperature: float) -> list[tuple[str, int]]:
        """``samples`` thoughts sampled at ``temperature`` (self-consistency); with their token counts."""
        ids = encode_prompts(self.tokenizer, [(question, thought_type)])[0]
        sampling = replace(self._thought_sampling(thought_type), temperature=temperature, n=samples)
        completions = await self._generate(ids, sampling)
        return [(clean_thought(c.text, thought_type), c.output_tokens) for c in completions]

    def _prompt(self, sampling: Decoding, prompt: str | None, messages: list[dict] | None
                ) -> tuple[list[int], str | None]:
        """The prompt's token ids -- a raw prompt, or chat ``messages`` through the chat template --
        and why the model cannot take it (None when it can)."""
        if messages is not None:
            if not getattr(self.tokenizer, "chat_template", None):
                return [], "this model has no chat template; use /v1/completions"
            prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        else:
            ids = self.tokenizer(prompt)["input_ids"]
        if len(ids) + sampling.max_new_tokens > self.context:
            return ids, (f"prompt ({len(ids)} tokens) + max_tokens ({sampling.max_new_tokens}) exceed the "
                         f"context ({self.context})")
        return ids, None

    async def complete(self, sampling: Decoding, n: int = 1, prompt: str | None = None,
                       messages: list[dict] | None = None) -> CompletionResult:
        """``n`` continuations of a raw prompt, or of chat ``messages`` through the chat template."""
        ids, error = self._prompt(sampling, prompt, messages)
        if error:
            return CompletionResult([], len(ids), error)
        return CompletionResult(await self._generate(ids, replace(sampling, n=n)), len(ids))

    async def stream_complete(self, sampling: Decoding, n: int = 1, prompt: str | None = None,
                              messages: list[dict] | None = None) -> AsyncIterator[CompletionResult | list[Delta]]:
        """:meth:`complete` as it generates: first a :class:`CompletionResult` without completions
        (the prompt's size, or why it cannot be generated -- then nothing follows), then the
        choices' deltas as the engine produces them."""
        ids, error = self._prompt(sampling, prompt, messages)
        yield CompletionResult([], len(ids), error)
        if error:
            return
        async for deltas in self.engine.stream(ids, replace(sampling, n=n)):
            self.metrics.tokens(sum(d.tokens for d in deltas))
            yield deltas

    async def check_health(self) -> None:
        """Ray Serve's periodic probe: a replica whose engine died is replaced."""
        if isinstance(self.engine, AsyncStudentEngine):
            await self.engine.check_health()

    def __del__(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.close()
