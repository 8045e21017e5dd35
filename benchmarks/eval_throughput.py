"""Eval generation throughput: the vLLM engine against batched HF ``generate``, same student, same problems.

One greedy thought per problem and thought type (the ``distillery eval`` workload), and with
``--samples K`` K sampled ones too, timed after the engine is loaded; every thought is then
verified in-process so the two engines' accuracies can be compared too (greedy decoding should
give the same thoughts, up to float noise). Reports thoughts/s (greedy and sampled together).

    .venv/bin/python benchmarks/eval_throughput.py [--problems 24] [--max-new-tokens 256] [--backends hf,vllm]
        [--batch-size 24] [--batch-tokens N] [--samples K] [--temperature 0.7]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SHARED_DATA, machine  # noqa: E402

from distillery.student.models import resolve_model  # noqa: E402
from distillery.student.thought_text import THOUGHT_TYPES  # noqa: E402
from distillery.student.generation import HFGenerator, VLLMGenerator  # noqa: E402
from distillery.evaluation.harness import evaluate  # noqa: E402
from distillery.registry.benchmarks import load_benchmark  # noqa: E402
from distillery.verifier.verifier import Verifier  # noqa: E402


def run(backend: str, model_dir: Path, problems: list[dict], max_new_tokens: int, batch_size: int,
        batch_tokens: int | None = None, samples: int = 0, temperature: float = 0.7) -> tuple[dict, list]:
    started = time.perf_counter()
    generator = (VLLMGenerator(model_dir, max_new_tokens) if backend == "vllm"
                 else HFGenerator(model_dir, max_new_tokens, batch_size, batch_tokens=batch_tokens))
    load_s = time.perf_counter() - started
    with Verifier() as verifier:
        evaluation = evaluate(generator, {"gsm8k": problems}, ["cot", "pot", "eot", "etd"], verifier.verify_many,
                              samples=samples, temperature=temperature)
    generator.close()
    generated = evaluation.generated
    return {"backend": backend, "samples": samples, "load_s": round(load_s, 1),
            "generate_s": round(generated.seconds, 1),
            "problems_per_s": round(evaluation.problems / generated.seconds, 3),
            "thoughts_per_s": round(len(generated.thoughts) / generated.seconds, 3),
            "output_tokens": generated.tokens, "tokens_per_s": round(generated.tokens / generated.seconds, 1),
            "accuracy": {r.method: f"{r.correct}/{r.total}" for r in evaluation.results}}, generated.thoughts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--problems", type=int, default=24, help="First N GSM8K-test problems.")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=24, help="HF backend.")
    parser.add_argument("--batch-tokens", type=int, default=None, help="HF backend: padded tokens per call.")
    parser.add_argument("--samples", type=int, default=0, help="Also K sampled thoughts per problem and type.")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--backends", default="hf,vllm")
    args = parser.parse_args()

    import torch

    model_dir = resolve_model(args.model)
    problems = load_benchmark("gsm8k-test", SHARED_DATA).rows[: args.problems]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({machine()})"
    load = os.getloadavg()[0]
    print(f"machine: {machine()}; device: {device}; torch threads: {torch.get_num_threads()}; load average {load:.2f}")
    sampled = f" + {args.samples} samples at temperature {args.temperature}" if args.samples else ""
    print(f"workload: {args.model}, {len(problems)} GSM8K-test problems x {len(THOUGHT_TYPES)} thought types, "
          f"greedy{sampled}, max_new_tokens={args.max_new_tokens}")
    results, thoughts = [], {}
    for backend in args.backends.split(","):
        result, thoughts[backend] = run(backend, model_dir, problems, args.max_new_tokens, args.batch_size,
                                        args.batch_tokens, args.samples, args.temperature)
        print(json.dumps(result), flush=True)
        results.append(result)
    summary = {"machine": machine(), "device": device, "load_average_at_start": round(load, 2), "model": args.model,
               "problems": len(problems), "thoughts": len(problems) * len(THOUGHT_TYPES) * (1 + args.samples),
               "max_new_tokens": args.max_new_tokens, "results": results}
    if {"hf", "vllm"} <= thoughts.keys():
        hf, vllm = (next(r for r in results if r["backend"] == b) for b in ("hf", "vllm"))
        summary["vllm_speedup"] = round(vllm["problems_per_s"] / hf["problems_per_s"], 2)
        summary["identical_thoughts"] = sum(a == b for a, b in zip(thoughts["hf"], thoughts["vllm"]))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
