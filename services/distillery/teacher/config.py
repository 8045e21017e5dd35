"""What a teacher job does. Groups: input (``problems``), generation (``backend``, ``model``,
``endpoint``, ``thought_types``, ``samples``, ``sampling``), output (``out``), execution (``batch_size``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ThoughtTypeName = Literal["cot", "pot", "eot"]
BackendName = Literal["annotations", "hf", "vllm", "openai"]


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.7, ge=0, le=2, description="0: greedy.")
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(384, ge=1, le=8192, description="Per thought.")
    seed: int = Field(0, description="Base seed; sample i of a problem uses a seed derived from it.")


class TeacherJobConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # input
    problems: str = Field(description="A `problems` dataset reference, e.g. gsm8k-train@1.")
    limit: int | None = Field(None, ge=1, description="Only the first N problems (slices for tests and demos).")
    # generation
    backend: BackendName = Field("annotations", description="annotations (no LLM), hf, vllm or openai.")
    model: str | None = Field(None, description="HF directory or alias (smollm2-135m-instruct); hf/vllm/openai.")
    endpoint: str | None = Field(None, description="OpenAI-compatible base URL (openai backend).")
    thought_types: tuple[ThoughtTypeName, ...] = Field(("cot", "pot", "eot"), min_length=1)
    samples: int = Field(1, ge=1, le=64, description="Samples per problem and thought type.")
    sampling: Sampling = Field(default_factory=Sampling)
    # output
    out: str = Field(description="Name of the verified dataset; rejected thoughts go to OUT-rejected.")
    share: bool = False
    # execution
    batch_size: int = Field(64, ge=1, le=4096, description="Problems per generation batch (and per checkpoint).")

    @field_validator("thought_types")
    @classmethod
    def _distinct(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(types)) != len(types):
            raise ValueError("thought_types repeats a type")
        return types

    @property
    def dataset_kind(self) -> str:
        """EoTD / PoTD / CoTD for one type, ETD for the mix (the paper's names)."""
        return f"{self.thought_types[0].upper()}D" if len(self.thought_types) == 1 else "ETD"
