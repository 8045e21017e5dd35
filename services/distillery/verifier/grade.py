"""Grading: is a predicted answer the gold answer?"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class GradingConfig(BaseModel):
    """Tolerances; a prediction is correct when within ``abs_tol`` *or* ``rel_tol`` of gold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    abs_tol: float = Field(1e-3, ge=0, description="Absolute tolerance: |pred - gold| < abs_tol (the paper's rule).")
    rel_tol: float = Field(0.0, ge=0, description="Relative tolerance: |pred - gold| <= rel_tol * |gold|. 0 disables it.")


def is_correct(answer: float | None, gold: float | None, config: GradingConfig = GradingConfig()) -> bool | None:
    """``None`` when there is no gold to compare with; ``False`` when there is no answer."""
    if gold is None:
        return None
    if answer is None or not math.isfinite(answer):
        return False
    difference = abs(answer - gold)
    return difference < config.abs_tol or (config.rel_tol > 0 and difference <= config.rel_tol * abs(gold))
