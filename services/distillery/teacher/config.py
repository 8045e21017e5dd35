"""What a teacher job does. Groups: input (``problems``), generation (``backend``, ``model``,
``pool`` / ``endpoint``, ``thought_types``, ``samples``, ``sampling``), output (``out``), execution
(``batch_size``).

A job names *where* an HTTP teacher runs only by ``pool`` (the operator's named endpoints, see
:mod:`distillery.teacher.pools`) or, where the operator allows it, by its own ``endpoint``. No key
is part of a job: the whole config is hashed into the job's identity and stored in the dataset's
lineage."""

from __future__ import annotations

from typing import Literal

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ThoughtTypeName = Literal["cot", "pot", "eot"]
BackendName = Literal["annotations", "hf", "vllm", "openai"]
POOL_NAME = r"[a-z0-9][a-z0-9-]{0,30}"


def check_endpoint_url(url: str) -> str:
    """An http(s) base URL with a host and nothing that could smuggle credentials or a second target."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (user:password@)")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    try:
        parts.port  # noqa: B018 -- raises on a malformed port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return url


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
    model: str | None = Field(None, description="hf/vllm: alias or registry ref; openai: one of the pool's models.")
    pool: str | None = Field(None, pattern=f"^{POOL_NAME}$",
                             description="A teacher pool the operator configured (openai backend).")
    endpoint: str | None = Field(None, max_length=2048,
                                 description="The team's own OpenAI-compatible base URL (openai backend), only "
                                             "where the operator allows it; sent the team's key, never the platform's.")
    thought_types: tuple[ThoughtTypeName, ...] = Field(("cot", "pot", "eot"), min_length=1)
    samples: int = Field(1, ge=1, le=64, description="Samples per problem and thought type.")
    sampling: Sampling = Field(default_factory=Sampling)
    # output
    out: str = Field(description="Name of the verified dataset; rejected thoughts go to OUT-rejected.")
    share: bool = False
    # execution
    batch_size: int = Field(64, ge=1, le=4096, description="Problems per generation batch (and per checkpoint).")

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, url: str | None) -> str | None:
        return None if url is None else check_endpoint_url(url)

    @model_validator(mode="after")
    def _where_it_runs(self) -> "TeacherJobConfig":
        if self.backend == "openai":
            if self.pool and self.endpoint:
                raise ValueError("pool: give `pool` or `endpoint`, not both")
            if not self.pool and not self.endpoint:
                raise ValueError("pool: backend 'openai' needs `pool` (one the operator configured)")
            if self.endpoint and not self.model:
                raise ValueError("model: backend 'openai' with `endpoint` needs `model`")
        elif self.pool or self.endpoint:
            raise ValueError(f"{'pool' if self.pool else 'endpoint'}: only for backend 'openai', "
                             f"not {self.backend!r}")
        return self

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
