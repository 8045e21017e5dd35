"""Scoring a student's verified thoughts: accuracy per thought type, ETD, self-consistency, oracle.

Pure: verified rows in, result rows out. A *row* is one generated thought after verification,
with at least ``benchmark``, ``problem_id``, ``thought_type``, ``status``, ``answer`` and
``correct`` (the shape of the results dataset, so a stored evaluation can be re-scored), and
``sample``: ``-1`` (or absent) for the greedy thought, ``0..K-1`` for the K sampled ones.

Greedy thoughts, one per type (what the paper reports):

* ``cot`` / ``pot`` / ``eot`` -- the greedy thought of that type is correct.
* ``etd`` -- majority vote over the greedy answers that executed (rounded to 1e-3); a tie goes
  to the more reliable thought type, in the order PoT > EoT > CoT.
* ``etd-fallback`` -- the answer of the first greedy thought, in that order, that executed.

With K sampled thoughts per type (self-consistency, ``distillery eval --samples K``):

* ``<type>-maj@K`` -- majority vote over that type's K sampled answers that executed.
* ``<type>-pass@K`` -- any of that type's K sampled thoughts is correct.
* ``etd-maj@K`` -- majority vote over all 3K sampled answers that executed (ties: PoT > EoT > CoT,
  then the earlier sample).
* ``oracle`` -- any thought of the problem, greedy or sampled, is correct (an upper bound for
  every way of choosing among them).

A vote's answer is always one thought's answer (:func:`distillery.student.ensemble.majority`), so
it is correct exactly when that thought is: grading stays the verifier's (its tolerances), not
a second copy here.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from distillery.student.ensemble import PREFERENCE, fallback, majority, vote
from distillery.student.thought_text import THOUGHT_TYPES

METHODS: tuple[str, ...] = (*THOUGHT_TYPES, "etd")  # what may be asked for
VOTE, FALLBACK, ORACLE = "etd", "etd-fallback", "oracle"
GREEDY = -1  # the ``sample`` of a greedy thought


def maj_method(name: str, samples: int) -> str:
    """``cot-maj@8``, ``etd-maj@8``: the majority vote over the sampled thoughts."""
    return f"{name}-maj@{samples}"


def pass_method(thought_type: str, samples: int) -> str:
    """``cot-pass@8``: any of the sampled thoughts correct."""
    return f"{thought_type}-pass@{samples}"


class ResultRow(BaseModel):
    """One cell of the result table: a method's accuracy on a benchmark."""

    model_config = ConfigDict(frozen=True)

    benchmark: str
    method: str
    correct: int
    total: int
    accuracy: float


class EtdComparison(BaseModel):
    """Vote against fallback (and, with samples, the vote over all samples), summed over every benchmark."""

    model_config = ConfigDict(frozen=True)

    vote_correct: int
    fallback_correct: int
    total: int
    samples: int = 0  # K; 0 without sampled thoughts
    maj_correct: int | None = None  # etd-maj@K, when there were samples

    @property
    def better(self) -> str | None:
        """``etd`` or ``etd-fallback``; ``None`` on a tie."""
        if self.vote_correct == self.fallback_correct:
            return None
        return VOTE if self.vote_correct > self.fallback_correct else FALLBACK

    def sentence(self) -> str:
        counts = f"vote {self.vote_correct}/{self.total}, fallback {self.fallback_correct}/{self.total}"
        if self.better is None:
            text = f"ETD: majority vote and fallback tie ({counts})"
        else:
            name = "majority vote (etd)" if self.better == VOTE else "fallback order (etd-fallback)"
            text = f"ETD: {name} is better ({counts})"
        if self.maj_correct is not None:
            text += (f"; self-consistency over {3 * self.samples} samples ({maj_method(VOTE, self.samples)}) "
                     f"{self.maj_correct}/{self.total}")
        return text


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


def result_methods(methods: Iterable[str], samples: int = 0, oracle: bool | None = None) -> tuple[str, ...]:
    """The table's columns: the asked methods, ``etd`` reported as vote and fallback; with
    ``samples`` K, each type's maj@K and pass@K, ETD's maj@K; ``oracle`` last (default: with samples)."""
    columns: list[str] = []
    for method in methods:
        if method == VOTE:
            columns += [VOTE, FALLBACK] + ([maj_method(VOTE, samples)] if samples else [])
        else:
            columns += [method] + ([maj_method(method, samples), pass_method(method, samples)] if samples else [])
    if oracle if oracle is not None else samples > 0:
        columns.append(ORACLE)
    return tuple(columns)


def sample_index(row: Mapping) -> int:
    """A row's ``sample``: ``-1`` for the greedy thought (also when the field is absent or null)."""
    value = row.get("sample")
    return GREEDY if value is None else int(value)


@dataclass
class ProblemThoughts:
    """One problem's verified rows: the greedy one per type, and the sampled ones per type (in sample order)."""

    greedy: dict[str, Mapping] = field(default_factory=dict)
    sampled: dict[str, list[Mapping]] = field(default_factory=dict)

    def add(self, row: Mapping) -> None:
        index = sample_index(row)
        if index == GREEDY:
            self.greedy[row["thought_type"]] = row
        else:
            self.sampled.setdefault(row["thought_type"], []).append(row)

    def sort(self) -> None:
        for rows in self.sampled.values():
            rows.sort(key=sample_index)


def _executed(row: Mapping) -> bool:
    return row.get("status") == "ok" and row.get("answer") is not None


def _correct(row: Mapping) -> bool:
    return row.get("correct") is True


def majority_row(rows: Sequence[Mapping]) -> Mapping | None:
    """The row whose answer wins the majority vote among the rows that executed; ``None`` if none did."""
    executed = [r for r in rows if _executed(r)]
    winner = majority([(r["thought_type"], float(r["answer"])) for r in executed])
    return None if winner is None else executed[winner]


def problem_outcomes(thoughts: ProblemThoughts | Mapping[str, Mapping], samples: int = 0) -> dict[str, bool]:
    """One problem's thoughts -> method -> correct. ``thoughts`` may also be type -> greedy row."""
    if not isinstance(thoughts, ProblemThoughts):
        thoughts = ProblemThoughts(greedy=dict(thoughts))
    greedy, sampled = thoughts.greedy, thoughts.sampled
    outcomes = {t: _correct(row) for t, row in greedy.items()}
    if all(t in greedy for t in THOUGHT_TYPES):
        executed = {t: float(row["answer"]) for t, row in greedy.items() if _executed(row)}
        for method, choose in ((VOTE, vote), (FALLBACK, fallback)):
            chosen = choose(executed)
            outcomes[method] = chosen is not None and outcomes[chosen]
    if samples:
        for thought_type, rows in sampled.items():
            chosen = majority_row(rows)
            outcomes[maj_method(thought_type, samples)] = chosen is not None and _correct(chosen)
            outcomes[pass_method(thought_type, samples)] = any(_correct(r) for r in rows)
        if all(t in sampled for t in THOUGHT_TYPES):
            # PoT's samples first, then EoT's, then CoT's: the candidates' order is the tie-break.
            chosen = majority_row([r for t in sorted(sampled, key=PREFERENCE.index)
                                   for r in sampled[t]])
            outcomes[maj_method(VOTE, samples)] = chosen is not None and _correct(chosen)
    outcomes[ORACLE] = any(_correct(r) for r in (*greedy.values(), *(r for rs in sampled.values() for r in rs)))
    return outcomes



def group_rows(rows: Iterable[Mapping], benchmarks: Sequence[str]) -> dict[str, dict[str, ProblemThoughts]]:
    """benchmark -> problem id -> its thoughts (rows of other benchmarks are left out)."""
    problems: dict[str, dict[str, ProblemThoughts]] = {b: {} for b in benchmarks}
    for row in rows:
        if row["benchmark"] in problems:
            problems[row["benchmark"]].setdefault(str(row["problem_id"]), ProblemThoughts()).add(row)
    for by_id in problems.values():
        for thoughts in by_id.values():
            thoughts.sort()
    return problems


def samples_in(rows: Iterable[Mapping]) -> int:
    """K: one more than the highest ``sample`` of the rows (0 when all are greedy)."""
    return max((sample_index(r) + 1 for r in rows), default=0)


def score(rows: Iterable[Mapping], benchmarks: Sequence[str], methods: Sequence[str], samples: int = 0,
          oracle: bool | None = None) -> list[ResultRow]:
    """Result rows for every benchmark x column of :func:`result_methods`, in the order asked.

    ``total`` is the number of problems of the benchmark, so a method whose thought is
    missing for a problem counts that problem as wrong.
    """
    problems = group_rows(rows, benchmarks)
    columns = result_methods(methods, samples, oracle)
    results = []
    for benchmark in benchmarks:
        correct: collections.Counter = collections.Counter()
        for thoughts in problems[benchmark].values():
            correct.update(method for method, ok in problem_outcomes(thoughts, samples).items() if ok)
        total = len(problems[benchmark])
        results += [ResultRow(benchmark=benchmark, method=m, correct=correct[m], total=total,
                              accuracy=correct[m] / total if total else 0.0) for m in columns]
    return results


def compare_etd(results: Iterable[ResultRow]) -> EtdComparison | None:
    """Which ETD combination did better over all benchmarks; ``None`` when etd was not run."""
    totals: collections.Counter = collections.Counter()
    seen = False
    samples = 0
    for row in results:
        if row.method in (VOTE, FALLBACK):
            seen = True
            totals[row.method] += row.correct
            totals["total"] += row.total if row.method == VOTE else 0
        elif row.method.startswith(f"{VOTE}-maj@"):
            samples = int(row.method.rsplit("@", 1)[1])
            totals["maj"] += row.correct
    if not seen:
        return None
    return EtdComparison(vote_correct=totals[VOTE], fallback_correct=totals[FALLBACK], total=totals["total"],
                         samples=samples, maj_correct=totals["maj"] if samples else None)
