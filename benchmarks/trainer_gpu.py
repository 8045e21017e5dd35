"""Training speed of the training core (through the local launcher), against the device's peak.

    .venv/bin/python benchmarks/trainer_gpu.py [--base smollm2-135m-instruct | --random-init CONFIG]
        [--device cuda|cpu] [--rows synthetic | FILE.jsonl[.gz]] [--steps 32] [--warmup-steps 16]
        [--batch-tokens 16384,65536] [--bf16 on|off|on,off] [--compile off|on|off,on] [--json FILE]

Every combination of ``--batch-tokens`` x ``--bf16`` x ``--compile`` is one short run of
``distillery.trainer.local.train_local`` (the code ``distillery train --local`` and the GPU run
use). Reported per run:

* ``tokens_per_s`` -- non-padding tokens (prompt + thought) per wall-clock second over the steps
  after the warm-up (the first sync window, where CUDA/compile warm up, is left out), from the
  core's own metric events (one every 16 steps on a GPU, every step on a CPU);
* ``mfu`` -- 6 x parameters x tokens/s over the device's peak: on an H200 the 790 TFLOP/s bf16
  dense figure measured on the lent machine; on a CPU the fp32 matmul throughput measured here
  (so a CPU's MFU says how close the loop runs to that CPU's own matmul speed).

``--random-init`` takes the base model's config + tokenizer (``base-config.tar.gz`` that
``benchmarks/gpu/pack.py`` writes, or a directory) and measures a randomly initialised model of
the same shape: the speed is the same as the real weights', and it can run before they arrive.
On a CPU keep it tiny (``--steps 2 --warmup-steps 1 --batch-tokens 256 --max-length 128``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "gpu"))

from common import count_parameters, mfu, peak_flops, read_jsonl, use_services  # noqa: E402

use_services()

WORDS = ("apples each costs dollars more than twice how many total left after buys sells week day hours per "
         "price half of the remaining friends share equally pays tickets boxes").split()


def synthetic_rows(count: int, seed: int = 0) -> list[dict]:
    """ETD-like rows with the annotation set's shape: ~45-word questions, thoughts of 25-110 words."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        question = " ".join(rng.choice(WORDS) if rng.random() < 0.8 else str(rng.randint(2, 500))
                            for _ in range(rng.randint(25, 70))) + "?"
        thought_type = ("cot", "pot", "eot")[i % 3]
        lines = [f"{rng.choice(WORDS)}_{k} = {rng.randint(2, 99)} * {rng.randint(2, 99)}" for k in
                 range(rng.randint(3, 12))]
        rows.append({"question": question, "thought_type": thought_type, "text": "\n".join(lines) + "\nans = 1"})
    return rows


def random_init(source: Path, target: Path, seed: int = 0) -> Path:
    """A randomly initialised model with ``source``'s config and tokenizer (a directory or .tar.gz)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if source.is_file():
        with tarfile.open(source) as archive:
            archive.extractall(target / "unpacked", filter="data")
        source = next(p.parent for p in (target / "unpacked").rglob("config.json"))
    model_dir = target / "random-init"
    shutil.copytree(source, model_dir, dirs_exist_ok=True)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(source))
    model.save_pretrained(model_dir)
    return model_dir


def steady_rate(events: list[dict], warmup_steps: int) -> tuple[float | None, int]:
    """Tokens/s over the metric windows that end after ``warmup_steps`` (each event's rate x its
    window's length), and the steps those windows cover."""
    metrics = [e for e in events if e.get("kind") == "metrics"]
    tokens = seconds = 0.0
    steps = 0
    for previous, event in zip(metrics, metrics[1:]):
        if previous["step"] < warmup_steps:
            continue
        window = event["time"] - previous["time"]
        tokens += event["tokens_per_s"] * window
        seconds += window
        steps += event["step"] - previous["step"]
    if not seconds:
        return None, 0
    return tokens / seconds, steps


def measure(base: Path, rows: list[dict], device: str, batch_tokens: int, bf16: bool, compile_: bool,
            steps: int, warmup_steps: int, max_length: int, work: Path) -> dict:
    from distillery.trainer.trainer_config import TrainerConfig
    from distillery.trainer.local import train_local

    config = TrainerConfig(dataset="bench@1", out="bench", max_steps=warmup_steps + steps, batch_tokens=batch_tokens,
                         bf16=bf16, compile=compile_, max_length=max_length, checkpoint_every=10 ** 9,
                         keep_checkpoints=1, workers=1)
    events: list[dict] = []
    run_dir = work / f"run-{batch_tokens}-{int(bf16)}-{int(compile_)}"
    started = time.perf_counter()
    result = train_local(config, rows, base, run_dir, device=device, on_event=events.append)
    wall = time.perf_counter() - started
    shutil.rmtree(run_dir, ignore_errors=True)
    rate, measured_steps = steady_rate(events, warmup_steps)
    start = next((e for e in events if e.get("kind") == "start"), {})
    return {"batch_tokens": batch_tokens, "bf16": bf16, "compile": compile_, "steps": result.steps,
            "measured_steps": measured_steps, "tokens_per_s": round(rate) if rate else None,
            "final_loss": result.metrics.get("loss"), "padding_waste": start.get("padding_waste"),
            "wall_s": round(wall, 1)}


def flags(text: str) -> list[bool]:
    return [{"on": True, "off": False}[v.strip()] for v in text.split(",")]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="smollm2-135m-instruct", help="alias or HF directory")
    parser.add_argument("--random-init", type=Path, default=None, help="config + tokenizer (dir or .tar.gz)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--rows", default="synthetic", help="'synthetic' or a thought-dataset JSONL[.gz]")
    parser.add_argument("--limit-rows", type=int, default=None)
    parser.add_argument("--steps", type=int, default=32, help="measured steps after the warm-up")
    parser.add_argument("--warmup-steps", type=int, default=16)
    parser.add_argument("--batch-tokens", default="16384,65536")
    parser.add_argument("--bf16", default="on")
    parser.add_argument("--compile", default="off")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the device's peak")
    parser.add_argument("--max-minutes", type=float, default=None, help="start no new combination after this")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory(prefix="trainer-gpu-") as scratch:
        work = Path(scratch)
        if args.random_init:
            base = random_init(args.random_init, work)
        else:
            from distillery.student.models import resolve_model

            base = resolve_model(args.base, allow_local_paths=True)
        sizes = [int(v) for v in args.batch_tokens.split(",")]
        if args.rows == "synthetic":
            wanted = args.limit_rows or max(64, (args.warmup_steps + args.steps) * max(sizes) // 150)
            rows = synthetic_rows(wanted)
        else:
            rows = list(read_jsonl(args.rows))[:args.limit_rows]
        peak, source = peak_flops(device)
        if args.peak_tflops:
            peak, source = args.peak_tflops * 1e12, f"--peak-tflops {args.peak_tflops}"
        parameters = count_parameters(base)
        report = {"device": device, "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
                  "torch": torch.__version__, "parameters": parameters, "peak_flops": peak, "peak_source": source,
                  "rows": len(rows), "rows_source": args.rows, "random_init": bool(args.random_init), "runs": []}
        for batch_tokens, bf16, compile_ in itertools.product(sizes, flags(args.bf16), flags(args.compile)):
            if args.max_minutes and time.monotonic() - started > args.max_minutes * 60:
                report["runs"].append({"batch_tokens": batch_tokens, "bf16": bf16, "compile": compile_,
                                       "skipped": "--max-minutes reached"})
                continue
            try:
                result = measure(base, rows, device, batch_tokens, bf16, compile_, args.steps, args.warmup_steps,
                                 args.max_length, work)
            except Exception as exc:  # noqa: BLE001 - one failing combination (OOM, compile) must not lose the rest
                result = {"batch_tokens": batch_tokens, "bf16": bf16, "compile": compile_,
                          "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            if result.get("tokens_per_s"):
                util = mfu(parameters, result["tokens_per_s"], peak)
                result["mfu"] = round(util, 4) if util is not None else None
            report["runs"].append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(report, indent=2))
    best = max((r for r in report["runs"] if r.get("tokens_per_s")), key=lambda r: r["tokens_per_s"], default=None)
    report["best"] = best
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return report


if __name__ == "__main__":
    main()
