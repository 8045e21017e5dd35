"""The code every Ray Train worker runs: stream its shard, train (DDP), checkpoint, resume.

Ray Train starts one process per worker, sets up the process group (gloo on CPU, NCCL on
GPU) and, after a worker dies, restarts the group and hands ``get_checkpoint()`` the last
checkpoint: the loop then continues from that step with the same optimizer state and the
same batch order (plans are seeded by epoch and rank), not from step 0.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import time
from pathlib import Path

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from distillery.trainer.config import TrainConfig
from distillery.trainer.data import parse_lines, training_rows
from distillery.trainer.formatting import (IGNORE_INDEX, encode_example, encode_seq2seq_example, padding_waste,
                                           shuffled_batches)
from distillery.trainer.students import Student, export_student, load_student, load_trainable, save_trainable

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
MODEL_DIR = "model"  # in the final checkpoint: the exported HF checkpoint the service registers
METRICS_EVERY_S = 2.0


def train_loop_per_worker(loop_config: dict) -> None:
    config = TrainConfig(**loop_config["train"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    monitor = loop_config.get("monitor")
    device = ray.train.torch.get_device()
    torch.manual_seed(config.seed + rank)

    student = load_student(config.base, config.lora, registry_address=loop_config["registry_address"],
                           token=loop_config["token"])
    examples = _encode_shard(student, config, loop_config, rank, world)
    lengths = [len(ids) + (len(labels) if student.seq2seq else 0) for ids, labels in examples]
    first_plan = shuffled_batches(lengths, config.batch_tokens, 0)
    local_steps = len(first_plan)
    steps_per_epoch = int(_all_reduce([local_steps], dist.ReduceOp.MIN)[0]) if world > 1 else local_steps
    if steps_per_epoch == 0:
        raise ValueError(f"worker {rank} has no training examples: the dataset has too few rows of "
                         f"{', '.join(config.thought_types)} for {world} workers")
    total_steps = config.max_steps or math.ceil(config.epochs * steps_per_epoch)

    model = ray.train.torch.prepare_model(student.model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = max(1, int(total_steps * config.warmup_ratio))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(
        0.0, 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps)))))

    step = tokens_seen = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as directory:
            step, tokens_seen = _restore(Path(directory), _unwrap(model), optimizer, schedule)
    _record(monitor, rank, {"kind": "worker", "rank": rank, "pid": os.getpid(), "node": socket.gethostname(),
                            "resumed_from": step})
    if rank == 0:
        _record(monitor, rank, {"kind": "start", "workers": world, "examples_per_worker": len(examples),
                                "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "resumed_from": step,
                                "padding_waste": padding_waste(lengths, first_plan)})

    model.train()
    pad_id = student.tokenizer.pad_token_id
    autocast = device.type == "cuda" and config.bf16
    window_loss = window_tokens = 0.0
    window_started = time.monotonic()
    compute_s = 0.0
    tokens_at_start = tokens_seen
    plan: list[list[int]] = []
    plan_epoch = -1
    while step < total_steps:
        epoch = step // steps_per_epoch
        if epoch != plan_epoch:  # the same order after a restart: seeded by (seed, epoch, rank)
            plan = shuffled_batches(lengths, config.batch_tokens, hash((config.seed, epoch, rank)) & 0xFFFFFFFF)
            plan_epoch = epoch
        started = time.monotonic()
        batch = collate([examples[i] for i in plan[step % steps_per_epoch]], pad_id, student.seq2seq, device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        batch_tokens = int(batch["attention_mask"].sum()) + (int((batch["labels"] != IGNORE_INDEX).sum())
                                                             if student.seq2seq else 0)
        compute_s += time.monotonic() - started
        cancel = float(rank == 0 and monitor is not None and ray.get(monitor.cancelled.remote()))
        loss_sum, token_sum, cancel = _all_reduce([loss.item() * batch_tokens, batch_tokens, cancel], dist.ReduceOp.SUM) \
            if world > 1 else (loss.item() * batch_tokens, batch_tokens, cancel)
        tokens_seen += int(token_sum)
        window_loss += loss_sum
        window_tokens += token_sum
        finished = step == total_steps or cancel > 0
        if rank == 0 and (time.monotonic() - window_started >= METRICS_EVERY_S or finished or step == 1):
            _record(monitor, rank, {"kind": "metrics", "step": step, "total_steps": total_steps,
                                    "epoch": step / steps_per_epoch, "loss": window_loss / max(window_tokens, 1),
                                    "learning_rate": schedule.get_last_lr()[0],
                                    "tokens_per_s": window_tokens / max(time.monotonic() - window_started, 1e-9),
                                    # The benchmark's figure: step time only, checkpoints excluded.
                                    "tokens_per_s_per_worker_compute":
                                        (tokens_seen - tokens_at_start) / world / max(compute_s, 1e-9)})
            window_loss = window_tokens = 0.0
            window_started = time.monotonic()
        if step % config.checkpoint_every == 0 or finished:
            _checkpoint(model, student, optimizer, schedule, config, step, tokens_seen, rank, step == total_steps,
                        {"step": step, "cancelled": bool(cancel), "tokens": tokens_seen, "compute_s": compute_s})
            if rank == 0:
                _record(monitor, rank, {"kind": "checkpoint", "step": step})
        if cancel:
            _record(monitor, rank, {"kind": "cancelled", "step": step})
            return


def _encode_shard(student: Student, config: TrainConfig, loop_config: dict, rank: int, world: int):
    from distillery.registry.client import RegistryClient

    tokenizer = student.tokenizer
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    encoder = encode_seq2seq_example if student.seq2seq else encode_example
    examples = []
    with RegistryClient(loop_config["registry_address"], loop_config["token"]) as registry:
        lines = parse_lines(registry.pull(loop_config["dataset_ref"]))
        for row in training_rows(lines, config.thought_types, rank, world):
            example = encoder(row["question"], row["thought_type"], row["text"], encode, tokenizer.eos_token_id,
                              config.max_length)
            if example is not None:
                examples.append(example)
    return examples


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int, seq2seq: bool, device) -> dict:
    inputs = [ids for ids, _ in examples]
    targets = [labels for _, labels in examples]
    width = max(map(len, inputs))
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    label_width = max(map(len, targets))
    labels = torch.full((len(examples), label_width), IGNORE_INDEX, dtype=torch.long)
    for row, (example_ids, example_labels) in enumerate(zip(inputs, targets)):
        ids[row, :len(example_ids)] = torch.tensor(example_ids)
        mask[row, :len(example_ids)] = 1
        labels[row, :len(example_labels)] = torch.tensor(example_labels)
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def _all_reduce(values: list[float], op) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def _restore(directory: Path, model, optimizer, schedule) -> tuple[int, int]:
    load_trainable(model, directory)
    state = torch.load(directory / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    progress = json.loads((directory / STATE_FILE).read_text())
    return progress["step"], progress["tokens"]


def _checkpoint(model, student: Student, optimizer, schedule, config: TrainConfig, step: int, tokens: int,
                rank: int, final: bool, metrics: dict) -> None:
    """Every rank reports (Ray Train's round is collective); rank 0's directory is the checkpoint."""
    with tempfile.TemporaryDirectory(prefix="distillery-ckpt-") as directory:
        checkpoint = None
        if rank == 0:
            path = Path(directory)
            save_trainable(_unwrap(model), path)
            torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}, path / OPTIMIZER_FILE)
            (path / STATE_FILE).write_text(json.dumps({"step": step, "tokens": tokens}))
            if final:
                export_student(Student(_unwrap(model), student.tokenizer, student.seq2seq, student.lora),
                               path / MODEL_DIR, {"base": config.base, "thought_types": list(config.thought_types),
                                                  "recipe": config.recipe, "lora": student.lora})
            checkpoint = ray.train.Checkpoint.from_directory(directory)
        ray.train.report(metrics, checkpoint=checkpoint)


def _record(monitor, rank: int, event: dict) -> None:
    if monitor is not None:
        monitor.record.remote(event)  # fire and forget: a slow service never stalls training
