"""One training job from the driver's side: Ray Train fit, then the model into the registry.

Checkpoints go to ``s3://<checkpoints bucket>/runs/<team>/<out>-<run key>`` through Ray
Train's ``storage_path`` (pyarrow's S3 filesystem pointed at the configured endpoint). The run
key hashes the dataset version, the student and every hyper-parameter, so submitting the
same job again -- after a crash, a cancel, a restart of the service -- continues from the last
checkpoint, while a changed job starts fresh.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs
import ray
import ray.train
from ray.train.torch import TorchTrainer

from distillery.core.s3 import S3Config
from distillery.trainer.trainer_config import TrainerConfig
from distillery.trainer.loop import MODEL_DIR, train_loop_per_worker
from distillery.trainer.monitor import RunMonitor
from distillery.trainer.registration import register_model

# How Ray words a worker its memory monitor killed (OutOfMemoryError is not always the type
# that reaches the driver: Ray Train wraps the worker group's failure).
OOM_MARKS = ("OutOfMemoryError", "running low on memory", "ran out of memory", "memory pressure")


class TrainingCancelled(Exception):
    """The run stopped at a step boundary before its last step, after writing a checkpoint there."""

    def __init__(self, step: int) -> None:
        super().__init__(f"cancelled at step {step} after writing a checkpoint there; submit the same job again to "
                         "resume from it")
        self.step = step


@dataclass
class TrainingResult:
    model: str  # TEAM/NAME@VERSION
    steps: int
    metrics: dict


def checkpoint_filesystem(s3: S3Config) -> pyarrow.fs.S3FileSystem:
    filesystem = pyarrow.fs.S3FileSystem(
        access_key=s3.access_key, secret_key=s3.secret_key.get_secret_value(), endpoint_override=s3.endpoint,
        scheme="https" if s3.secure else "http", region=s3.region or "us-east-1", allow_bucket_creation=True,
        tls_ca_file_path=str(s3.ca_bundle) if s3.ca_bundle else None)
    if filesystem.get_file_info(s3.bucket).type == pyarrow.fs.FileType.NotFound:
        filesystem.create_dir(s3.bucket)
    return filesystem


def storage_path(s3: S3Config, team: str) -> str:
    return f"{s3.bucket}/runs/{team}"


def run_name(config: TrainerConfig) -> str:
    return f"{config.out}-{config.run_key()}"


def loop_config(config: TrainerConfig) -> dict:
    """What Ray Train hands each worker of the job (the config, as JSON: it crosses processes)."""
    return {"train": config.model_dump(mode="json")}


def run_training(config: TrainerConfig, team: str, registry_address: str, token: str, checkpoints: S3Config,
                 monitor: ray.actor.ActorHandle, share: bool = False) -> TrainingResult:
    """Blocks until the run ends; raises TrainingCancelled or the run's error.

    ``config.dataset`` is a pinned ``TEAM/NAME@VERSION`` of a thought dataset (the service
    resolves and checks what the caller named before the job is queued).
    """
    dataset_ref = config.dataset
    from distillery.trainer.students import base_model_dir  # transformers: only once a job runs

    # Convert an alias or pull a registry model once here, not in every worker at the same time
    # (workers on this machine then find it; workers on other nodes fetch their own copy, each
    # after the registry has checked the job's token).
    base_model_dir(config.base, registry_address, token)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={**loop_config(config), "dataset_ref": dataset_ref,
                           "registry_address": registry_address, "token": token, "monitor": monitor},
        scaling_config=ray.train.ScalingConfig(num_workers=config.workers, use_gpu=config.use_gpu,
                                               resources_per_worker={"CPU": config.cpus_per_worker}),
        run_config=ray.train.RunConfig(
            name=run_name(config), storage_path=storage_path(checkpoints, team),
            storage_filesystem=checkpoint_filesystem(checkpoints),
            failure_config=ray.train.FailureConfig(max_failures=config.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=config.keep_checkpoints)),
    )
    result = trainer.fit()
    if result.error:
        raise result.error
    metrics = dict(result.metrics or {})
    if result.checkpoint is None:
        raise RuntimeError("training finished without a checkpoint")
    if not metrics.get("final"):
        # Stopped early. Whether it was asked to is this job's own cancel (its monitor), never
        # something read back from the checkpoint, which the next submission resumes from.
        if ray.get(monitor.cancelled.remote()):
            raise TrainingCancelled(int(metrics.get("step", 0)))
        raise RuntimeError(f"training stopped at step {metrics.get('step')} before its last step, uncancelled")
    return TrainingResult(_register(config, dataset_ref, result.checkpoint, metrics, registry_address, token, share),
                          int(metrics.get("step", 0)), metrics)


def _register(config: TrainerConfig, dataset_ref: str, checkpoint: ray.train.Checkpoint, metrics: dict,
              registry_address: str, token: str, share: bool) -> str:
    staging = Path(tempfile.mkdtemp(prefix="distillery-model-"))
    try:
        checkpoint.to_directory(str(staging))
        return register_model(config, dataset_ref, staging / MODEL_DIR, metrics, f"s3://{checkpoint.path}",
                              registry_address=registry_address, token=token, share=share, launcher="ray")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def killed_for_memory(error: BaseException) -> bool:
    """Whether Ray's OOM killer (or the kernel's, as Ray reports it) ended a worker."""
    chain, seen = error, set()
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        if isinstance(chain, ray.exceptions.OutOfMemoryError):
            return True
        text = str(chain)
        if any(mark in text for mark in OOM_MARKS):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


def ensure_ray(address: str | None, num_cpus: int | None, attempts: int = 3) -> None:
    """Join the configured cluster, or start a local one (laptop / tests / one machine)."""
    if ray.is_initialized():
        return
    options = ({"address": address} if address else
               {"num_cpus": num_cpus, "include_dashboard": False, "configure_logging": False})
    for attempt in range(1, attempts + 1):
        try:
            ray.init(namespace="distillery-trainer", log_to_driver=False, **options)
            return
        except Exception:  # a local head that loses a start-up race with another one on the machine
            ray.shutdown()
            if attempt == attempts:
                raise
            time.sleep(2 * attempt)


def new_monitor() -> ray.actor.ActorHandle:
    return RunMonitor.remote()

