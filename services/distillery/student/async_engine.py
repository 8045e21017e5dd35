"""The student behind vLLM's async engine (``AsyncLLM``): continuous batching for a server.

Every call is one engine request, added the moment it arrives: the engine's scheduler keeps every
in-flight request in its running batch and admits new ones at the next step, so nothing waits for
a batch to fill or for another batch to end (what a fixed-size batch around the synchronous
``LLM.generate`` did). The engine runs in its own process (vLLM's engine core); this object lives
on the caller's event loop -- a Ray Serve replica's.

:meth:`AsyncStudentEngine.complete` answers with the finished :class:`Completion` s (vLLM's
``FINAL_ONLY``: no per-token messages); :meth:`AsyncStudentEngine.stream` yields the text as it
is generated (``DELTA``), for streaming routes. :class:`EngineLoad` is the scheduler's own view --
requests running and waiting, KV-cache use -- recorded at every engine step through a vLLM stat
logger.

Engine settings are every in-process engine's (:func:`~distillery.student.vllm_options.engine_options`),
with the scheduler defaults vLLM's own OpenAI server takes (``UsageContext.OPENAI_API_SERVER``),
so a served student schedules as ``vllm serve`` would. vLLM's log lines go to a file
(:mod:`~distillery.student.engine_logs`), as for the offline engine.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from distillery.student.engine_logs import engine_output_to, route_engine_logs
from distillery.student.generation import Completion, Decoding, ThoughtTokenCaps
from distillery.student.vllm_options import (default_max_model_len, engine_options, finish_reason,
                                              generated_tokens, sampling_params)


@dataclass(frozen=True)
class Delta:
    """New text of one choice of a streamed request: ``tokens`` generated since the last delta
    (EOS not counted); ``finish_reason`` on the choice's last delta."""

    index: int
    text: str
    tokens: int
    finish_reason: str | None = None


@dataclass
class EngineLoad:
    """The scheduler's last reported state, and the most requests it ever ran at once."""

    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0  # 0..1 of the KV-cache blocks in use
    peak_running: int = 0

    def update(self, running: int, waiting: int, kv_cache_usage: float) -> None:
        self.running, self.waiting, self.kv_cache_usage = running, waiting, kv_cache_usage
        self.peak_running = max(self.peak_running, running)


class AsyncStudentEngine:
    """A causal student in vLLM's ``AsyncLLM``; call it from one event loop."""

    backend = "vllm"

    def __init__(self, model_dir: str | Path, max_new_tokens: int = 320, max_model_len: int | None = None,
                 token_caps: ThoughtTokenCaps | None = None,
                 on_load: Callable[[EngineLoad], None] | None = None) -> None:
        import torch

        self.log_file = route_engine_logs(os.environ.get("DISTILLERY_VERBOSE") == "1", "vllm")  # before the import
        self.load = EngineLoad()
        self._on_load = on_load
        with engine_output_to(self.log_file):
            from vllm import AsyncEngineArgs
            from vllm.usage.usage_lib import UsageContext
            from vllm.v1.engine.async_llm import AsyncLLM

            args = AsyncEngineArgs(model=str(model_dir),
                                   max_model_len=max_model_len or default_max_model_len(max_new_tokens),
                                   seed=0, **engine_options(torch.cuda.is_available()))
            self.engine = AsyncLLM.from_engine_args(args, usage_context=UsageContext.OPENAI_API_SERVER,
                                                    stat_loggers=[self._stat_logger])
        self.tokenizer = self.engine.get_tokenizer()
        self.eos = self.tokenizer.eos_token_id
        self.max_new_tokens = max_new_tokens
        self.token_caps = token_caps or ThoughtTokenCaps()

    def _stat_logger(self, vllm_config, engine_index: int = 0):
        """A vLLM stat logger (its factory signature) that keeps the scheduler's numbers in ``self.load``."""
        from vllm.v1.metrics.loggers import StatLoggerBase

        engine = self

        class LoadRecorder(StatLoggerBase):
            def __init__(self, *_) -> None:
                pass

            def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx: int = 0) -> None:
                if scheduler_stats is None:
                    return
                engine.load.update(scheduler_stats.num_running_reqs, scheduler_stats.num_waiting_reqs,
                                   scheduler_stats.kv_cache_usage)
                if engine._on_load is not None:
                    engine._on_load(engine.load)

            def log_engine_initialized(self) -> None:
                pass

        return LoadRecorder()

    def _params(self, sampling: Decoding, streamed: bool):
        from vllm.sampling_params import RequestOutputKind

        return sampling_params(sampling, self.eos, output_kind=RequestOutputKind.DELTA if streamed
                               else RequestOutputKind.FINAL_ONLY)

    def _requests(self, ids: Sequence[int], sampling: Decoding, streamed: bool):
        from vllm.inputs import TokensPrompt

        return self.engine.generate(TokensPrompt(prompt_token_ids=list(ids)), self._params(sampling, streamed),
                                    request_id=uuid.uuid4().hex)

    async def complete(self, ids: Sequence[int], sampling: Decoding) -> list[Completion]:
        """``sampling.n`` continuations of one token-id prompt, in choice order."""
        if sampling.temperature <= 0 and sampling.n > 1:  # n greedy continuations are one continuation n times
            return (await self.complete(ids, replace(sampling, n=1))) * sampling.n
        final = None
        async for output in self._requests(ids, sampling, streamed=False):
            final = output
        return [Completion(text=c.text,  # vLLM already cut the stop string
                           output_tokens=generated_tokens(c.token_ids, self.eos),
                           finish_reason=finish_reason(c.finish_reason) or "stop")
                for c in sorted(final.outputs, key=lambda c: c.index)]

    async def stream(self, ids: Sequence[int], sampling: Decoding) -> AsyncIterator[list[Delta]]:
        """The choices' new text after each engine step that produced some (a choice's last delta
        carries its finish reason). Closing the iterator early aborts the request in the engine."""
        copies = 1
        if sampling.temperature <= 0 and sampling.n > 1:
            copies, sampling = sampling.n, replace(sampling, n=1)
        async for output in self._requests(ids, sampling, streamed=True):
            deltas = [Delta(index=c.index, text=c.text, finish_reason=finish_reason(c.finish_reason),
                            tokens=generated_tokens(c.token_ids, self.eos, c.finish_reason is not None))
                      for c in output.outputs if c.text or c.token_ids or c.finish_reason is not None]
            if deltas:
                yield [replace(d, index=copy) for d in deltas for copy in range(copies)] if copies > 1 else deltas

    async def check_health(self) -> None:
        """Raises when the engine core has died (its process killed, an error in a step)."""
        await self.engine.check_health()

    def close(self) -> None:
        """Stop the engine-core process now: left to the garbage collector it can outlive the replica."""
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.shutdown()
