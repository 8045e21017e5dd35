"""Loading a student (causal or encoder-decoder, full or LoRA), and saving what training changes.

Resuming needs only the trainable weights (every weight, or just the LoRA adapters) and the
optimizer; the registered model is a plain HF checkpoint (adapters merged) that any
transformers/vLLM process loads without knowing it was trained here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from distillery.trainer.trainer_config import ALL_LINEAR, LoraConfig

TRAINABLE_FILE = "trainable.safetensors"
STUDENT_FILE = "distillery-student.json"  # tells loaders how the student was trained and asked


@dataclass
class StudentNetwork:
    """A loaded student being trained: its torch module, tokenizer and how it is trained."""

    model: torch.nn.Module
    tokenizer: object
    seq2seq: bool
    lora: bool


def base_model_dir(base: str, registry_address: str, token: str) -> Path:
    """The HF directory of ``base`` (an alias, or a pinned registry model) on this node.

    Registry models are asked for with the job's token each time, before the node's cache is
    used: the cached copy is handed out only to a team the registry lets read it."""
    # Imported here: the local launcher on a machine without our services needs none of it.
    from distillery.student.model_refs import resolve_student
    from distillery.registry.client import RegistryClient

    with RegistryClient(registry_address, token) as registry:
        return resolve_student(base, registry, field="base").path


def load_student(base: str, lora: LoraConfig | None = None, *, registry_address: str, token: str) -> StudentNetwork:
    return open_student(base_model_dir(base, registry_address, token), lora)


def open_student(path: Path, lora: LoraConfig | None = None) -> StudentNetwork:
    """The HF checkpoint in ``path`` as a student to train (float32 master weights, SDPA attention)."""
    config = AutoConfig.from_pretrained(path)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    model_class = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = model_class.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if lora is not None:
        from peft import LoraConfig as PeftLoraConfig, get_peft_model

        targets = ALL_LINEAR if lora.target_modules == (ALL_LINEAR,) else list(lora.target_modules)
        model = get_peft_model(model, PeftLoraConfig(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
            task_type="SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM"))
    return StudentNetwork(model, tokenizer, seq2seq, lora is not None)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # named_parameters() lists a tied weight once, so the file has no shared tensors.
    return {name: p.detach().contiguous().cpu() for name, p in model.named_parameters() if p.requires_grad}


def save_trainable(model: torch.nn.Module, directory: Path) -> None:
    from safetensors.torch import save_file

    save_file(trainable_state(model), str(directory / TRAINABLE_FILE))


def load_trainable(model: torch.nn.Module, directory: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(directory / TRAINABLE_FILE))
    expected = {name for name, p in model.named_parameters() if p.requires_grad}
    if set(state) != expected:
        raise ValueError(f"checkpoint does not match this student: {len(set(state) ^ expected)} weights differ "
                         f"(e.g. {sorted(set(state) ^ expected)[:3]})")
    model.load_state_dict(state, strict=False)


def export_student(student: StudentNetwork, directory: Path, card: dict) -> None:
    """A plain HF checkpoint (LoRA merged) plus ``distillery-student.json`` describing it."""
    model = student.model
    if student.lora:
        model = model.merge_and_unload()
    model.save_pretrained(directory, safe_serialization=True)
    student.tokenizer.save_pretrained(directory)
    # Students end every thought with the tokenizer's EOS; generation must stop there.
    model.generation_config.eos_token_id = student.tokenizer.eos_token_id
    model.generation_config.pad_token_id = student.tokenizer.pad_token_id
    model.generation_config.save_pretrained(directory)
    (directory / STUDENT_FILE).write_text(json.dumps(
        {**card, "architecture": "seq2seq" if student.seq2seq else "causal"}, indent=2, sort_keys=True))
