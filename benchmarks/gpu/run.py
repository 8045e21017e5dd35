"""The GPU run, on a machine with torch + transformers and nothing of ours running: the packed
SmolLM2 GGUF -> an HF checkpoint, the ETD student trained by the platform's training core (the
local launcher), then greedy + K sampled thoughts of every type on the evaluation benchmarks.

    python3 benchmarks/gpu/run.py --pack .gpu --out $OUT [--device cuda] [--max-minutes 8]
        [--recipes etd[,potd,eotd,cotd]] [--epochs 3 | --max-steps N] [--samples 4] [--base-eval]
        [--limit-train N] [--limit-eval N]

Writes into ``--out`` (each file rewritten or appended as the run goes, so a run cut by the
device's time limit still returns what it did):

    thoughts.jsonl        the ETD student's greedy thoughts (``sample: -1``), every benchmark and type
    samples.jsonl         its K sampled thoughts per (problem, type) (``sample: 0..K-1``)
    base.jsonl            the base model's greedy thoughts, asked the same way (``--base-eval``)
    thoughts-RECIPE.jsonl the greedy thoughts of the other recipes' students (``--recipes``)
    metrics.json          phases and timings, training (steps, loss curve, tokens/s, MFU), generation
                          (thoughts/s, tokens/s), what was skipped for time, the modules this run imported
    log.txt               the progress log

One line per thought, the schema ``distillery eval --score`` reads:
``{"benchmark", "id", "question", "answer", "thought_type", "sample", "text"}`` (``text`` as the
generator returns it: cut at the next ``Question:``). Back on the CPU machine:
``cat OUT/thoughts.jsonl OUT/samples.jsonl > etd.jsonl; distillery eval --score etd.jsonl``.

Priorities when time runs short (each phase starts only if its estimate fits what is left):
train ETD -> greedy GSM8K -> K samples on GSM8K -> greedy SVAMP/ASDiv/MultiArith -> base model
-> other recipes.
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (count_parameters, loaded_modules, mfu, peak_flops, read_jsonl, sha256_file,  # noqa: E402
                    use_services, write_json_atomic)

use_services()

from trainer_gpu import steady_rate  # noqa: E402

TYPES = ("cot", "pot", "eot")
FILE_LIMIT = 15 * (1 << 20)  # the device returns files of at most 16 MiB
RECIPE_TYPES = {"etd": TYPES, "potd": ("pot",), "eotd": ("eot",), "cotd": ("cot",)}


class Run:
    """The output directory: the log, the metrics (rewritten atomically), the thought files."""

    def __init__(self, out: Path, max_minutes: float) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.deadline = self.started + max_minutes * 60
        self.log_file = open(out / "log.txt", "a", buffering=1)
        self.metrics: dict = {"phases": {}, "skipped": [], "train": {}, "generation": {}, "files": {}}
        self._last_save = 0.0

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def log(self, message: str) -> None:
        line = f"[{self.elapsed():6.1f}s] {message}"
        print(line, flush=True)
        self.log_file.write(line + "\n")

    def save(self, throttle_s: float = 0.0) -> None:
        now = time.monotonic()
        if now - self._last_save >= throttle_s:
            self.metrics["elapsed_s"] = round(self.elapsed(), 1)
            write_json_atomic(self.out / "metrics.json", self.metrics)
            self._last_save = now

    def phase(self, name: str):
        run = self

        class _Phase:
            def __enter__(self):
                self.started = time.monotonic()
                run.log(f"{name} ...")
                return self

            def __exit__(self, kind, error, trace):
                seconds = round(time.monotonic() - self.started, 2)
                run.metrics["phases"][name] = {"seconds": seconds, "ok": kind is None}
                if kind is not None:
                    run.metrics["phases"][name]["error"] = f"{kind.__name__}: {error}"
                run.log(f"{name}: {'done' if kind is None else 'FAILED'} in {seconds:.1f} s")
                run.save()
                return False

        return _Phase()

    def skip(self, what: str, why: str) -> None:
        self.metrics["skipped"].append({"what": what, "why": why})
        self.log(f"skipped {what}: {why}")
        self.save()

    def append(self, name: str, rows: list[dict]) -> int:
        """Append rows to ``name`` while it stays under the device's per-file limit; returns rows written."""
        path = self.out / name
        size = path.stat().st_size if path.exists() else 0
        written = 0
        with open(path, "a", encoding="utf-8") as handle:
            for row in rows:
                line = json.dumps(row, ensure_ascii=False) + "\n"
                if size + len(line.encode()) > FILE_LIMIT:
                    self.skip(f"{len(rows) - written} rows of {name}", "the file reached 15 MiB")
                    break
                handle.write(line)
                size += len(line.encode())
                written += 1
        self.metrics["files"][name] = self.metrics["files"].get(name, 0) + written
        return written


# ---------------------------------------------------------------- the model

def assemble(pack: Path, work: Path, run: Run) -> Path:
    """The GGUF from its xz pieces, every piece checked against the manifest first."""
    manifest = json.loads((pack / "p2" / "manifest.json").read_text())
    info = manifest["gguf"]
    gguf = work / info["name"]
    if gguf.exists() and gguf.stat().st_size == info["bytes"]:
        run.log(f"{gguf} already there")
        return gguf
    for piece in info["pieces"]:
        path = pack / piece["path"]
        if not path.exists():
            raise SystemExit(f"missing {path}: call 1 carries it; the machine went cold between the calls "
                             f"(start again from call 1)")
        if path.stat().st_size != piece["bytes"] or sha256_file(path) != piece["sha256"]:
            raise SystemExit(f"{path} differs from the manifest (re-run pack.py and both calls)")
    work.mkdir(parents=True, exist_ok=True)
    partial = gguf.with_suffix(".partial")
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    with open(partial, "wb") as sink:
        for piece in info["pieces"]:
            with open(pack / piece["path"], "rb") as source:
                while block := source.read(1 << 23):
                    sink.write(decompressor.decompress(block))
    if not decompressor.eof:
        raise SystemExit("the xz stream is incomplete")
    if sha256_file(partial) != info["sha256"]:
        raise SystemExit("the reassembled GGUF's sha256 differs from the manifest")
    partial.replace(gguf)
    return gguf


def base_checkpoint(gguf: Path, work: Path) -> Path:
    from distillery.student.models import convert_gguf

    target = work / "base"
    if (target / "config.json").exists():
        return target
    return convert_gguf(gguf, target)


# ---------------------------------------------------------------- training

def train(recipe: str, rows: list[dict], base: Path, work: Path, args, run: Run, budget_s: float) -> Path | None:
    """The student of ``recipe`` through the local launcher; its exported HF directory (None: failed)."""
    from distillery.trainer.trainer_config import TrainerConfig
    from distillery.trainer.local import latest_checkpoint, train_local

    fields = dict(dataset="etd@1", out=f"{recipe}-student", thought_types=recipe,
                  epochs=None if args.max_steps else args.epochs,  # they exclude each other
                  max_steps=args.max_steps, learning_rate=args.lr, batch_tokens=args.batch_tokens,
                  max_length=args.max_length, bf16=args.bf16, compile=args.compile, seed=args.seed,
                  checkpoint_every=10 ** 9, keep_checkpoints=1, workers=1)
    fields.update(item.split("=", 1) for item in args.set)  # --set FIELD=VALUE wins
    config = TrainerConfig(**fields)
    record = run.metrics["train"].setdefault(recipe, {"config": config.model_dump(mode="json"), "curve": []})
    stop_at = time.monotonic() + budget_s
    started = time.monotonic()
    events: list[dict] = []

    def on_event(event: dict) -> None:
        events.append(event)
        kind = event.get("kind")
        if kind == "start":
            record["start"] = {k: v for k, v in event.items() if k not in ("pid", "time")}
            run.log(f"train {recipe}: {event.get('total_steps')} steps, {event.get('examples_per_worker')} examples, "
                    f"batch {event.get('batch_tokens')} tokens ({event.get('batch_tokens_source')})")
        elif kind == "metrics":
            point = {k: event[k] for k in ("step", "loss", "tokens_per_s", "learning_rate", "epoch") if k in event}
            point["t"] = round(time.monotonic() - started, 2)
            record["curve"].append(point)
            if len(record["curve"]) % 10 == 1:
                run.log(f"train {recipe}: step {event.get('step')}/{event.get('total_steps')} "
                        f"loss {event.get('loss', float('nan')):.4f} {event.get('tokens_per_s', 0):,.0f} tok/s")
            run.save(throttle_s=5)

    run_dir = work / f"train-{recipe}"
    result = train_local(config, rows, base, run_dir, device=args.device, on_event=on_event,
                         should_stop=lambda: time.monotonic() > stop_at)
    seconds = time.monotonic() - started
    metrics = dict(result.metrics)
    tokens, compute_s = metrics.get("tokens", 0), metrics.get("compute_s", 0)
    steady, steady_steps = steady_rate(events, warmup_steps=1)
    record.update(steps=result.steps, cancelled_for_time=result.cancelled, wall_s=round(seconds, 1),
                  final=metrics, tokens=tokens,
                  # wall-clock rate over the core's metric windows after the first (warm-up) one
                  tokens_per_s=round(steady) if steady else None, tokens_per_s_steps=steady_steps,
                  # the host-side step time: on a GPU it misses the waits at the sync points
                  tokens_per_s_compute=round(tokens / compute_s) if compute_s else None,
                  tokens_per_s_wall=round(tokens / seconds) if seconds else None)
    parameters = count_parameters(base)
    peak, peak_source = run.metrics.setdefault("peak", {}).get("flops"), run.metrics["peak"].get("source")
    if peak_source is None:
        peak, peak_source = peak_flops(args.device)
        run.metrics["peak"] = {"flops": peak, "source": peak_source}
    util = mfu(parameters, record["tokens_per_s"] or 0, peak)
    record.update(parameters=parameters, mfu=round(util, 4) if util is not None else None)
    run.log(f"train {recipe}: {result.steps} steps, {tokens:,} tokens, {record['tokens_per_s']} tok/s "
            f"(after warm-up; wall incl. load/encode {record['tokens_per_s_wall']}), MFU {record['mfu']} "
            f"[{peak_source}]")
    if not result.cancelled:
        return result.model_dir
    # Stopped for time: export what the last (cancel-time) checkpoint holds, marked as such.
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return None
    return export_checkpoint(config, base, checkpoint, run_dir / "model-partial")


def export_checkpoint(config, base: Path, checkpoint: Path, target: Path) -> Path:
    from distillery.trainer.core import student_card
    from distillery.trainer.students import export_student, load_trainable, open_student

    student = open_student(base, config.lora)
    load_trainable(student.model, checkpoint)
    shutil.rmtree(target, ignore_errors=True)
    export_student(student, target, {**student_card(config, student), "stopped_early": True})
    return target


# ---------------------------------------------------------------- generation

class Generation:
    """One student's generator, and the measured pace that decides what still fits."""

    def __init__(self, model_dir: Path, args, run: Run, label: str) -> None:
        from distillery.student.generation import open_generator

        self.run, self.label, self.args = run, label, args
        self.generator = open_generator(model_dir, backend="hf", max_new_tokens=args.max_new_tokens,
                                        batch_size=args.gen_batch, batch_tokens=args.gen_batch_tokens)
        self.rows_per_s: float | None = None  # measured on the first call
        self.stats = run.metrics["generation"].setdefault(label, {"calls": []})

    def fits(self, count: int, what: str) -> int:
        """How many of ``count`` thoughts fit in the time left (all of them before a pace is known)."""
        margin = 15.0
        if self.rows_per_s is None:
            return count if self.run.left() > margin + 30 else 0
        fitting = int((self.run.left() - margin) * self.rows_per_s * 0.9)
        return max(0, min(count, fitting))

    def greedy(self, problems: list[dict], thought_type: str) -> list[dict]:
        requests = [(p["question"], thought_type) for p in problems]
        generated = self.generator.generate(requests)
        self._account(len(requests), generated, thought_type, samples=0)
        return [thought_row(p, thought_type, -1, text) for p, text in zip(problems, generated.thoughts)]

    def sampled(self, problems: list[dict], thought_type: str, samples: int) -> list[dict]:
        from distillery.student import generation as engine

        requests = [(p["question"], thought_type) for p in problems]
        generated = engine.generate_samples(self.generator, requests, samples, temperature=self.args.temperature,
                                            seed=self.args.seed, top_p=self.args.top_p)
        self._account(len(requests) * samples, generated, thought_type, samples=samples)
        return [thought_row(p, thought_type, k, generated.thoughts[i * samples + k])
                for i, p in enumerate(problems) for k in range(samples)]

    def _account(self, count: int, generated, thought_type: str, samples: int) -> None:
        seconds = max(generated.seconds, 1e-9)
        pace = count / seconds
        self.rows_per_s = pace if self.rows_per_s is None else min(self.rows_per_s, pace) * 0.5 + pace * 0.5
        self.stats["calls"].append({"type": thought_type, "samples": samples, "thoughts": count,
                                    "tokens": generated.tokens, "seconds": round(seconds, 2),
                                    "thoughts_per_s": round(pace, 1),
                                    "tokens_per_s": round(generated.tokens / seconds)})
        calls = self.stats["calls"]
        total_s = sum(c["seconds"] for c in calls)
        self.stats.update(thoughts=sum(c["thoughts"] for c in calls), seconds=round(total_s, 1),
                          thoughts_per_s=round(sum(c["thoughts"] for c in calls) / total_s, 1),
                          tokens_per_s=round(sum(c["tokens"] for c in calls) / total_s))
        self.run.log(f"{self.label}: {count} {thought_type} thoughts{f' ({samples} samples each)' if samples else ''} "
                     f"in {seconds:.1f} s ({pace:.1f}/s, {generated.tokens / seconds:,.0f} tok/s)")

    def close(self) -> None:
        self.generator.close()
        free_device_memory()


def free_device_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def thought_row(problem: dict, thought_type: str, sample: int, text: str) -> dict:
    return {"benchmark": problem["benchmark"], "id": problem["id"], "question": problem["question"],
            "answer": problem["answer"], "thought_type": thought_type, "sample": sample, "text": text}


def generate_greedy(gen: Generation, problems: list[dict], file: str, what: str,
                    types: tuple[str, ...] = TYPES) -> None:
    for thought_type in types:
        fitting = gen.fits(len(problems), f"{what} {thought_type}")
        if fitting < len(problems):
            gen.run.skip(f"{len(problems) - fitting} of {len(problems)} {what} {thought_type} greedy thoughts",
                         f"{gen.run.left():.0f} s left")
        if fitting:
            gen.run.append(file, gen.greedy(problems[:fitting], thought_type))
            gen.run.save()


def generate_samples(gen: Generation, problems: list[dict], samples: int, file: str, what: str) -> None:
    for thought_type in TYPES:
        fitting = gen.fits(len(problems) * samples, f"{what} {thought_type} samples") // samples
        if fitting < len(problems):
            gen.run.skip(f"{len(problems) - fitting} of {len(problems)} {what} {thought_type} problems' samples",
                         f"{gen.run.left():.0f} s left")
        if fitting:
            gen.run.append(file, gen.sampled(problems[:fitting], thought_type, samples))
            gen.run.save()


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", type=Path, required=True, help="the folder pack.py wrote (.gpu)")
    parser.add_argument("--out", type=Path, required=True, help="where thoughts and metrics go ($OUT there)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/distillery-gpu"),
                        help="scratch: the GGUF, the converted base, the training runs")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when there is one)")
    parser.add_argument("--base", type=Path, default=None,
                        help="an HF checkpoint of the same GGUF to use instead of converting it (the CPU dry run: "
                             "the conversion is core.models.convert_gguf, which every alias resolution runs)")
    parser.add_argument("--max-minutes", type=float, default=8.0, help="the whole run, start to last file")
    parser.add_argument("--train-share", type=float, default=0.4,
                        help="of the time left after conversion, the most the ETD student's training may take")
    parser.add_argument("--recipes", default="etd", help="etd first; then any of potd,eotd,cotd at the same steps")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch-tokens", type=int, default=16384)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="any other TrainerConfig field (repeatable)")
    parser.add_argument("--limit-train", type=int, default=None, help="only the first N training rows")
    parser.add_argument("--limit-eval", type=int, default=None, help="only the first N problems of each benchmark")
    parser.add_argument("--benchmarks", default="gsm8k,svamp,asdiv,multiarith")
    parser.add_argument("--samples", type=int, default=4, help="K sampled thoughts per (GSM8K problem, type); 0: none")
    parser.add_argument("--sample-benchmarks", default="gsm8k")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--base-eval", action=argparse.BooleanOptionalAction, default=True,
                        help="also the base model's greedy GSM8K thoughts (last, if time is left)")
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--gen-batch", type=int, default=None, help="rows per generate call (cuda 1024, cpu 16)")
    parser.add_argument("--gen-batch-tokens", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run = Run(args.out, args.max_minutes)
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.device.startswith("cuda"):
        torch.set_float32_matmul_precision("high")  # TF32 for what runs in float32 (generation's weights)
    args.gen_batch = args.gen_batch or (1024 if args.device.startswith("cuda") else 16)
    run.metrics.update(args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                       torch=torch.__version__, device=args.device,
                       device_name=torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu")
    import transformers

    run.metrics["transformers"] = transformers.__version__
    run.save()
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = [r for r in recipes if r not in RECIPE_TYPES]
    if unknown or not recipes:
        raise SystemExit(f"--recipes: unknown {unknown} (choose from {', '.join(RECIPE_TYPES)})")
    try:
        with run.phase("assemble"):
            gguf = assemble(args.pack, args.work, run)
        with run.phase("convert"):
            base = args.base or base_checkpoint(gguf, args.work)
        with run.phase("data"):
            rows = list(read_jsonl(args.pack / "p1" / "train.jsonl.gz"))[:args.limit_train]
            wanted = {b.strip() for b in args.benchmarks.split(",")}
            problems: dict[str, list[dict]] = {}
            for row in read_jsonl(args.pack / "p2" / "problems.jsonl.gz"):
                if row["benchmark"] in wanted:
                    problems.setdefault(row["benchmark"], []).append(row)
            problems = {b: p[:args.limit_eval] for b, p in problems.items()}
            run.metrics["data"] = {"train_rows": len(rows),
                                   "train_by_type": {t: sum(r["thought_type"] == t for r in rows) for t in TYPES},
                                   "problems": {b: len(p) for b, p in problems.items()}}
        first, *others = recipes
        students: dict[str, Path] = {}
        with run.phase(f"train-{first}"):
            budget = max(30.0, run.left() * args.train_share)
            students[first] = train(first, rows, base, args.work, args, run, budget)
        steps = run.metrics["train"][first].get("steps")
        if students[first] is None:
            raise SystemExit(f"the {first} student was not exported")
        free_device_memory()

        gen = Generation(students[first], args, run, first)
        try:
            primary = [b for b in ("gsm8k",) if b in problems]
            rest = [b for b in problems if b not in primary]
            for name in primary:
                with run.phase(f"greedy-{first}-{name}"):
                    generate_greedy(gen, problems[name], "thoughts.jsonl", name)
            sample_on = [b for b in args.sample_benchmarks.split(",") if b in problems]
            if args.samples > 0:
                for name in sample_on:
                    with run.phase(f"samples-{first}-{name}"):
                        generate_samples(gen, problems[name], args.samples, "samples.jsonl", name)
            if rest:
                with run.phase(f"greedy-{first}-rest"):
                    merged = [p for name in rest for p in problems[name]]
                    generate_greedy(gen, merged, "thoughts.jsonl", "+".join(rest))
        finally:
            gen.close()

        if args.base_eval and "gsm8k" in problems:
            with run.phase("greedy-base-gsm8k"):
                base_gen = Generation(base, args, run, "base")
                base_gen.rows_per_s = gen.rows_per_s and gen.rows_per_s * 0.5  # the base rambles to its cap
                try:
                    generate_greedy(base_gen, problems["gsm8k"], "base.jsonl", "gsm8k")
                finally:
                    base_gen.close()

        for recipe in others:
            if run.left() < 60:
                run.skip(f"recipe {recipe}", f"{run.left():.0f} s left")
                continue
            args.max_steps = steps  # equal steps: the comparison the paper makes
            with run.phase(f"train-{recipe}"):
                students[recipe] = train(recipe, rows, base, args.work, args, run, max(30.0, run.left() * 0.5))
            if students[recipe] is None:
                continue
            with run.phase(f"greedy-{recipe}-gsm8k"):
                other = Generation(students[recipe], args, run, recipe)
                try:
                    generate_greedy(other, problems.get("gsm8k", []), f"thoughts-{recipe}.jsonl", "gsm8k",
                                    RECIPE_TYPES[recipe])
                finally:
                    other.close()
    finally:
        run.metrics["imports"] = loaded_modules()
        run.save()
        run.log(f"finished; files: {run.metrics['files']}")


if __name__ == "__main__":
    main()
