"""A distillation job spec: YAML or JSON on the wire, validated here with the path of every bad field.

Sections: ``problems`` (the dataset), ``teacher`` (backend, model, prompts' thought types,
samples, sampling), ``student`` (base, recipe, full or LoRA,
hyper-parameters, workers and resources), ``evaluation`` (benchmarks, methods, slice, baseline)
and ``deploy`` (serve the student or not, replicas). Defaults are the laptop slice.
"""

from __future__ import annotations

import re
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from distillery.core.errors import field_errors

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
ThoughtType = Literal["cot", "pot", "eot"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problems(_Section):
    dataset: str = Field("gsm8k-train", description="A `problems` dataset: NAME[@VERSION] (registry import-benchmarks).")
    limit: int | None = Field(None, ge=1, description="Only the first N problems.")


class Sampling(_Section):
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=8192)
    seed: int = 0


class Teacher(_Section):
    backend: Literal["annotations", "hf", "vllm", "openai"] = "annotations"
    model: str | None = Field(None, description="HF directory or alias (hf, vllm), or the API's model name (openai).")
    endpoint: str | None = Field(None, description="OpenAI-compatible base URL (openai); the key stays a secret.")
    thought_types: list[ThoughtType] = Field(default_factory=lambda: ["eot", "pot", "cot"], min_length=1)
    samples: int = Field(1, ge=1, le=64)
    sampling: Sampling = Field(default_factory=Sampling)
    batch_size: int = Field(64, ge=1, le=4096)

    @model_validator(mode="after")
    def _backend_needs(self) -> "Teacher":
        if self.backend in ("hf", "vllm", "openai") and not self.model:
            raise ValueError(f"backend {self.backend!r} needs `model`")
        if self.backend == "openai" and not self.endpoint:
            raise ValueError("backend 'openai' needs `endpoint`")
        return self


class Lora(_Section):
    r: int = Field(16, ge=1)


class Student(_Section):
    base: str = Field("smollm2-135m-instruct", description="Alias or HF directory the student starts from.")
    recipe: Literal["etd", "eotd", "potd", "cotd"] = Field("etd", description="Thought types learned (the paper's).")
    lora: Lora | None = None
    epochs: float | None = Field(None, gt=0)
    max_steps: int | None = Field(None, ge=1)
    learning_rate: float | None = Field(None, gt=0)
    batch_tokens: int | None = Field(None, ge=64)
    max_length: int | None = Field(None, ge=16)
    checkpoint_every: int | None = Field(None, ge=1)
    seed: int | None = None
    workers: int = Field(2, ge=1, le=256)
    gpu: bool = Field(False, description="One GPU per worker.")

    @model_validator(mode="after")
    def _one_length(self) -> "Student":
        if self.epochs is not None and self.max_steps is not None:
            raise ValueError("`epochs` and `max_steps` exclude each other")
        return self


class Evaluation(_Section):
    enabled: bool = True
    benchmarks: list[Literal["gsm8k", "svamp", "asdiv", "multiarith"]] = Field(
        default_factory=lambda: ["gsm8k", "svamp", "asdiv", "multiarith"], min_length=1)
    methods: list[Literal["cot", "pot", "eot", "etd"]] = Field(default_factory=lambda: ["cot", "pot", "eot", "etd"],
                                                               min_length=1)
    limit: int | None = Field(None, ge=1, description="First N problems of each benchmark.")
    baseline: bool = Field(True, description="Also evaluate the base model (before).")
    backend: Literal["auto", "hf", "vllm"] = "auto"
    max_new_tokens: int = Field(320, ge=1, le=8192)


class Deploy(_Section):
    enabled: bool = False
    name: str | None = Field(None, description="Deployment name (default: the job's).")
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    backend: Literal["auto", "hf", "vllm"] = "auto"


class Retries(_Section):
    attempts: int = Field(3, ge=1, le=10, description="Tries per stage before the job fails.")
    backoff_s: float = Field(5.0, ge=0, description="Wait before the 2nd try; doubles each time.")


class JobSpec(_Section):
    name: str = Field(description="Names the outputs: NAME-thoughts, NAME-student, eval-….")
    problems: Problems = Field(default_factory=Problems)
    teacher: Teacher = Field(default_factory=Teacher)
    student: Student = Field(default_factory=Student)
    evaluation: Evaluation = Field(default_factory=Evaluation)
    deploy: Deploy = Field(default_factory=Deploy)
    retries: Retries = Field(default_factory=Retries)

    @model_validator(mode="after")
    def _name(self) -> "JobSpec":
        if not NAME.match(self.name):
            raise ValueError(f"name {self.name!r}: lowercase letters, digits and '-', at most 41")
        return self


class SpecError(ValueError):
    """A spec that cannot be used; the message names every bad field by its path."""


def parse_spec(text: str, source: str = "spec") -> JobSpec:
    """YAML or JSON text -> a JobSpec; SpecError naming each bad field (``student.workers: ...``)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a job spec is a mapping, got {type(data).__name__}")
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: {field_errors(exc.errors(), whole='spec')}") from None
