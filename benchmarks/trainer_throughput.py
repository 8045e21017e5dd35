"""Training tokens/s: the Ray Train path (1 and 2 workers) vs a plain single-process torch loop.

Same student (SmolLM2-135M-Instruct), same ETD examples (derived from GSM8K-train
annotations), same formatting, bucketing and optimizer, same machine, one run. Each Ray worker
gets one CPU (torch then uses one thread), so the plain loop is pinned to one thread too:
the goal is per-worker throughput >= 1.0x the plain loop. Step time only in both (Ray
checkpoints once, at the end, outside the timed steps). A real S3 server and registry hold
the dataset and checkpoints, as in production.

    .venv/bin/python benchmarks/trainer_throughput.py [--problems 64] [--steps 8] [--batch-tokens 384]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
from _common import SHARED_DATA, machine  # noqa: E402


def etd_rows(problems: int) -> list[dict]:
    from distillery.registry.benchmarks import load_benchmark
    from distillery.teacher.annotations import derive

    rows = []
    for problem in load_benchmark("gsm8k-train", SHARED_DATA).rows[:problems]:
        for thought_type, text in derive(problem).thoughts.items():
            rows.append({"id": f"{problem['id']}-{thought_type}", "thought_type": thought_type, "text": text,
                         "question": problem["question"], "gold": problem["answer"], "correct": True})
    return rows


def plain_loop(rows: list[dict], steps: int, batch_tokens: int, max_length: int) -> dict:
    """The baseline: one process, one thread, the trainer's own formatting and collation."""
    import torch

    from distillery.trainer.formatting import encode_example, padding_waste, shuffled_batches
    from distillery.student.models import resolve_model
    from distillery.trainer.core import collate
    from distillery.trainer.students import open_student

    torch.set_num_threads(1)
    torch.manual_seed(0)
    student = open_student(resolve_model("smollm2-135m-instruct"))
    tokenizer = student.tokenizer
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    examples = [e for e in (encode_example(r["question"], r["thought_type"], r["text"], encode,
                                           tokenizer.eos_token_id, max_length) for r in rows) if e]
    lengths = [len(ids) for ids, _ in examples]
    plan = shuffled_batches(lengths, batch_tokens, 0)
    optimizer = torch.optim.AdamW(student.model.parameters(), lr=2e-4)
    student.model.train()
    tokens, compute_s = 0, 0.0
    for step in range(steps):
        started = time.monotonic()
        batch = collate([examples[i] for i in plan[step % len(plan)]], tokenizer.pad_token_id, torch.device("cpu"))
        loss = student.model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        compute_s += time.monotonic() - started
        tokens += int(batch["attention_mask"].sum())
    return {"tokens_per_s": round(tokens / compute_s, 1), "padding_waste": round(padding_waste(lengths, plan), 4),
            "steps": steps}


def ray_train(rows: list[dict], workers: int, steps: int, batch_tokens: int, max_length: int, stack: dict) -> dict:
    import ray

    from distillery.registry.client import RegistryClient, header
    from distillery.trainer.trainer_config import TrainerConfig
    from distillery.trainer.run import new_monitor, run_training

    with RegistryClient(stack["registry"], stack["token"]) as registry:
        dataset = registry.push(header(f"bench-etd-{workers}", "dataset"),
                                [b"".join(json.dumps(r).encode() + b"\n" for r in rows)]).ref
    config = TrainerConfig(dataset=dataset, out=f"bench-student-{workers}w", workers=workers, max_steps=steps,
                         checkpoint_every=steps, batch_tokens=batch_tokens, max_length=max_length,
                         warmup_ratio=0.0)
    monitor = new_monitor()
    started = time.monotonic()
    run_training(config, stack["team"], stack["registry"], stack["token"], stack["checkpoints"], monitor)
    wall = time.monotonic() - started
    events = ray.get(monitor.events_since.remote(0))
    last = [e for e in events if e["kind"] == "metrics"][-1]
    start = next(e for e in events if e["kind"] == "start")
    return {"workers": workers, "tokens_per_s_per_worker": round(last["tokens_per_s_per_worker_compute"], 1),
            "tokens_per_s_total": round(last["tokens_per_s_per_worker_compute"] * workers, 1),
            "padding_waste": round(start["padding_waste"], 4), "steps": steps, "job_wall_s": round(wall, 1)}


def local_stack(directory: Path) -> tuple[dict, object, object]:
    from distillery.core.auth import hash_token
    from distillery.core.s3 import S3Config
    from distillery.registry.client import RegistryClient
    from distillery.registry.config import RegistryConfig
    from distillery.registry.server import create_registry_server
    from distillery.stack.s3server import SeaweedS3

    s3 = SeaweedS3(directory / "s3", "bench", "bench-secret-key")
    endpoint = s3.start()
    config = RegistryConfig(s3=S3Config(endpoint=endpoint.endpoint, access_key="bench", secret_key="bench-secret-key",
                                        bucket="bench"), admin_token_hashes=(hash_token("bench-admin"),))
    handle, _ = create_registry_server("127.0.0.1:0", config)
    address = f"127.0.0.1:{handle.port}"
    with RegistryClient(address, "bench-admin") as admin:
        token = admin.create_team("bench")
    checkpoints = S3Config(endpoint=endpoint.endpoint, access_key="bench", secret_key="bench-secret-key",
                           bucket="bench-checkpoints")
    return {"registry": address, "token": token, "team": "bench", "checkpoints": checkpoints}, handle, s3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-tokens", type=int, default=384)
    parser.add_argument("--max-length", type=int, default=192)
    args = parser.parse_args()
    rows = etd_rows(args.problems)
    summary = {"machine": machine(), "examples": len(rows), "batch_tokens": args.batch_tokens}
    summary["plain_loop_1_thread"] = plain_loop(rows, args.steps, args.batch_tokens, args.max_length)
    print(json.dumps(summary["plain_loop_1_thread"]), flush=True)

    from distillery.trainer.run import ensure_ray

    with tempfile.TemporaryDirectory() as directory:
        stack, handle, s3 = local_stack(Path(directory))
        try:
            ensure_ray(None, 2)
            for workers in (1, 2):
                result = ray_train(rows, workers, args.steps, args.batch_tokens, args.max_length, stack)
                result["per_worker_vs_plain"] = round(
                    result["tokens_per_s_per_worker"] / summary["plain_loop_1_thread"]["tokens_per_s"], 2)
                summary[f"ray_train_{workers}_workers"] = result
                print(json.dumps(result), flush=True)
        finally:
            handle.stop(grace_s=1)
            s3.stop()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
