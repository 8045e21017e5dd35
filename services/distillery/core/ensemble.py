"""Combining a problem's thoughts into one answer (ETD): used by evaluation and by serving.

``answers`` maps a thought type to the numeric answer of a thought that executed. The
combined answer is always one thought's answer, so grading it stays the verifier's job.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

PREFERENCE: tuple[str, ...] = ("pot", "eot", "cot")  # most reliable first (the paper's ordering)


def vote(answers: Mapping[str, float]) -> str | None:
    """The thought type whose answer wins the majority vote (answers rounded to 1e-3); a tie
    goes to the more reliable type."""
    counts = collections.Counter(round(a, 3) for a in answers.values())
    if not counts:
        return None
    best = max(counts.values())
    return next((t for t in PREFERENCE if t in answers and counts[round(answers[t], 3)] == best), None)


def fallback(answers: Mapping[str, float]) -> str | None:
    """The first thought type, most reliable first, that produced an answer."""
    return next((t for t in PREFERENCE if t in answers), None)
