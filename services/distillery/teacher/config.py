"""What a teacher job does. Groups: input (``problems``, ``contamination_guard``), generation
(``backend``, ``model``, ``pool`` / ``endpoint``, ``thought_types``, ``samples``, ``variants``,
``sampling``), output (``out``), execution (``batch_size``).

A job names *where* an HTTP teacher runs only by ``pool`` (the operator's named endpoints, see
:mod:`distillery.teacher.pools`) or, where the operator allows it, by its own ``endpoint``. No key
is part of a job: the whole config is hashed into the job's identity and stored in the dataset's
lineage."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ThoughtTypeName = Literal["cot", "pot", "eot"]
BackendName = Literal["annotations", "hf", "vllm", "openai"]
POOL_NAME = r"[a-z0-9][a-z0-9-]{0,30}"
# A dataset name as the registry spells it (distillery.registry.names.NAME_RE), no team, no version.
DATASET_NAME = r"[a-z0-9][a-z0-9._-]{0,127}"

# The annotations teacher's derivation formats, chosen with `model` (v1: the first derivation;
# v2: faithful PoT / EoT / CoT). A job that names none gets the default, recorded in its config.
ANNOTATION_VERSIONS = ("gold-annotations-v1", "gold-annotations-v2")
DEFAULT_ANNOTATION_VERSION = "gold-annotations-v2"
# The evaluation sets (as `registry import-benchmarks` names them) whose questions no teacher job
# may emit or vary unless the job turns the guard off (an empty list).
DEFAULT_CONTAMINATION_GUARD = ("gsm8k-test", "svamp", "asdiv", "multiarith")
MAX_VARIANTS = 64


def annotation_version_error() -> str:
    return f"the annotations teacher has versions {', '.join(ANNOTATION_VERSIONS)}"


def check_guard_names(names) -> tuple[str, ...]:
    """Distinct registry dataset names (``NAME``, no team or version); ValueError otherwise."""
    names = tuple(names)
    for name in names:
        if not isinstance(name, str) or not re.fullmatch(DATASET_NAME, name):
            raise ValueError(f"{name!r} is not a dataset name (lowercase letters, digits, '.', '_' or '-'; "
                             "no team or @version)")
    if len(set(names)) != len(names):
        raise ValueError("repeats a dataset")
    return names


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


DEFAULT_MAX_TOKENS = 384


class Sampling(BaseModel):
    """How a teacher samples its thoughts: the one definition, used by the teacher's job config, its
    backends and a distillation job spec's ``teacher.sampling`` (:mod:`distillery.jobs.spec`).

    Not the student engine's per-call :class:`distillery.student.generation.Decoding`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.7, ge=0, le=2, description="0: greedy.")
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=1, le=8192,
                            description=f"Per thought; null: the default, {DEFAULT_MAX_TOKENS}.")
    seed: int = Field(0, description="Base seed; sample i of a problem uses a seed derived from it.")

    @field_validator("max_tokens", mode="before")
    @classmethod
    def _default_max_tokens(cls, value):
        # `max_tokens: null` (a job spec may say so) means the teacher's default: recorded as the
        # number, so a config's identity names it.
        return DEFAULT_MAX_TOKENS if value is None else value


class TeacherJobConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # input
    problems: str = Field(description="A `problems` dataset reference, e.g. gsm8k-train@1.")
    limit: int | None = Field(None, ge=1, description="Only the first N problems (slices for tests and demos).")
    # generation
    backend: BackendName = Field("annotations", description="annotations (no LLM), hf, vllm or openai.")
    model: str | None = Field(None, description="hf/vllm: alias or registry ref; openai: one of the pool's models; "
                                                "annotations: the derivation format, gold-annotations-v1 or "
                                                "gold-annotations-v2 (default).")
    pool: str | None = Field(None, pattern=f"^{POOL_NAME}$",
                             description="A teacher pool the operator configured (openai backend).")
    endpoint: str | None = Field(None, max_length=2048,
                                 description="The team's own OpenAI-compatible base URL (openai backend), only "
                                             "where the operator allows it; sent the team's key, never the platform's.")
    thought_types: tuple[ThoughtTypeName, ...] = Field(("cot", "pot", "eot"), min_length=1)
    samples: int = Field(1, ge=1, le=64, description="Samples per problem and thought type.")
    variants: int = Field(0, ge=0, le=MAX_VARIANTS,
                          description="Also K variants of each problem with new numbers, re-derived and verified "
                                      "(seeded by sampling.seed); 0: the problems as they are.")
    contamination_guard: tuple[str, ...] = Field(
        DEFAULT_CONTAMINATION_GUARD,
        description="`problems` datasets of the caller's team (as `registry import-benchmarks` names them) whose "
                    "questions no output row may carry, original or varied; empty: the guard is off.")
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

    @field_validator("contamination_guard")
    @classmethod
    def _guard_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return check_guard_names(names)

    @model_validator(mode="after")
    def _annotation_version(self) -> "TeacherJobConfig":
        if self.backend == "annotations":
            if self.model is None:
                self.model = DEFAULT_ANNOTATION_VERSION  # recorded: the job's identity names its format
            elif self.model not in ANNOTATION_VERSIONS:
                raise ValueError(f"model: {annotation_version_error()}")
        return self

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
