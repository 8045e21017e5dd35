"""How many tokens a training batch may hold on this device, and a clear error when it did not fit.

A fixed default cannot be right everywhere: 8192 padded tokens of SmolLM2-135M take ~17 GiB
on a CPU worker (activations, and logits over a 49k vocabulary in float32 with their
gradients), so two workers on a 24 GiB laptop were killed by Ray's OOM killer, while an
H200 idles at that size. When ``batch_tokens`` is not set, the batch is sized from the
memory the worker finds free when it starts (a container's cgroup limit and ``ulimit -v``
count) and the
per-token cost of the model, measured on CPU with ``benchmarks/trainer_memory.py``:

    bytes per token ~= layers * hidden * ACTIVATION_FLOATS * 4 + vocab * LOGIT_FLOATS * 4

The choice is reported in the job's metrics (``batch_tokens``, ``batch_tokens_source``,
``memory_gib``).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

import torch

GIB = 1 << 30
# Fitted to peak-RSS measurements of one SmolLM2-135M step (benchmarks/trainer_memory.py).
ACTIVATION_FLOATS = 18  # saved activations per layer and hidden unit, forward + backward (at 512 tokens)
LOGIT_FLOATS = 5  # logits, their float32 copy, log-softmax and the gradients of each
USABLE_SHARE = 0.6  # of the free memory: the allocator's fragmentation, the data, the other ranks' spikes
TOKENS_BOUNDS = {"cpu": (256, 8192), "cuda": (1024, 65536)}


class TrainingOutOfMemory(RuntimeError):
    """A step did not fit: the message names the knob and the memory the worker saw."""


@dataclass(frozen=True)
class BatchSize:
    tokens: int
    source: str  # "config" (the job set it) or "auto (...)" with the arithmetic
    free_bytes: int  # memory this worker could use when it started

    def metrics(self) -> dict:
        return {"batch_tokens": self.tokens, "batch_tokens_source": self.source,
                "memory_gib": round(self.free_bytes / GIB, 2)}

    def out_of_memory(self, error: BaseException) -> TrainingOutOfMemory:
        return TrainingOutOfMemory(
            f"out of memory at {self.tokens} tokens per batch ({self.source}; this worker saw "
            f"{self.free_bytes / GIB:.1f} GiB free when it started): lower --batch-tokens (or --max-length, or "
            f"run fewer --workers per machine) [{type(error).__name__}: {str(error).splitlines()[0][:200]}]")


def is_out_of_memory(error: BaseException) -> bool:
    """torch's CUDA OOM, or the CPU allocator's refusal (which torch raises as a RuntimeError)."""
    text = str(error)
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in text or \
        "not enough memory" in text


def free_memory(device: torch.device) -> int:
    """Bytes this process could still allocate on ``device``."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return min(_meminfo_available(), _cgroup_headroom(), _address_space_headroom())


def _meminfo_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/meminfo has no MemAvailable")


def _address_space_headroom() -> int:
    """What ``ulimit -v`` (RLIMIT_AS) still allows this process to map."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return 1 << 62
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return max(limit - int(line.split()[1]) * 1024, 0)
    return limit


def _cgroup_headroom() -> int:
    """A container's limit minus its usage (cgroup v2, then v1); unlimited when neither applies."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = Path("/sys/fs/cgroup", limit_file).read_text().strip()
            usage = int(Path("/sys/fs/cgroup", usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < (1 << 60):
            return max(int(limit) - usage, 0)
    return 1 << 62


def bytes_per_token(model: torch.nn.Module) -> int:
    config = getattr(model, "config", None)
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "num_layers", 12)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", 768)
    vocab = getattr(config, "vocab_size", 32000)
    return 4 * (layers * hidden * ACTIVATION_FLOATS + vocab * LOGIT_FLOATS)


def model_state_bytes(model: torch.nn.Module) -> int:
    """Weights, plus a gradient and AdamW's two moments for every trainable weight (float32)."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total + trainable * 4 * 3


def choose_batch_tokens(config, model: torch.nn.Module, device: torch.device, workers_sharing: int = 1) -> BatchSize:
    """``config.batch_tokens`` when set; otherwise what fits in this worker's share of free memory.

    The weights are already loaded when this runs, so only the optimizer state that is still to
    come (gradients and moments) is taken off the free memory."""
    free = free_memory(device) // max(workers_sharing, 1)
    if config.batch_tokens is not None:
        return BatchSize(config.batch_tokens, "config", free)
    low, high = TOKENS_BOUNDS.get(device.type, TOKENS_BOUNDS["cpu"])
    still_to_come = model_state_bytes(model) - sum(p.numel() * p.element_size() for p in model.parameters())
    budget = max(free * USABLE_SHARE - still_to_come, 0)
    per_token = bytes_per_token(model)
    fits = int(budget // per_token)
    tokens = max(low, min(high, fits // 512 * 512))  # whole 512s: stable across small changes in free memory
    tokens = max(tokens, config.max_length)  # one longest example must fit in a batch
    source = (f"auto ({free / GIB:.1f} GiB free for this worker x {USABLE_SHARE} at {per_token / (1 << 20):.2f} "
              f"MiB/token, bounds {low}-{high})")
    return BatchSize(tokens, source, free)
