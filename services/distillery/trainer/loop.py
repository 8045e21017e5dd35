"""The Ray Train adapter: what every Ray Train worker runs around the training core.

Ray Train starts one process per worker, sets up the process group (gloo on CPU, NCCL on
GPU) and, after a worker dies, restarts the group and hands ``get_checkpoint()`` the last
checkpoint: the core then continues from that step with the same optimizer state and the
same batch order (plans are seeded by epoch and rank), not from step 0. This module only
translates: rank/world/device from ``ray.train``, the shard from the registry, checkpoints
through ``ray.train.report``, events to the service's monitor actor.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import ray
import ray.train
import ray.train.torch

from distillery.trainer import core
from distillery.trainer.trainer_config import TrainerConfig
from distillery.trainer.data import parse_lines
from distillery.trainer.students import load_student

MODEL_DIR = core.MODEL_DIR


CANCEL_POLL_S = 0.2


class RayHooks:
    """Events to the monitor actor (fire and forget), cancel from it, checkpoints as Ray Train reports."""

    def __init__(self, monitor, rank: int) -> None:
        self.monitor, self.rank = monitor, rank
        self._cancel, self._done = threading.Event(), threading.Event()
        if monitor is not None and rank == 0:  # the core asks rank 0 only, after every step
            threading.Thread(target=self._watch_for_cancel, name="distillery-cancel-watch", daemon=True).start()

    def _watch_for_cancel(self) -> None:
        # In the background, so that asking after every step costs a flag read, not a remote call.
        while not self._done.wait(CANCEL_POLL_S):
            try:
                if ray.get(self.monitor.cancelled.remote(), timeout=10):
                    self._cancel.set()
                    return
            except Exception:  # noqa: BLE001 - a slow monitor only delays the cancel
                pass

    def close(self) -> None:
        self._done.set()

    def record(self, event: dict) -> None:
        if event.get("kind") == "worker":
            event = {**event, "pid": os.getpid(), "node": socket.gethostname()}
        if self.monitor is not None:
            self.monitor.record.remote(event)  # a slow service never stalls training

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def checkpoint(self, step: int, metrics: dict, write: Callable[[Path], None] | None) -> None:
        # Every rank reports (Ray Train's round is collective); rank 0's directory is the checkpoint.
        with tempfile.TemporaryDirectory(prefix="distillery-ckpt-") as directory:
            checkpoint = None
            if write is not None:
                write(Path(directory))
                checkpoint = ray.train.Checkpoint.from_directory(directory)
            ray.train.report(metrics, checkpoint=checkpoint)


def worker_config(loop_config: dict) -> TrainerConfig:
    """The job's config as a worker receives it from Ray Train's ``train_loop_config``."""
    return TrainerConfig(**loop_config["train"])


def train_loop_per_worker(loop_config: dict) -> None:
    config = worker_config(loop_config)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    placement = core.Placement(device=device, rank=rank, world=world,
                               # CPU workers of a node share its memory; each GPU worker has its own.
                               workers_on_device_memory=1 if device.type == "cuda" else context.get_local_world_size(),
                               prepare_model=ray.train.torch.prepare_model)
    student = load_student(config.base, config.lora, registry_address=loop_config["registry_address"],
                           token=loop_config["token"])
    examples = core.encode_rows(student, config, _pull(loop_config), rank, world)
    hooks = RayHooks(loop_config.get("monitor"), rank)
    try:
        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            core.train(config, student, examples, placement, hooks)
            return
        # A private download per rank: ``as_directory()`` shares one temp directory between the
        # workers of a node, and a rank that arrives after the first download has finished
        # downloads again into it while the other rank is still reading (a truncated optimizer file).
        with tempfile.TemporaryDirectory(prefix="distillery-restore-") as directory:
            resume = Path(checkpoint.to_directory(directory))
            core.train(config, student, examples, placement, hooks, resume=resume)
    finally:
        hooks.close()


def _pull(loop_config: dict):
    from distillery.registry.client import RegistryClient

    with RegistryClient(loop_config["registry_address"], loop_config["token"]) as registry:
        yield from parse_lines(registry.pull(loop_config["dataset_ref"]))
