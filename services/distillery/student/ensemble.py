"""Combining a problem's thoughts into one answer (ETD, self-consistency): used by evaluation and serving.

A *candidate* is ``(thought_type, answer)``: the numeric answer of one thought that executed.
The combined answer is always one candidate's, so grading it stays the verifier's job (its
tolerance, against gold) -- the functions here return *which* candidate wins, never a new number.

* :func:`majority` -- the candidate whose answer (rounded to 1e-3) the most candidates share;
  any number of candidates per type (greedy thoughts, K samples each, or both).
* :func:`vote` -- ETD's vote over one answer per thought type (``majority`` on those).
* :func:`fallback` -- the first thought type, most reliable first, that produced an answer.

Ties between answers go to the answer whose best candidate comes first in (type preference
PoT > EoT > CoT, then position); within the winning answer that same best candidate is returned.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence

PREFERENCE: tuple[str, ...] = ("pot", "eot", "cot")  # most reliable first (the paper's ordering)
DECIMALS = 3  # answers that agree to 1e-3 count as one answer in a vote


def vote_key(answer: float) -> float:
    """The value a vote counts: the answer rounded to 1e-3 (``-0.0`` and ``0.0`` are one key)."""
    return round(answer, DECIMALS) + 0.0


def _rank(thought_type: str) -> int:
    return PREFERENCE.index(thought_type) if thought_type in PREFERENCE else len(PREFERENCE)


def majority(candidates: Sequence[tuple[str, float]]) -> int | None:
    """Index of the winning candidate, or ``None`` when there is none.

    The answer shared by the most candidates wins; among equally common answers, the one whose
    best candidate (most reliable type, then earliest) ranks first. That best candidate is returned.
    """
    counts: collections.Counter = collections.Counter()
    best: dict[float, int] = {}  # answer key -> index of its best candidate
    for index, (thought_type, answer) in enumerate(candidates):
        key = vote_key(answer)
        counts[key] += 1
        held = best.get(key)
        if held is None or (_rank(thought_type), index) < (_rank(candidates[held][0]), held):
            best[key] = index
    if not counts:
        return None
    top = max(counts.values())
    return min((best[key] for key, count in counts.items() if count == top),
               key=lambda i: (_rank(candidates[i][0]), i))


def vote(answers: Mapping[str, float]) -> str | None:
    """The thought type whose answer wins the majority vote (answers rounded to 1e-3); a tie
    goes to the more reliable type."""
    candidates = list(answers.items())
    winner = majority(candidates)
    return None if winner is None else candidates[winner][0]


def fallback(answers: Mapping[str, float]) -> str | None:
    """The first thought type, most reliable first, that produced an answer."""
    return next((t for t in PREFERENCE if t in answers), None)
