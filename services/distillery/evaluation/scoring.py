"""Scoring a student's verified thoughts: accuracy per thought type and the two ETD combinations.

Pure: verified rows in, result rows out. A *row* is one generated thought after verification,
with at least ``benchmark``, ``problem_id``, ``thought_type``, ``status``, ``answer`` and
``correct`` (the shape of the results dataset, so a stored evaluation can be re-scored).

ETD asks for all three thought types and combines them two ways:

* ``etd`` -- majority vote over the answers of the thoughts that executed (answers rounded to
  1e-3); a tie goes to the more reliable thought type, in the order PoT > EoT > CoT.
* ``etd-fallback`` -- the answer of the first thought type, in that order, that executed.

Either way the combined answer is one thought's answer, so it is correct exactly when that
thought is: grading stays the verifier's (its tolerances), not a second copy here.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from distillery.core.ensemble import fallback, vote
from distillery.core.thought_text import THOUGHT_TYPES

METHODS: tuple[str, ...] = (*THOUGHT_TYPES, "etd")  # what may be asked for
VOTE, FALLBACK = "etd", "etd-fallback"


class ResultRow(BaseModel):
    """One cell of the result table: a method's accuracy on a benchmark."""

    model_config = ConfigDict(frozen=True)

    benchmark: str
    method: str
    correct: int
    total: int
    accuracy: float


class EtdComparison(BaseModel):
    """Vote against fallback, summed over every benchmark."""

    model_config = ConfigDict(frozen=True)

    vote_correct: int
    fallback_correct: int
    total: int

    @property
    def better(self) -> str | None:
        """``etd`` or ``etd-fallback``; ``None`` on a tie."""
        if self.vote_correct == self.fallback_correct:
            return None
        return VOTE if self.vote_correct > self.fallback_correct else FALLBACK

    def sentence(self) -> str:
        counts = f"vote {self.vote_correct}/{self.total}, fallback {self.fallback_correct}/{self.total}"
        if self.better is None:
            return f"ETD: majority vote and fallback tie ({counts})"
        name = "majority vote (etd)" if self.better == VOTE else "fallback order (etd-fallback)"
        return f"ETD: {name} is better ({counts})"


def parse_choices(text: str | Sequence[str], choices: Iterable[str], what: str) -> tuple[str, ...]:
    """``"a, B,a"`` -> ``("a", "b")``; ValueError naming what is not one of ``choices``."""
    items = text.split(",") if isinstance(text, str) else text
    names = tuple(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    choices = tuple(choices)
    unknown = [n for n in names if n not in choices]
    if unknown or not names:
        given = f"unknown {what}(s) {', '.join(unknown)}" if unknown else f"no {what} given"
        raise ValueError(f"{given}; choose from {', '.join(choices)}")
    return names


def parse_methods(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"cot,pot,etd"`` -> ``("cot", "pot", "etd")``; ValueError naming an unknown method."""
    return parse_choices(text, METHODS, "method")


def thought_types_for(methods: Iterable[str]) -> tuple[str, ...]:
    """The thought types the methods need, in the canonical order (``etd`` needs all three)."""
    wanted = {t for m in methods for t in (THOUGHT_TYPES if m == VOTE else (m,))}
    return tuple(t for t in THOUGHT_TYPES if t in wanted)


def result_methods(methods: Iterable[str]) -> tuple[str, ...]:
    """The table's columns: the asked methods, with ``etd`` reported as vote and fallback."""
    return tuple(c for m in methods for c in ((VOTE, FALLBACK) if m == VOTE else (m,)))


def problem_outcomes(thoughts: Mapping[str, Mapping]) -> dict[str, bool]:
    """One problem's thoughts (type -> verified row) -> method -> correct."""
    outcomes = {t: row.get("correct") is True for t, row in thoughts.items()}
    executed = {t: float(row["answer"]) for t, row in thoughts.items()
                if row.get("status") == "ok" and row.get("answer") is not None}
    if all(t in thoughts for t in THOUGHT_TYPES):
        for method, choose in ((VOTE, vote), (FALLBACK, fallback)):
            chosen = choose(executed)
            outcomes[method] = chosen is not None and outcomes[chosen]
    return outcomes


def score(rows: Iterable[Mapping], benchmarks: Sequence[str], methods: Sequence[str]) -> list[ResultRow]:
    """Result rows for every benchmark x method (``etd`` expanded), in the order asked.

    ``total`` is the number of problems of the benchmark, so a method whose thought is
    missing for a problem counts that problem as wrong.
    """
    problems: dict[str, dict[str, dict[str, Mapping]]] = {b: {} for b in benchmarks}
    for row in rows:
        if row["benchmark"] in problems:
            problems[row["benchmark"]].setdefault(str(row["problem_id"]), {})[row["thought_type"]] = row
    results = []
    for benchmark in benchmarks:
        correct: collections.Counter = collections.Counter()
        for thoughts in problems[benchmark].values():
            correct.update(method for method, ok in problem_outcomes(thoughts).items() if ok)
        total = len(problems[benchmark])
        results += [ResultRow(benchmark=benchmark, method=m, correct=correct[m], total=total,
                              accuracy=correct[m] / total if total else 0.0) for m in result_methods(methods)]
    return results


def compare_etd(results: Iterable[ResultRow]) -> EtdComparison | None:
    """Which ETD combination did better over all benchmarks; ``None`` when etd was not run."""
    totals = collections.Counter()
    seen = False
    for row in results:
        if row.method in (VOTE, FALLBACK):
            seen = True
            totals[row.method] += row.correct
            totals["total"] += row.total if row.method == VOTE else 0
    if not seen:
        return None
    return EtdComparison(vote_correct=totals[VOTE], fallback_correct=totals[FALLBACK], total=totals["total"])
