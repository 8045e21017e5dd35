"""How every in-process vLLM engine (teacher, evaluation, serving) is configured per platform, and
what the student engines (offline and async) ask of it and read back from it."""

from __future__ import annotations

import os
from collections.abc import Sequence

# On CPU vLLM reserves a share of RAM for its KV cache; keep it modest on shared machines.
CPU_KV_CACHE_BYTES = int(os.environ.get("DISTILLERY_VLLM_CPU_KV_CACHE_BYTES", 1 << 30))


def engine_options(on_gpu: bool) -> dict:
    """Extra ``vllm.LLM`` arguments: none on a GPU; on CPU eager mode (start-up ~30 s instead of
    minutes of graph compilation), float32, and a fixed KV cache."""
    if on_gpu:
        return {}
    return {"enforce_eager": True, "dtype": "float32", "gpu_memory_utilization": 0.3,
            "kv_cache_memory_bytes": CPU_KV_CACHE_BYTES}


def default_max_model_len(max_new_tokens: int) -> int:
    """Room for a long question (GSM8K's longest is ~250 tokens) plus the thought."""
    return max_new_tokens + 1024


def sampling_params(sampling, eos: int | None, **extra):
    """``vllm.SamplingParams`` for a student's ``Decoding`` (``n``, temperature, top_p, a seed only
    when sampling, the stop strings and the trained EOS); ``extra``: e.g. ``output_kind``."""
    from vllm import SamplingParams

    return SamplingParams(n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                          seed=sampling.seed if sampling.temperature > 0 else None,
                          max_tokens=sampling.max_new_tokens, stop=list(sampling.stop) or None,
                          stop_token_ids=[eos] if eos is not None else None, **extra)


def generated_tokens(token_ids: Sequence[int], eos: int | None, finished: bool = True) -> int:
    """Tokens a choice generated, its closing EOS not counted (as every generator counts them)."""
    return len(token_ids) - (1 if finished and token_ids and token_ids[-1] == eos else 0)


def finish_reason(reason: str | None) -> str | None:
    """vLLM's reason as OpenAI names it: ``length``, else ``stop`` (EOS, a stop string, an abort)."""
    if reason is None:
        return None
    return "length" if reason == "length" else "stop"
