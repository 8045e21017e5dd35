"""The model replicas: a student behind vLLM or HF, fed by Ray Serve's dynamic batching.

Every generation -- a greedy thought for ``/v1/solve``, its K sampled thoughts of one type, or an
OpenAI completion with its ``n`` choices -- is one job ``(prompt ids, Decoding)`` queued on the
replica's ``@serve.batch`` method, answered with ``Decoding.n`` completions. A batch of jobs
becomes one engine call per distinct sampling setting (greedy thoughts of one type share one; the
sampled thoughts of concurrent solves at one temperature share another): the HF engine expands
each prompt to its ``n`` rows (``num_return_sequences``), vLLM asks ``SamplingParams(n=...)``.
The engine runs in a worker thread so the replica keeps accepting requests, and the next batch
fills, while the current one generates.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from ray import serve

from distillery.student.generation import Completion, Decoding, encode_prompts, open_generator, thought_sampling
from distillery.student.model_refs import resolve_student
from distillery.student.thought_text import clean_thought
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
    """One model replica: the student behind its engine, fed by Serve's dynamic batching."""

    def __init__(self, config: ServeConfig) -> None:
        from transformers import AutoConfig

        from distillery.registry.client import RegistryClient

        with RegistryClient(config.registry, config.token.get_secret_value()) as registry:
            # An alias or a registry model only (never a path), asked for with the deploying team's
            # token before the node's cache is used; pulled once per node, sha256-checked.
            model_dir = resolve_student(config.model, registry, field="model").path
        self.context = min(getattr(AutoConfig.from_pretrained(model_dir), "max_position_embeddings", 2048),
                           MAX_CONTEXT)
        self.generator = open_generator(model_dir, config.backend, config.max_new_tokens,
                                        batch_size=config.max_batch_size, max_model_len=self.context)
        self.tokenizer = self.generator.tokenizer
        self.max_new_tokens = config.max_new_tokens
        self._generate.set_max_batch_size(config.max_batch_size)
        self._generate.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        self.metrics = ReplicaMetrics()

    def _thought_sampling(self, thought_type: str) -> Decoding:
        return thought_sampling(self.generator.token_caps.cap(thought_type, self.max_new_tokens))

    async def thought(self, question: str, thought_type: str) -> tuple[str, int]:
        """One greedy thought, as the student was trained to write it; with its token count."""
        ids = encode_prompts(self.tokenizer, [(question, thought_type)])[0]
        [completion] = await self._generate((tuple(ids), self._thought_sampling(thought_type)))
        return clean_thought(completion.text, thought_type), completion.output_tokens

    async def sampled_thoughts(self, question: str, thought_type: str, samples: int,
                               temperature: float) -> list[tuple[str, int]]:
        """``samples`` thoughts sampled at ``temperature`` (self-consistency); with their token counts."""
        ids = encode_prompts(self.tokenizer, [(question, thought_type)])[0]
        sampling = replace(self._thought_sampling(thought_type), temperature=temperature, n=samples)
        completions = await self._generate((tuple(ids), sampling))
        return [(clean_thought(c.text, thought_type), c.output_tokens) for c in completions]

    async def complete(self, sampling: Decoding, n: int = 1, prompt: str | None = None,
                       messages: list[dict] | None = None) -> CompletionResult:
        """``n`` continuations of a raw prompt, or of chat ``messages`` through the chat template."""
        if messages is not None:
            if not getattr(self.tokenizer, "chat_template", None):
                return CompletionResult([], 0, "this model has no chat template; use /v1/completions")
            prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        else:
            ids = self.tokenizer(prompt)["input_ids"]
        if len(ids) + sampling.max_new_tokens > self.context:
            return CompletionResult([], len(ids), f"prompt ({len(ids)} tokens) + max_tokens "
                                                  f"({sampling.max_new_tokens}) exceed the context ({self.context})")
        completions = await self._generate((tuple(ids), replace(sampling, n=n)))
        return CompletionResult(list(completions), len(ids))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.05)
    async def _generate(self, jobs: list[tuple[tuple[int, ...], Decoding]]) -> list[list[Completion]]:
        return await asyncio.to_thread(self._run, jobs)

    def _run(self, jobs: list[tuple[tuple[int, ...], Decoding]]) -> list[list[Completion]]:
        """Each job's ``n`` completions; one engine call per distinct sampling setting."""
        groups: dict[Decoding, list[int]] = {}
        for i, (_, sampling) in enumerate(jobs):
            groups.setdefault(sampling, []).append(i)
        results: list[list[Completion]] = [[] for _ in jobs]
        for sampling, indices in groups.items():
            completions = self.generator.complete([jobs[i][0] for i in indices], sampling)
            for k, i in enumerate(indices):
                results[i] = completions[k * sampling.n:(k + 1) * sampling.n]
        self.metrics.batch(sum(c.output_tokens for job in results for c in job))
        return results
