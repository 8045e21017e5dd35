"""The local launcher: the training core in this process, on one device, checkpoints in a directory.

For ``distillery train --local`` (no cluster, no trainer service) and for machines that have
a GPU but no Ray (``benchmarks/gpu/run.py``). The run directory holds

    run.json                  the job (TrainerConfig) and its run key
    checkpoints/step-NNNNNNNN the newest ``keep_checkpoints`` checkpoints, each written aside
                              and renamed into place (never half there)
    model/                    the exported HF checkpoint once the run finished

so running the same job again in the same directory resumes from the newest checkpoint,
and a different job there is refused instead of mixing two runs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from distillery.trainer import core
from distillery.trainer.trainer_config import TrainerConfig
from distillery.trainer.students import open_student

RUN_FILE = "run.json"
CHECKPOINTS = "checkpoints"


@dataclass
class LocalRun:
    steps: int
    metrics: dict
    model_dir: Path | None  # None when the run was cancelled before its end
    cancelled: bool = False


class LocalHooks:
    def __init__(self, run_dir: Path, keep: int, on_event: Callable[[dict], None] | None,
                 should_stop: Callable[[], bool] | None) -> None:
        self.checkpoints = run_dir / CHECKPOINTS
        self.keep, self.on_event, self.should_stop = keep, on_event, should_stop

    def record(self, event: dict) -> None:
        if self.on_event is not None:
            self.on_event({**event, "pid": os.getpid(), "time": time.time()})

    def cancelled(self) -> bool:
        return self.should_stop is not None and self.should_stop()

    def checkpoint(self, step: int, metrics: dict, write: Callable[[Path], None] | None) -> None:
        if write is None:
            return
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        staging = self.checkpoints / f".step-{step:08d}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        write(staging)
        (staging / "metrics.json").write_text(json.dumps(metrics))
        target = self.checkpoints / f"step-{step:08d}"
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        for old in sorted(self.checkpoints.glob("step-*"))[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((run_dir / CHECKPOINTS).glob("step-*"))
    return found[-1] if found else None


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_local(config: TrainerConfig, rows: Iterable[dict], base_dir: Path, out_dir: Path, *,
                device: str | torch.device | None = None, on_event: Callable[[dict], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> LocalRun:
    """Train ``config`` on ``rows`` (thought-dataset rows) from the HF checkpoint ``base_dir``.

    ``out_dir`` is the run directory (created; resumed when it holds the same job). The
    exported student lands in ``out_dir/model``."""
    out_dir = Path(out_dir)
    _claim(out_dir, config)
    model_dir = out_dir / core.MODEL_DIR
    latest = latest_checkpoint(out_dir)
    if latest is not None and (model_dir / "config.json").exists():
        metrics = json.loads((latest / "metrics.json").read_text())
        return LocalRun(metrics["step"], metrics, model_dir)  # this job already finished here
    device = torch.device(device) if device is not None else default_device()
    student = open_student(base_dir, config.lora)
    examples = core.encode_rows(student, config, enumerate(rows, start=1))
    hooks = LocalHooks(out_dir, config.keep_checkpoints, on_event, should_stop)
    outcome = core.train(config, student, examples, core.Placement(device=device), hooks, resume=latest)
    if outcome.cancelled:
        return LocalRun(outcome.step, outcome.metrics, None, cancelled=True)
    final = latest_checkpoint(out_dir)
    if final is None or not (final / core.MODEL_DIR / "config.json").exists():
        raise RuntimeError(f"training ended without an exported model in {final}")
    shutil.rmtree(model_dir, ignore_errors=True)
    shutil.copytree(final / core.MODEL_DIR, out_dir / ".model.partial", dirs_exist_ok=True)
    os.replace(out_dir / ".model.partial", model_dir)
    return LocalRun(outcome.step, outcome.metrics, model_dir)


def _claim(out_dir: Path, config: TrainerConfig) -> None:
    """Mark ``out_dir`` as this job's run directory, or refuse one that holds another job."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run_file = out_dir / RUN_FILE
    key = config.run_key()
    if run_file.exists():
        existing = json.loads(run_file.read_text())
        if existing.get("run_key") != key:
            raise ValueError(f"{out_dir} holds another training job (run key {existing.get('run_key')}, this job's "
                             f"is {key}): use another directory to start a new run")
        return
    partial = out_dir / f".{RUN_FILE}.partial"
    partial.write_text(json.dumps({"run_key": key, "config": config.model_dump(mode="json")}, indent=2))
    os.replace(partial, run_file)
