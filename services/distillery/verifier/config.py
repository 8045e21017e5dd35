"""Verifier settings: sandbox pool, per-thought-type limits, isolation policy, caller limits, grading.

Groups:
  * execution -- ``workers``, ``pot_limits``, ``eot_limits``, ``allowed_imports``
  * isolation -- ``require_isolation``, ``allow_missing_isolation``
  * callers   -- ``max_thoughts_per_call``, ``max_thoughts_per_stream``, ``max_thought_chars``,
                 ``max_inflight_thoughts_per_team``, ``max_calls_per_team`` (a "team" is a caller's
                 token hash: the verifier may not know team names)
  * grading   -- ``grading`` (absolute / relative tolerance)
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from distillery.sandbox.config import ExecutionLimits
from distillery.sandbox.isolation import LAYERS, check_layers
from distillery.sandbox.policy import DEFAULT_ALLOWED_IMPORTS
from distillery.verifier.grade import GradingConfig


def expected_layers() -> tuple[str, ...]:
    """The isolation layers a verifier in this process can be expected to have.

    seccomp and Landlock need no privilege (any kernel >= 5.13 with Landlock enabled). A network
    namespace and the drop to ``nobody`` need root: as root both are dependable; as non-root (a
    Kubernetes pod, a laptop) the drop does not apply -- the service is already unprivileged -- and a
    network namespace needs unprivileged user namespaces, which RuntimeDefault seccomp profiles and
    some distributions refuse; there sockets are still refused by seccomp and the chart's NetworkPolicy.
    """
    return ("network_namespace", "seccomp", "landlock", "privilege_drop") if os.geteuid() == 0 \
        else ("seccomp", "landlock")


def parse_layers(value: str, flag: str) -> tuple[str, ...]:
    """A comma-separated layer list from a flag; ``none``/empty: no layers. Names the flag on error."""
    layers = tuple(x.strip() for x in value.split(",") if x.strip() and x.strip() != "none")
    try:
        return check_layers(layers)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


class VerifierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # execution
    workers: int = Field(2, ge=1, le=256, description="Sandbox workers per pool (PoT and EoT each).")
    pot_limits: ExecutionLimits = Field(
        default_factory=lambda: ExecutionLimits(timeout_s=5.0, memory_mb=256),
        description="Limits for one PoT program.",
    )
    eot_limits: ExecutionLimits = Field(
        default_factory=lambda: ExecutionLimits(timeout_s=5.0, memory_mb=512),
        description="Limits for solving one EoT system (SymPy fallback included).",
    )
    allowed_imports: tuple[str, ...] = Field(DEFAULT_ALLOWED_IMPORTS, description="Modules PoT programs may import.")
    # isolation
    require_isolation: tuple[str, ...] = Field(
        default_factory=expected_layers,
        description=("Isolation layers that must be present or the verifier refuses to start. Default: every "
                     "layer this process can be expected to have (see expected_layers)."),
    )
    allow_missing_isolation: tuple[str, ...] = Field(
        (), description=("Required layers the verifier may run without, on purpose (an operator's override); "
                         "reported by GetInfo (overridden_layers, degraded) and the isolation-layer metric."),
    )
    # callers (0: unlimited). Per-call caps are INVALID_ARGUMENT, per-team limits RESOURCE_EXHAUSTED.
    max_thoughts_per_call: int = Field(4096, ge=0, description="Thoughts one Verify request may carry.")
    max_thoughts_per_stream: int = Field(1_000_000, ge=0, description="Thoughts one VerifyStream may carry.")
    max_thought_chars: int = Field(64 * 1024, ge=0, description="Characters of one thought's text.")
    max_inflight_thoughts_per_team: int = Field(
        4096, ge=0, description=("Thoughts of one caller token accepted and not yet answered; a Verify over it is "
                                 "refused, a stream waits for its earlier thoughts."))
    max_calls_per_team: int = Field(
        32, ge=0, description="Concurrent Verify/VerifyStream calls of one caller token (each holds a server thread).")
    # grading
    grading: GradingConfig = Field(default_factory=GradingConfig, description="When an answer counts as correct.")

    @field_validator("require_isolation", "allow_missing_isolation")
    @classmethod
    def _known_layers(cls, layers: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(check_layers(layers)))

    @model_validator(mode="after")
    def _batch_fits_the_team_limit(self) -> "VerifierConfig":
        # A Verify is admitted whole: a batch over the team's in-flight limit could never run.
        if self.max_inflight_thoughts_per_team and (
                not self.max_thoughts_per_call or self.max_thoughts_per_call > self.max_inflight_thoughts_per_team):
            raise ValueError(f"max_thoughts_per_call ({self.max_thoughts_per_call or 'unlimited'}) must not exceed "
                             f"max_inflight_thoughts_per_team ({self.max_inflight_thoughts_per_team})")
        return self

    @property
    def enforced_isolation(self) -> tuple[str, ...]:
        """Required layers without an override: the sandbox refuses to start without them."""
        return tuple(layer for layer in self.require_isolation if layer not in self.allow_missing_isolation)

    def isolation_states(self, missing: list[str]) -> dict[str, str]:
        """Each layer's state given the report's missing layers: present, missing (not required) or
        overridden (required, missing, allowed by an operator)."""
        return {layer: "present" if layer not in missing
                else "overridden" if layer in self.require_isolation and layer in self.allow_missing_isolation
                else "missing" for layer in LAYERS}

    def with_timeout(self, timeout_s: float) -> "VerifierConfig":
        """A copy whose PoT and EoT wall-clock (and CPU) limits are ``timeout_s``."""
        return self.model_copy(update={
            "pot_limits": self.pot_limits.model_copy(update={"timeout_s": timeout_s, "cpu_time_s": None}),
            "eot_limits": self.eot_limits.model_copy(update={"timeout_s": timeout_s, "cpu_time_s": None}),
        })
