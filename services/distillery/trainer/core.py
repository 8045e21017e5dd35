"""The training core: one process's part of a fine-tuning run, with no Ray in it.

A launcher says where the process trains (:class:`Placement`: rank, world, device, how the
model is wrapped) and what happens around the loop (:class:`Hooks`: events, cancel,
checkpoints). The core does the rest -- encoding, length-bucketed batches, optimizer and
schedule, the step, state save/restore -- the same way under every launcher, the way HF's
Trainer does not care whether ``accelerate launch`` or ``python`` started it:

* :mod:`distillery.trainer.loop` -- the Ray Train adapter (DDP workers, checkpoints through
  ``ray.train.report``, the service's monitor);
* :mod:`distillery.trainer.local` -- one process, one device, checkpoints in a directory.

Speed on a GPU: bf16 autocast, fused AdamW, PyTorch SDPA attention, optional
``torch.compile``, and no host synchronisation inside a sync window (losses are summed on
the device and read every ``sync_every`` steps). Several workers do share one number after
every step -- whether to stop -- so that a cancel stops every rank at the next step boundary.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist

from distillery.trainer.trainer_config import TrainerConfig
from distillery.trainer.data import training_rows
from distillery.trainer.formatting import IGNORE_INDEX, encode_example, encode_seq2seq_example, padding_waste, \
    shuffled_batches
from distillery.trainer.memory import choose_batch_tokens, is_out_of_memory
from distillery.trainer.students import StudentNetwork, export_student, load_trainable, save_trainable

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
MODEL_DIR = "model"  # in the final checkpoint: the exported HF checkpoint that gets registered
CPU_SYNC_EVERY = 1  # a CPU step takes seconds: reading the loss every step costs nothing
GPU_SYNC_EVERY = 16  # a GPU step takes milliseconds: a host sync per step would idle the chip


@dataclass
class Placement:
    """Where this process trains. Launchers fill it in; the core never asks a cluster."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    rank: int = 0
    world: int = 1
    workers_on_device_memory: int = 1  # processes sharing this device's memory (sizes the batch)
    prepare_model: Callable[[torch.nn.Module], torch.nn.Module] | None = None  # e.g. DDP; default: .to(device)

    def all_reduce(self, values: list[float], op=dist.ReduceOp.SUM) -> list[float]:
        if self.world == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device if dist.get_backend() == "nccl"
                              else "cpu")
        dist.all_reduce(tensor, op=op)
        return tensor.tolist()


class Hooks(Protocol):
    """What a launcher does around the loop."""

    def record(self, event: dict) -> None:
        """A progress event (``kind``: worker, start, metrics, checkpoint, cancelled)."""

    def cancelled(self) -> bool:
        """Asked on rank 0 after every step, so it must be cheap (a flag, no remote call); the
        answer is shared with every rank, which all stop at the same step boundary."""

    def checkpoint(self, step: int, metrics: dict, write: Callable[[Path], None] | None) -> None:
        """Every rank calls it at the same steps; ``write`` (rank 0 only) fills a directory."""


@dataclass
class Outcome:
    step: int
    tokens: int
    cancelled: bool  # stopped before the last step, after writing a checkpoint there
    metrics: dict  # the last checkpoint's metrics (step, final, loss, tokens, ...)


def encode_rows(student: StudentNetwork, config: TrainerConfig, lines: Iterable[tuple[int, dict]], rank: int = 0,
                world: int = 1) -> list[tuple[list[int], list[int]]]:
    """This rank's share of the dataset's verified rows, encoded as the student is asked."""
    tokenizer = student.tokenizer
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    encoder = encode_seq2seq_example if student.seq2seq else encode_example
    examples = []
    for row in training_rows(lines, config.thought_types, rank, world):
        example = encoder(row["question"], row["thought_type"], row["text"], encode, tokenizer.eos_token_id,
                          config.max_length)
        if example is not None:
            examples.append(example)
    return examples


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int, device: torch.device) -> dict:
    inputs = [ids for ids, _ in examples]
    targets = [labels for _, labels in examples]
    width = max(map(len, inputs))
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), max(map(len, targets))), IGNORE_INDEX, dtype=torch.long)
    for row, (example_ids, example_labels) in enumerate(zip(inputs, targets)):
        ids[row, :len(example_ids)] = torch.tensor(example_ids)
        mask[row, :len(example_ids)] = 1
        labels[row, :len(example_labels)] = torch.tensor(example_labels)
    pin = device.type == "cuda"
    return {name: (tensor.pin_memory() if pin else tensor).to(device, non_blocking=pin)
            for name, tensor in (("input_ids", ids), ("attention_mask", mask), ("labels", labels))}


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def save_state(directory: Path, model, optimizer, schedule, step: int, tokens: int) -> None:
    save_trainable(unwrap(model), directory)
    torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}, directory / OPTIMIZER_FILE)
    (directory / STATE_FILE).write_text(json.dumps({"step": step, "tokens": tokens}))


def restore_state(directory: Path, model, optimizer, schedule) -> tuple[int, int]:
    load_trainable(unwrap(model), directory)
    state = torch.load(directory / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    progress = json.loads((directory / STATE_FILE).read_text())
    return progress["step"], progress["tokens"]


def student_card(config: TrainerConfig, student: StudentNetwork) -> dict:
    return {"base": config.base, "thought_types": list(config.thought_types), "recipe": config.recipe,
            "lora": student.lora}


def cosine_with_warmup(optimizer, total_steps: int, warmup_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, int(total_steps * warmup_ratio))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(
        0.0, 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps)))))


def train(config: TrainerConfig, student: StudentNetwork, examples: list[tuple[list[int], list[int]]],
          placement: Placement, hooks: Hooks, resume: Path | None = None) -> Outcome:
    """Train until ``total_steps`` or a cancel; checkpoints through ``hooks``. ``resume``: a
    directory written by an earlier checkpoint of the same job."""
    rank, world, device = placement.rank, placement.world, placement.device
    torch.manual_seed(config.seed + rank)
    size = choose_batch_tokens(config, student.model, device, placement.workers_on_device_memory)
    lengths = [len(ids) + (len(labels) if student.seq2seq else 0) for ids, labels in examples]
    label_counts = [sum(1 for label in labels if label != IGNORE_INDEX) for _, labels in examples]
    first_plan = shuffled_batches(lengths, size.tokens, 0)
    steps_per_epoch = int(placement.all_reduce([len(first_plan)], dist.ReduceOp.MIN)[0])
    if steps_per_epoch == 0:
        raise ValueError(f"worker {rank} has no training examples: the dataset has too few rows of "
                         f"{', '.join(config.thought_types)} for {world} workers")
    total_steps = config.max_steps or math.ceil(config.epochs * steps_per_epoch)

    model = placement.prepare_model(student.model) if placement.prepare_model else student.model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay,
                                  fused=device.type == "cuda")
    schedule = cosine_with_warmup(optimizer, total_steps, config.warmup_ratio)
    step = tokens_seen = 0
    if resume is not None:
        step, tokens_seen = restore_state(resume, model, optimizer, schedule)
    if config.compile:
        model = torch.compile(model, dynamic=True)  # length buckets: every batch has its own shape
    hooks.record({"kind": "worker", "rank": rank, "resumed_from": step})
    if rank == 0:
        hooks.record({"kind": "start", "workers": world, "examples_per_worker": len(examples),
                      "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "resumed_from": step,
                      "padding_waste": padding_waste(lengths, first_plan), **size.metrics()})

    model.train()
    pad_id = student.tokenizer.pad_token_id
    autocast = device.type == "cuda" and config.bf16
    sync_every = GPU_SYNC_EVERY if device.type == "cuda" else CPU_SYNC_EVERY
    # Summed on the device between syncs: label-token-weighted loss, label tokens.
    window_loss = torch.zeros((), dtype=torch.float64, device=device)
    window_labels = window_tokens = 0
    window_started = time.monotonic()
    compute_s, tokens_at_start, last_loss, first_loss = 0.0, tokens_seen, float("nan"), None
    plan: list[list[int]] = []
    plan_epoch = -1
    metrics: dict = {}
    cancelled = False
    while step < total_steps:
        epoch = step // steps_per_epoch
        if epoch != plan_epoch:  # the same order after a restart: seeded by (seed, epoch, rank)
            plan = shuffled_batches(lengths, size.tokens, hash((config.seed, epoch, rank)) & 0xFFFFFFFF)
            plan_epoch = epoch
        indices = plan[step % steps_per_epoch]
        batch = collate([examples[i] for i in indices], pad_id, device)
        try:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):
                raise
            raise size.out_of_memory(exc) from None
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        labels = sum(label_counts[i] for i in indices)
        window_loss += loss.detach().double() * labels
        window_labels += labels
        window_tokens += sum(lengths[i] for i in indices)
        finished = step == total_steps
        checkpoint_due = step % config.checkpoint_every == 0 or finished
        # A cancel stops at the next step boundary, on every rank at the same one. Only the
        # cancel flag is shared after every step (one number; with several GPU workers, one small
        # host sync per step: the price of a prompt cancel); the loss waits for a sync point.
        cancel = float(rank == 0 and hooks.cancelled())
        if step % sync_every and not checkpoint_due and step != 1:
            if not placement.all_reduce([cancel])[0]:
                continue
            cancel = 1.0
        # A sync point: every rank reaches it at the same step.
        loss_sum, label_sum, token_sum, cancel = placement.all_reduce(
            [window_loss.item(), window_labels, window_tokens, cancel])
        cancelled = cancel > 0 and not finished  # a cancel at the last step is simply the end
        tokens_seen += int(token_sum)
        last_loss = loss_sum / max(label_sum, 1)
        first_loss = last_loss if first_loss is None else first_loss
        # The window's wall time up to this sync (which waited for the device): step time only,
        # since the window restarts after a checkpoint.
        elapsed = max(time.monotonic() - window_started, 1e-9)
        compute_s += elapsed
        if rank == 0:
            hooks.record({"kind": "metrics", "step": step, "total_steps": total_steps,
                          "epoch": step / steps_per_epoch, "loss": last_loss,
                          "learning_rate": schedule.get_last_lr()[0], "tokens_per_s": token_sum / elapsed,
                          # The benchmark's figure: step time only, checkpoints excluded.
                          "tokens_per_s_per_worker_compute": (tokens_seen - tokens_at_start) / world / max(compute_s,
                                                                                                           1e-9)})
        window_loss.zero_()
        window_labels = window_tokens = 0
        if checkpoint_due or cancelled:
            # What the checkpoint is, never why it was written: a resumed run must not inherit a
            # cancel (``final``: it holds the exported model, the run is done).
            metrics = {"step": step, "total_steps": total_steps, "final": finished, "tokens": tokens_seen,
                       "compute_s": compute_s, "loss": last_loss, "first_loss": first_loss,
                       "batch_tokens": size.tokens}
            _checkpoint(hooks, rank, step, metrics, model, optimizer, schedule, tokens_seen, student, config, finished)
        window_started = time.monotonic()
        if cancelled:
            hooks.record({"kind": "cancelled", "step": step})
            break
    if step >= total_steps and not metrics:
        # Resumed from the run's last step (its final report never completed): report the end
        # again rather than nothing, so the run finishes instead of replaying a stale state.
        metrics = {"step": step, "total_steps": total_steps, "final": True, "tokens": tokens_seen, "compute_s": 0.0,
                   "batch_tokens": size.tokens}
        _checkpoint(hooks, rank, step, metrics, model, optimizer, schedule, tokens_seen, student, config, True)
    return Outcome(step, tokens_seen, cancelled, metrics)


def _checkpoint(hooks: Hooks, rank: int, step: int, metrics: dict, model, optimizer, schedule, tokens: int,
                student: StudentNetwork, config: TrainerConfig, final: bool) -> None:
    def write(directory: Path) -> None:
        save_state(directory, model, optimizer, schedule, step, tokens)
        if final:
            export_student(StudentNetwork(unwrap(model), student.tokenizer, student.seq2seq, student.lora),
                           directory / MODEL_DIR, student_card(config, student))

    hooks.checkpoint(step, metrics, write if rank == 0 else None)
    if rank == 0:
        hooks.record({"kind": "checkpoint", "step": step})
