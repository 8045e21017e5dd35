"""A trained student into the registry, with its lineage: the same for every launcher."""

from __future__ import annotations

import subprocess
from pathlib import Path

import distillery
from distillery.registry.client import RegistryClient, header
from distillery.trainer.trainer_config import TrainerConfig


def code_version() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(distillery.__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"distillery {distillery.__version__}" + (f" ({sha})" if sha else "")


def register_model(config: TrainerConfig, dataset_ref: str, model_dir: Path, metrics: dict, checkpoint: str, *,
                   registry_address: str, token: str, share: bool, launcher: str) -> str:
    """Push the exported HF directory ``model_dir`` as ``config.out``; returns TEAM/NAME@VERSION."""
    if not (model_dir / "config.json").exists():
        raise RuntimeError(f"{checkpoint} holds no exported model")
    lineage = {"base": config.base, "dataset": dataset_ref, "recipe": config.recipe, "launcher": launcher,
               "hyperparameters": config.model_dump(mode="json", exclude={"dataset", "base", "out"}),
               "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, bool))},
               "checkpoint": checkpoint}
    meta = {"base": config.base, "recipe": config.recipe, "thought_types": ",".join(config.thought_types),
            "steps": str(metrics.get("step", "")), "lora": str(config.lora is not None).lower()}
    with RegistryClient(registry_address, token) as registry:
        manifest = registry.push_files(header(config.out, "model", parents=[dataset_ref], meta=meta, share=share,
                                              stage="train", config=lineage, code_version=code_version()), model_dir)
    return manifest.ref
