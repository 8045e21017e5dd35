"""Teacher generation throughput: the vLLM backend vs the HF backend, same model, prompts, machine.

    .venv/bin/python benchmarks/teacher_throughput.py [--problems 32] [--max-tokens 128]

SmolLM2-135M-Instruct, the 8-shot PoT chat prompts for the first N GSM8K-train problems, one
batch of N (>= 32), sampling at temperature 0.7. Output tokens per second of generation,
engine start-up excluded (reported separately). Goal: vLLM >= 3x HF.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import SHARED_DATA, machine

from distillery.registry.benchmarks import load_benchmark
from distillery.teacher.backends.base import GenerationRequest
from distillery.teacher.config import Sampling


def measure(make_backend, requests, sampling) -> dict:
    started = time.perf_counter()
    backend = make_backend()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    generations = backend.generate(requests, sampling)
    elapsed = time.perf_counter() - started
    tokens = sum(g.output_tokens for g in generations)
    backend.close()
    return {"load_s": round(load_s, 1), "generate_s": round(elapsed, 1), "output_tokens": tokens,
            "tokens_per_s": round(tokens / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    problems = load_benchmark("gsm8k-train", SHARED_DATA).rows[: args.problems]
    requests = [GenerationRequest(p, "pot", 1) for p in problems]
    sampling = Sampling(temperature=0.7, top_p=0.95, max_tokens=args.max_tokens, seed=0)

    from distillery.teacher.backends.vllm_engine import VLLMBackend

    vllm = measure(lambda: VLLMBackend("smollm2-135m-instruct"), requests, sampling)

    from distillery.teacher.backends.hf import HFBackend

    hf = measure(lambda: HFBackend("smollm2-135m-instruct", batch_size=len(requests)), requests, sampling)
    print(json.dumps({"benchmark": "teacher_throughput", "machine": machine(), "model": "smollm2-135m-instruct",
                      "batch": len(requests), "max_tokens": args.max_tokens, "prompt": "8-shot PoT chat",
                      "vllm": vllm, "hf": hf, "speedup": round(vllm["tokens_per_s"] / hf["tokens_per_s"], 2)},
                     indent=2))


if __name__ == "__main__":  # vLLM spawns worker processes
    main()
