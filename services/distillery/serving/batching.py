"""The HF engine behind Ray Serve's dynamic batching: concurrent requests become one ``generate`` call.

``transformers``' ``generate`` runs a fixed batch from its first step to its longest row's last,
so requests cannot join a running batch: ``@serve.batch`` gathers up to ``max_batch_size`` jobs
``(prompt ids, Decoding)`` (waiting at most ``batch_wait_timeout_s`` for the batch to fill) and
runs one engine call per distinct sampling setting, in a worker thread so the replica keeps
accepting requests -- and the next batch fills -- while the current one generates. (vLLM has
continuous batching of its own: :class:`~distillery.student.async_engine.AsyncStudentEngine`,
with nothing of this in front of it.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from ray import serve

from distillery.student.async_engine import Delta
from distillery.student.generation import Completion, Decoding, StudentGenerator


class BatchedGenerator:
    """The async face of a synchronous generator: ``complete`` and ``stream`` like the async engine's."""

    def __init__(self, generator: StudentGenerator, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        self.generator = generator
        self.backend = generator.backend
        self.tokenizer = generator.tokenizer
        self.token_caps = generator.token_caps
        self._batch.set_max_batch_size(max_batch_size)
        self._batch.set_batch_wait_timeout_s(batch_wait_timeout_s)

    async def complete(self, ids: Sequence[int], sampling: Decoding) -> list[Completion]:
        return await self._batch((tuple(ids), sampling))

    async def stream(self, ids: Sequence[int], sampling: Decoding) -> AsyncIterator[list[Delta]]:
        """The whole text of each choice as one delta: a batched ``generate`` has nothing sooner."""
        completions = await self.complete(ids, sampling)
        yield [Delta(index=i, text=c.text, tokens=c.output_tokens, finish_reason=c.finish_reason)
               for i, c in enumerate(completions)]

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.05)
    async def _batch(self, jobs: list[tuple[tuple[int, ...], Decoding]]) -> list[list[Completion]]:
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
        return results

    def close(self) -> None:
        self.generator.close()
