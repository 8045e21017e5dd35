"""ETD distillation experiment on one GPU: SmolLM2-135M-Instruct fine-tuned on the verified
annotation-teacher ETD set of GSM8K train, then asked for CoT, PoT and EoT on GSM8K test.

A precursor of the trainer issue (Ray Train comes there); this is the plain single-process
loop that the Ray Train path will be compared against. It writes the generated thoughts
(greedy) to OUT/thoughts.jsonl; they are verified and scored back on the CPU machine with
the platform's sandboxed verifier (the GPU machine has none of our services):

    python benchmarks/distill_gpu.py --gguf SmolLM2.gguf --train etd_train.jsonl.gz \\
        --test gsm8k_test.jsonl.gz --out OUT [--epochs 3] [--limit-train N] [--limit-test N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from distillery.trainer.formatting import (  # noqa: E402
    IGNORE_INDEX, encode_example, length_buckets, padding_waste, student_input)


def load_jsonl(path: str) -> list[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_model(gguf: str, device: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model.to(device)


def train(model, tokenizer, rows, args, device, log) -> dict:
    import torch

    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    examples = [e for e in (encode_example(r["question"], r["thought_type"], r["text"], encode,
                                           tokenizer.eos_token_id, args.max_length) for r in rows) if e]
    lengths = [len(ids) for ids, _ in examples]
    batches = length_buckets(lengths, args.batch_tokens)
    waste = padding_waste(lengths, batches)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    total_steps = len(batches) * args.epochs
    warmup = max(1, total_steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(
        0.0, 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps)))))
    model.train()
    step, tokens, started = 0, 0, time.time()
    rng = random.Random(0)
    for epoch in range(args.epochs):
        rng.shuffle(batches)
        if time.time() - started > args.train_budget_s:
            log(f"training budget of {args.train_budget_s} s spent: stopping before epoch {epoch}")
            break
        for batch in batches:
            width = max(lengths[i] for i in batch)
            ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, index in enumerate(batch):
                example_ids, example_labels = examples[index]
                ids[row, :len(example_ids)] = torch.tensor(example_ids)
                labels[row, :len(example_labels)] = torch.tensor(example_labels)
                mask[row, :len(example_ids)] = 1
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
                loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            tokens += int(mask.sum())
            step += 1
            if step % 50 == 0 or step == 1:
                log(f"epoch {epoch} step {step}/{total_steps} loss {loss.item():.4f} "
                    f"{tokens / (time.time() - started):.0f} tok/s")
    return {"examples": len(examples), "steps": step, "epochs_done": step / max(1, len(batches)), "train_s": round(time.time() - started, 1),
            "tokens_per_s": round(tokens / (time.time() - started)), "padding_waste": round(waste, 4),
            "final_loss": round(loss.item(), 4)}


def generate(model, tokenizer, problems, args, device, log) -> list[dict]:
    import torch

    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    jobs = [(p, t) for p in problems for t in ("cot", "pot", "eot")]
    jobs.sort(key=lambda job: len(job[0]["question"]))
    results, started = [], time.time()
    for start in range(0, len(jobs), args.gen_batch):
        chunk = jobs[start:start + args.gen_batch]
        inputs = tokenizer([student_input(p["question"], t) for p, t in chunk], return_tensors="pt",
                           padding=True, add_special_tokens=False).to(device)
        with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            # Stop at the EOS the student was trained to end thoughts with (the GGUF's generation
            # config names another end token, and the model then rambles into a new chat turn).
            output = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False,
                                    eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        texts = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        for (problem, thought_type), text in zip(chunk, texts):
            results.append({"id": f"{problem['id']}-{thought_type}", "problem_id": problem["id"],
                            "thought_type": thought_type, "text": text.split("\nQuestion:")[0].strip(),
                            "gold": problem["answer"]})
        log(f"generated {len(results)}/{len(jobs)} in {time.time() - started:.0f} s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-tokens", type=int, default=16384)
    parser.add_argument("--gen-batch", type=int, default=384)
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--train-budget-s", type=float, default=1e9,
                        help="Start no new epoch after this many seconds (device time is rationed).")
    parser.add_argument("--limit-train", type=int, default=None)
    parser.add_argument("--limit-test", type=int, default=None)
    args = parser.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = open(out / "log.txt", "w")

    def log(message: str) -> None:
        print(message, flush=True)
        log_file.write(message + "\n")
        log_file.flush()

    tokenizer, model = load_model(args.gguf, device)
    rows = load_jsonl(args.train)[: args.limit_train]
    problems = load_jsonl(args.test)[: args.limit_test]
    log(f"device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}; {len(rows)} train thoughts, "
        f"{len(problems)} test problems")
    summary = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
               "train": train(model, tokenizer, rows, args, device, log)}
    started = time.time()
    thoughts = generate(model, tokenizer, problems, args, device, log)
    summary["generate_s"] = round(time.time() - started, 1)
    with open(out / "thoughts.jsonl", "w") as handle:
        for row in thoughts:
            handle.write(json.dumps(row) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log(json.dumps(summary))


if __name__ == "__main__":
    main()
