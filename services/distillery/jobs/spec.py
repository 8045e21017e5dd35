"""A distillation job spec: YAML or JSON on the wire, validated here with the path of every bad field.

Sections: ``problems`` (the dataset), ``teacher`` (backend, model, prompts' thought types,
samples, variants, sampling, contamination guard), ``student`` (base, recipe, full or LoRA,
hyper-parameters, workers and resources), ``evaluation`` (benchmarks, methods, slice, baseline)
and ``deploy`` (serve the student or not, replicas). Defaults are the laptop slice.
"""

from __future__ import annotations

import re
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from distillery.core.errors import field_errors
from distillery.teacher.config import (ANNOTATION_VERSIONS, DEFAULT_ANNOTATION_VERSION, DEFAULT_CONTAMINATION_GUARD,
                                       MAX_VARIANTS, POOL_NAME, Sampling, ThoughtTypeName, annotation_version_error,
                                       check_endpoint_url, check_guard_names)
from distillery.student.model_refs import check_reference
from distillery.trainer.trainer_config import StudentTraining
from distillery.v1 import teacher_pb2

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problems(_Section):
    dataset: str = Field("gsm8k-train", description="A `problems` dataset: NAME[@VERSION] (registry import-benchmarks).")
    limit: int | None = Field(None, ge=1, description="Only the first N problems.")


class Teacher(_Section):
    backend: Literal["annotations", "hf", "vllm", "openai"] = Field(
        "annotations", description="Default: openai with `pool` or `endpoint`, else annotations.")
    model: str | None = Field(None, description="Alias or registry model [TEAM/]NAME[@VERSION] (hf, vllm), the "
                                                "API's model name (openai), or the annotations teacher's format: "
                                                f"{' or '.join(ANNOTATION_VERSIONS)} "
                                                f"(default {DEFAULT_ANNOTATION_VERSION}).")
    pool: str | None = Field(None, pattern=f"^{POOL_NAME}$",
                             description="A teacher pool the operator configured (openai): its URL and key stay "
                                         "with the teacher service.")
    endpoint: str | None = Field(None, description="The team's own OpenAI-compatible base URL (openai), where the "
                                                   "operator allows it; sent no key (a spec holds no secrets).")
    thought_types: list[ThoughtTypeName] = Field(default_factory=lambda: ["eot", "pot", "cot"], min_length=1)
    samples: int = Field(1, ge=1, le=64)
    variants: int = Field(0, ge=0, le=MAX_VARIANTS, description="Also K variants of each problem with new numbers, "
                                                                "re-derived and verified (seeded by sampling.seed).")
    sampling: Sampling = Field(default_factory=Sampling)
    batch_size: int = Field(64, ge=1, le=4096)
    contamination_guard: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CONTAMINATION_GUARD),
        description="`problems` datasets of the team (registry import-benchmarks names) whose questions no thought "
                    "may carry, original or varied; [] turns the guard off.")

    @field_validator("model")
    @classmethod
    def _tenant_reference(cls, value: str | None, info: ValidationInfo) -> str | None:
        # hf / vllm load it on a shared node: never a path (it could name another team's files).
        if value is not None and info.data.get("backend") in ("hf", "vllm"):
            check_reference(value, None)
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, url: str | None) -> str | None:
        return None if url is None else check_endpoint_url(url)

    @field_validator("contamination_guard")
    @classmethod
    def _guard_names(cls, names: list[str]) -> list[str]:
        return list(check_guard_names(names))

    def to_teacher_job(self, problems: str, out: str, limit: int | None) -> teacher_pb2.TeacherJob:
        """The teacher service's request for this section ([] guard: turned off)."""
        sampling = teacher_pb2.Sampling(temperature=self.sampling.temperature, top_p=self.sampling.top_p,
                                        max_tokens=self.sampling.max_tokens, seed=self.sampling.seed)
        return teacher_pb2.TeacherJob(
            problems=problems, limit=limit or 0, backend=self.backend, model=self.model or "", pool=self.pool or "",
            endpoint=self.endpoint or "", thought_types=self.thought_types, samples=self.samples, sampling=sampling,
            out=out, batch_size=self.batch_size, variants=self.variants,
            contamination_guard=self.contamination_guard, no_contamination_guard=not self.contamination_guard)

    @model_validator(mode="after")
    def _backend_needs(self) -> "Teacher":
        if "backend" not in self.model_fields_set and (self.pool or self.endpoint):
            self.backend = "openai"  # a pool or an endpoint is the HTTP teacher
        if self.backend == "annotations" and not self.pool and not self.endpoint:
            if self.model is None:  # the format is part of the stage's key: a new default makes new thoughts
                self.model = DEFAULT_ANNOTATION_VERSION
            elif self.model not in ANNOTATION_VERSIONS:
                raise ValueError(f"model: {annotation_version_error()}")
        if self.backend in ("hf", "vllm") and not self.model:
            raise ValueError(f"backend {self.backend!r} needs `model`")
        if self.backend == "openai":
            if bool(self.pool) == bool(self.endpoint):
                raise ValueError("backend 'openai' needs `pool` (one the operator configured) or `endpoint`, "
                                 "not both")
            if self.endpoint and not self.model:
                raise ValueError("backend 'openai' with `endpoint` needs `model`")
        elif self.pool or self.endpoint:
            raise ValueError(f"`{'pool' if self.pool else 'endpoint'}` is for backend 'openai', not {self.backend!r}")
        return self


# The trainer's own contract, as it is: every field of a training job but its dataset and output
# name (the stages fill those in); `recipe` and `gpu` are accepted for `thought_types` / `use_gpu`.
Student = StudentTraining


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
        if not NAME.fullmatch(self.name):
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
