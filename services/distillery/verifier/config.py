"""Verifier settings: sandbox pool, per-thought-type limits, grading.

Groups:
  * execution -- ``workers``, ``pot_limits``, ``eot_limits``, ``allowed_imports``, ``require_isolation``
  * grading   -- ``grading`` (absolute / relative tolerance)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from distillery.sandbox.config import ExecutionLimits
from distillery.sandbox.policy import DEFAULT_ALLOWED_IMPORTS
from distillery.verifier.grade import GradingConfig


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
    require_isolation: tuple[str, ...] = Field(
        (), description="Isolation layers that must be present (see SandboxConfig.require); default: degrade and report."
    )
    # grading
    grading: GradingConfig = Field(default_factory=GradingConfig, description="When an answer counts as correct.")

    def with_timeout(self, timeout_s: float) -> "VerifierConfig":
        """A copy whose PoT and EoT wall-clock (and CPU) limits are ``timeout_s``."""
        return self.model_copy(update={
            "pot_limits": self.pot_limits.model_copy(update={"timeout_s": timeout_s, "cpu_time_s": None}),
            "eot_limits": self.eot_limits.model_copy(update={"timeout_s": timeout_s, "cpu_time_s": None}),
        })
