"""What one student deployment is: the model, its engine, its batching and its autoscaling.

Defaults serve on a laptop (CPU replicas, HF or vLLM-CPU); a GPU cluster sets ``num_gpus``.
The names follow Ray Serve's (``autoscaling_config``, ``max_ongoing_requests``,
``@serve.batch``'s ``max_batch_size`` / ``batch_wait_timeout_s``). The batch settings are the HF
engine's only: vLLM batches continuously by itself, every request joining its running batch.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # a URL path segment and a Ray Serve application name


class Autoscaling(BaseModel):
    """Ray Serve's ``autoscaling_config`` for the model replicas (the subset we expose)."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(1, ge=0, description="0 allows scale to zero (the next request waits for a replica).")
    max_replicas: int = Field(1, ge=1)
    initial_replicas: int | None = Field(None, ge=0)
    target_ongoing_requests: float = Field(8, gt=0, description="Thought requests per replica the autoscaler aims for.")
    upscale_delay_s: float = Field(3.0, ge=0)
    downscale_delay_s: float = Field(30.0, ge=0)
    metrics_interval_s: float = Field(1.0, gt=0)
    look_back_period_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Autoscaling":
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})")
        return self

    def ray_config(self) -> dict:
        config = self.model_dump(exclude_none=True)
        if self.min_replicas == 0:
            config["downscale_to_zero_delay_s"] = self.downscale_delay_s
        return config


MiB = 1024 * 1024
BODY_BYTES_CEILING = 64 * MiB  # what Serve's HTTP proxy itself refuses (serving/proxy.py), for every deployment


class Limits(BaseModel):
    """What one request may ask of a deployment, and one team at once (per ingress replica).

    A request is refused before it costs anything: the body by its Content-Length (then by the
    bytes actually streamed) before it is parsed, the shapes before any generation is queued.
    Each refusal names the limit by these field names, which are also the ``distillery serve``
    flags (``--max-body-bytes``, ...).
    """

    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(MiB, ge=1024, le=BODY_BYTES_CEILING,
                                description="Largest HTTP request body (413 beyond it).")
    max_prompts: int = Field(64, ge=1, le=4096, description="Prompts in one /v1/completions request.")
    max_choices: int = Field(64, ge=1, le=4096,
                             description="n x prompts: completions one OpenAI request may generate.")
    max_tokens: int = Field(2048, ge=1, le=4096, description="Largest max_tokens of an OpenAI request.")
    max_messages: int = Field(64, ge=1, le=4096, description="Messages in one /v1/chat/completions request.")
    max_question_chars: int = Field(4000, ge=1, le=100_000, description="Longest solve question.")
    max_solve_samples: int = Field(8, ge=0, le=64, description="Sampled thoughts per type one solve may ask for.")
    team_max_concurrent: int = Field(
        16, ge=1, le=4096,
        description="Requests one team may have in flight on an ingress replica; more get 429. Other teams "
                    "are not affected: each team is counted apart, keyed by its authenticated token's team.")


class ServeConfig(BaseModel):
    """One served student. Recorded in the Ray Serve application (``distillery serve ls``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Application name: the URL prefix /NAME and the gRPC `application` metadata.")
    model: str = Field(description="TEAM/NAME@VERSION of a registry model (pinned), or a base-model alias.")
    team: str = Field(description="The team that deployed it (its token pulls the model).")
    backend: Literal["auto", "hf", "vllm"] = Field("auto", description="auto: vLLM for a causal model when installed.")
    max_new_tokens: int = Field(320, ge=1, le=4096, description="Longest thought.")
    max_batch_size: int = Field(16, ge=1, le=1024, description="HF backend: requests per engine call "
                                "(@serve.batch); vLLM batches continuously and ignores it.")
    batch_wait_timeout_s: float = Field(0.05, ge=0, description="HF backend: how long a batch waits to fill.")
    max_ongoing_requests: int = Field(64, ge=1, description="Requests a model replica accepts at once.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    num_cpus: float = Field(1, ge=0, description="CPUs per model replica.")
    num_gpus: float = Field(0, ge=0, description="GPUs per model replica (a cluster's GPU pool).")
    ingress_replicas: int = Field(1, ge=1, description="HTTP/gRPC front replicas (light: validation, auth, verify).")
    registry: str = Field(description="host:port of the registry (tokens, model files).")
    verifier: str = Field(description="host:port of the verifier (thoughts run in its sandbox).")
    token: SecretStr = Field(description="The deploying team's token: pulls the model, calls the verifier.")
    limits: Limits = Field(default_factory=Limits, description="Request size and per-team concurrency limits.")

    @model_validator(mode="after")
    def _valid_name(self) -> "ServeConfig":
        if not NAME.fullmatch(self.name):
            raise ValueError(f"name {self.name!r}: lowercase letters, digits and '-', at most 63, "
                             "starting with a letter or digit")
        return self
