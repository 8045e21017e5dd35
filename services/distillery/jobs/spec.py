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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from distillery.core.errors import field_errors
from distillery.teacher.config import TeacherGeneration
from distillery.trainer.trainer_config import StudentTraining

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problems(_Section):
    dataset: str = Field("gsm8k-train", description="A `problems` dataset: NAME[@VERSION] (registry import-benchmarks).")
    limit: int | None = Field(None, ge=1, description="Only the first N problems.")


# The teacher's own contract, as it is: how thoughts are generated, without the problems and
# the output name (the stages fill those in).
Teacher = TeacherGeneration


# The trainer's own contract, as it is: every field of a training job but its dataset and output
# name (the stages fill those in); `recipe` and `gpu` are accepted for `thought_types` / `use_gpu`.
Student = StudentTraining


class Evaluation(_Section):
    enabled: bool = Field(True, description="Evaluate the student (and the base model) after training.")
    benchmarks: list[Literal["gsm8k", "svamp", "asdiv", "multiarith"]] = Field(
        default_factory=lambda: ["gsm8k", "svamp", "asdiv", "multiarith"], min_length=1,
        description="Test sets, from the public benchmark namespace (or the team's own import).")
    methods: list[Literal["cot", "pot", "eot", "etd"]] = Field(
        default_factory=lambda: ["cot", "pot", "eot", "etd"], min_length=1,
        description="How the student answers: one thought type, or etd (every type, verified answers voted).")
    limit: int | None = Field(None, ge=1, description="First N problems of each benchmark.")
    baseline: bool = Field(True, description="Also evaluate the base model (before).")
    backend: Literal["auto", "hf", "vllm"] = Field("auto", description="Generation engine; auto: vLLM where it "
                                                                        "runs, else HF.")
    max_new_tokens: int = Field(320, ge=1, le=8192, description="Longest thought the student may write.")


class Deploy(_Section):
    enabled: bool = Field(False, description="Serve the student on Ray Serve when the job succeeds.")
    name: str | None = Field(None, description="Deployment name (default: the job's).")
    min_replicas: int = Field(1, ge=0, description="Replicas kept running (0: scale to zero when idle).")
    max_replicas: int = Field(1, ge=1, description="Most replicas the autoscaler may start.")
    backend: Literal["auto", "hf", "vllm"] = Field("auto", description="Generation engine; auto: vLLM where it runs, "
                                                                        "else HF.")


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

    @model_validator(mode="after")
    def _student_learns_what_the_teacher_writes(self) -> "JobSpec":
        # A type the teacher never writes leaves the student's recipe without data for it: the job
        # would train on less than it says (etd without CoT is eotd+potd), so refuse it here.
        missing = [t for t in self.student.thought_types if t not in self.teacher.thought_types]
        if missing:
            raise ValueError(
                f"student.thought_types (recipe {self.student.recipe}: {', '.join(self.student.thought_types)}) "
                f"needs {', '.join(missing)} thoughts, which teacher.thought_types "
                f"({', '.join(self.teacher.thought_types)}) does not generate: add them to teacher.thought_types, "
                "or train on fewer types")
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
