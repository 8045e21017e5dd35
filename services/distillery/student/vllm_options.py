"""How every in-process vLLM engine (teacher, evaluation, serving) is configured per platform."""

from __future__ import annotations

import os

# On CPU vLLM reserves a share of RAM for its KV cache; keep it modest on shared machines.
CPU_KV_CACHE_BYTES = int(os.environ.get("DISTILLERY_VLLM_CPU_KV_CACHE_BYTES", 1 << 30))


def engine_options(on_gpu: bool) -> dict:
    """Extra ``vllm.LLM`` arguments: none on a GPU; on CPU eager mode (start-up ~30 s instead of
    minutes of graph compilation), float32, and a fixed KV cache."""
    if on_gpu:
        return {}
    return {"enforce_eager": True, "dtype": "float32", "gpu_memory_utilization": 0.3,
            "kv_cache_memory_bytes": CPU_KV_CACHE_BYTES}
