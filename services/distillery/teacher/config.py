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

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from distillery.student.model_refs import check_reference

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


def available_pools(names) -> str:
    """The tail of an unknown pool's refusal (by the teacher, or by the jobs controller at submit):
    the names a team could have used."""
    return ", ".join(names) or "none: the operator configured no pools for this team"


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
LOCAL_BACKENDS = ("hf", "vllm")  # teacher backends that load `model` from the registry
SAMPLED_FIELDS = frozenset({"temperature", "top_p", "max_tokens"})  # what only a sampling teacher uses


class Sampling(BaseModel):
    """How a teacher samples its thoughts: the one definition, used by the teacher's job config, its
    backends and a distillation job spec's ``teacher.sampling`` (:mod:`distillery.jobs.spec`).

    Not the student engine's per-call :class:`distillery.student.generation.Decoding`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(0.7, ge=0, le=2, description="0: greedy. Null in a recorded config: the "
                                                                   "teacher does not sample (annotations).")
    top_p: float | None = Field(0.95, gt=0, le=1)
    max_tokens: int | None = Field(DEFAULT_MAX_TOKENS, ge=1, le=8192,
                                   description=f"Per thought; null: the default, {DEFAULT_MAX_TOKENS}.")
    seed: int = Field(0, description="Base seed; sample i of a problem uses a seed derived from it (and variants).")

    @model_validator(mode="before")
    @classmethod
    def _default_when_null(cls, data):
        # `max_tokens: null` (a job spec may say so) means the teacher's default: recorded as the
        # number, so a config's identity names it; a null is not a choice the caller made.
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if value is not None or key not in SAMPLED_FIELDS}
        return data

    def seed_only(self) -> "Sampling":
        """What a teacher that does not sample uses of this: the seed (for variants), nothing else."""
        return Sampling.model_construct(temperature=None, top_p=None, max_tokens=None, seed=self.seed)


class TeacherGeneration(BaseModel):
    """How a teacher writes thoughts: backend, model, where it runs, thought types, samples,
    variants, sampling and the contamination guard. The one definition of these settings: a
    teacher job (:class:`TeacherJobConfig`) is this plus its problems and output; a distillation
    job spec's ``teacher:`` section is this as it is; ``Generate`` calls carry it."""

    model_config = ConfigDict(extra="forbid")

    backend: BackendName = Field("annotations", description="annotations (no LLM), hf, vllm or openai; default: "
                                                            "openai with `pool` or `endpoint`, else annotations.")
    model: str | None = Field(None, description="hf/vllm: alias or registry model [TEAM/]NAME[@VERSION] (never a "
                                                "path); openai: the API's model name; annotations: the derivation "
                                                f"format, {' or '.join(ANNOTATION_VERSIONS)} "
                                                f"(default {DEFAULT_ANNOTATION_VERSION}).")
    pool: str | None = Field(None, pattern=f"^{POOL_NAME}$",
                             description="A teacher pool the operator configured (openai): its URL and key stay "
                                         "with the teacher service.")
    endpoint: str | None = Field(None, max_length=2048,
                                 description="The team's own OpenAI-compatible base URL (openai backend), only "
                                             "where the operator allows it; sent the team's key, never the "
                                             "platform's (a job spec holds no key: it is sent none).")
    thought_types: tuple[ThoughtTypeName, ...] = Field(("eot", "pot", "cot"), min_length=1,
                                                       description="Thought types to write: cot, pot, eot.")
    samples: int = Field(1, ge=1, le=64, description="Samples per problem and thought type.")
    variants: int = Field(0, ge=0, le=MAX_VARIANTS,
                          description="Also K variants of each problem with new numbers, re-derived and verified "
                                      "(seeded by sampling.seed); 0: the problems as they are.")
    sampling: Sampling = Field(default_factory=Sampling, description="How an LLM teacher samples; the "
                                                                     "annotations teacher uses only the seed.")
    batch_size: int = Field(64, ge=1, le=4096, description="Problems per generation batch (and per checkpoint).")
    contamination_guard: tuple[str, ...] = Field(
        DEFAULT_CONTAMINATION_GUARD,
        description="`problems` datasets (as `registry import-benchmarks` names them) whose questions no output "
                    "row may carry, original or varied; [] turns the guard off.")
    no_contamination_guard: bool = Field(False, description="The guard is off (set by an empty "
                                                            "contamination_guard; recorded in the lineage).")

    @model_validator(mode="before")
    @classmethod
    def _inferred(cls, data):
        if isinstance(data, dict):
            data = dict(data)
            if not data.get("backend") and (data.get("pool") or data.get("endpoint")):
                data["backend"] = "openai"  # a pool or an endpoint is the HTTP teacher
            guard = data.get("contamination_guard")
            if guard is not None and len(guard) == 0:  # `[]` is how a spec or a caller turns it off
                data["no_contamination_guard"] = True
        return data

    @field_validator("model")
    @classmethod
    def _tenant_reference(cls, value: str | None, info: ValidationInfo) -> str | None:
        # hf / vllm load it on a shared node: never a path (it could name another team's files).
        if value is not None and info.data.get("backend") in LOCAL_BACKENDS:
            check_reference(value, None)
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, url: str | None) -> str | None:
        return None if url is None else check_endpoint_url(url)

    @field_validator("contamination_guard")
    @classmethod
    def _guard_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return check_guard_names(names)

    @field_validator("thought_types")
    @classmethod
    def _distinct(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(types)) != len(types):
            raise ValueError("repeats a type")
        return types

    @model_validator(mode="after")
    def _guard_off(self):
        if self.no_contamination_guard:
            if self.contamination_guard and "contamination_guard" in self.model_fields_set:
                raise ValueError("contamination_guard: give the datasets or no_contamination_guard, not both")
            self.contamination_guard = ()
        return self

    @model_validator(mode="after")
    def _annotation_version(self):
        if self.backend == "annotations":
            if self.model is None:
                self.model = DEFAULT_ANNOTATION_VERSION  # recorded: the job's identity names its format
            elif self.model not in ANNOTATION_VERSIONS:
                raise ValueError(f"model: {annotation_version_error()}")
            sampled = sorted(self.sampling.model_fields_set & SAMPLED_FIELDS)
            if sampled:
                raise ValueError(f"sampling.{sampled[0]}: the annotations teacher does not sample (only "
                                 "sampling.seed applies, to variants)")
            self.sampling = self.sampling.seed_only()  # recorded as it is used: no temperature
        elif self.backend in LOCAL_BACKENDS and not self.model:
            raise ValueError(f"model: backend {self.backend!r} needs `model`")
        return self

    @model_validator(mode="after")
    def _where_it_runs(self):
        if self.backend == "openai":
            if self.pool and self.endpoint:
                raise ValueError("pool: give `pool` or `endpoint`, not both")
            if not self.pool and not self.endpoint:
                raise ValueError("pool: backend 'openai' needs `pool` (one the operator configured) or `endpoint`")
            if self.endpoint and not self.model:
                raise ValueError("model: backend 'openai' with `endpoint` needs `model`")
        elif self.pool or self.endpoint:
            raise ValueError(f"{'pool' if self.pool else 'endpoint'}: only for backend 'openai', "
                             f"not {self.backend!r}")
        return self

    def job(self, *, problems: str, out: str, limit: int | None = None, share: bool = False) -> "TeacherJobConfig":
        """This generation as a dataset job on ``problems``, writing ``out``."""
        return TeacherJobConfig(**self.model_dump(exclude_unset=True), problems=problems, out=out, limit=limit,
                                share=share)

    @property
    def dataset_kind(self) -> str:
        """EoTD / PoTD / CoTD for one type, ETD for the mix (the paper's names)."""
        return f"{self.thought_types[0].upper()}D" if len(self.thought_types) == 1 else "ETD"


class TeacherJobConfig(TeacherGeneration):
    """A teacher dataset job: a generation (:class:`TeacherGeneration`) on a `problems` dataset,
    writing a verified dataset. Everything here is hashed into the job's identity and recorded
    in the dataset's lineage."""

    problems: str = Field(description="A `problems` dataset reference, e.g. gsm8k-train@1.")
    limit: int | None = Field(None, ge=1, le=(1 << 31) - 1,
                              description="Only the first N problems (slices for tests and demos).")
    out: str = Field(description="Name of the verified dataset; rejected thoughts go to OUT-rejected.")
    share: bool = Field(False, description="Let every team read the new datasets.")
