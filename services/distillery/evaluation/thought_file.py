"""Grading thoughts generated elsewhere (``distillery eval --score FILE``).

A machine without our services -- a GPU box with torch and transformers only -- generates the
student's thoughts and writes them as JSONL, one generated thought per line::

    {"benchmark": "gsm8k", "id": "gsm8k-test-0", "question": "Janet's ducks ...", "answer": 18,
     "thought_type": "pot", "sample": -1, "text": "eggs = 16\\n..."}

* ``benchmark`` -- a short benchmark name (``gsm8k``, ``svamp``, ``asdiv``, ``multiarith``, or any
  other name of lowercase letters, digits, ``.``, ``_``, ``-``): the table's rows, in first-seen order.
* ``id`` -- the problem's id as in the registry's ``problems`` rows (string or integer).
* ``question`` -- the problem's question (kept in the verified rows).
* ``answer`` -- the gold answer: a number, or a numeric string (``"1,200"``, ``"$5"``).
* ``thought_type`` -- ``"pot"``, ``"eot"`` or ``"cot"``.
* ``sample`` -- ``-1`` for the greedy thought, ``0..K-1`` for the K sampled ones.
* ``text`` -- the raw generated text, as decoded (special tokens skipped); it is cut like every
  student thought here (at the next ``Question:``, a PoT code fence unwrapped) before grading.

Other fields are ignored. A problem's rows must agree on ``question`` and ``answer``; one
``(benchmark, id, thought_type, sample)`` may appear once. A bad line stops the grading with an
error naming the file, the line and the field. Every thought then goes through the sandboxed
verifier (PoT executed in the sandbox, EoT solved, CoT parsed; graded against ``answer``) and
is scored by :mod:`.scoring`: per type greedy (and maj@K, pass@K when samples are there), ETD's
vote and fallback when all three types are there (and maj@K over all samples), and the oracle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from distillery.core.errors import field_errors
from distillery.core.jsonl import InvalidLine, read_objects
from distillery.student.thought_text import THOUGHT_TYPES, clean_thought
from distillery.evaluation.harness import thought_id
from distillery.evaluation.scoring import VOTE, ResultRow, samples_in, score
from distillery.verifier.numbers import number_or_none
from distillery.verifier.records import ThoughtRecord, VerifyMany

BENCHMARK_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class GeneratedThought(BaseModel):
    """One line of a thoughts file (the schema in this module's docstring)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    benchmark: str
    id: str | StrictInt
    question: str
    answer: float | str
    thought_type: Literal["pot", "eot", "cot"]
    sample: StrictInt = Field(ge=-1, description="-1: the greedy thought; 0..K-1: a sampled one.")
    text: str

    @field_validator("benchmark")
    @classmethod
    def _benchmark(cls, value: str) -> str:
        if not BENCHMARK_NAME.fullmatch(value):
            raise ValueError(f"{value[:40]!r} is not a benchmark name (lowercase letters, digits, '.', '_', '-')")
        return value

    @field_validator("id", mode="before")
    @classmethod
    def _problem_id(cls, value):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError("must be a string or an integer (the problem's id in the registry)")
        return value

    @field_validator("answer", mode="before")
    @classmethod
    def _gold(cls, value):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("must be a number or a numeric string")
        if isinstance(value, str) and number_or_none(value) is None:
            raise ValueError(f"{value[:40]!r} is not a number")
        return value

    @property
    def gold(self) -> float:
        return float(self.answer) if not isinstance(self.answer, str) else number_or_none(self.answer)


def read_thoughts(path: str | Path) -> list[GeneratedThought]:
    """Every line of ``path``; InvalidLine (a ValueError) naming the line and field of the first bad one."""
    thoughts: list[GeneratedThought] = []
    seen: dict[tuple, int] = {}
    problems: dict[tuple, tuple[int, GeneratedThought]] = {}
    for line_no, value in read_objects(path):
        if isinstance(value, InvalidLine):
            raise value
        try:
            thought = GeneratedThought.model_validate(value)
        except ValidationError as exc:
            raise InvalidLine(str(path), line_no, field_errors(exc.errors(), whole="row")) from None
        key = (thought.benchmark, str(thought.id), thought.thought_type, thought.sample)
        if key in seen:
            raise InvalidLine(str(path), line_no, f"sample: {thought.sample} of {thought.thought_type} for "
                                                  f"{thought.benchmark} {thought.id} repeats line {seen[key]}")
        seen[key] = line_no
        first = problems.setdefault((thought.benchmark, str(thought.id)), (line_no, thought))
        for name in ("question", "gold"):
            if getattr(first[1], name) != getattr(thought, name):
                field = "answer" if name == "gold" else name
                raise InvalidLine(str(path), line_no, f"{field}: differs from line {first[0]} "
                                                      f"for {thought.benchmark} {thought.id}")
        thoughts.append(thought)
    if not thoughts:
        raise InvalidLine(str(path), 0, "no thoughts in the file")
    return thoughts


@dataclass(frozen=True)
class GradedFile:
    rows: list[dict]  # verified, in the results dataset's shape
    results: list[ResultRow]
    benchmarks: tuple[str, ...]
    methods: tuple[str, ...]
    samples: int

    def summary(self) -> dict:
        """The ``distillery eval --score FILE --json`` document."""
        return {"results": [r.model_dump() for r in self.results], "samples": self.samples,
                "problems": len({(r["benchmark"], str(r["problem_id"])) for r in self.rows}),
                "thoughts": len(self.rows)}


def grade(thoughts: Sequence[GeneratedThought], verify_many: VerifyMany) -> GradedFile:
    """Verify every thought (the verifier's sandbox), then score them like ``distillery eval``."""
    records = [ThoughtRecord(id=i, thought_type=t.thought_type, text=clean_thought(t.text, t.thought_type),
                             gold=t.gold) for i, t in enumerate(thoughts)]
    verdicts = list(verify_many(records))
    rows = [{"id": thought_id(t.id, t.thought_type, t.sample), "benchmark": t.benchmark, "problem_id": t.id,
             "question": t.question, "gold": t.answer, "thought_type": t.thought_type, "sample": t.sample,
             "text": record.text, **verdict.contract_fields()}
            for t, record, verdict in zip(thoughts, records, verdicts, strict=True)]
    benchmarks = tuple(dict.fromkeys(t.benchmark for t in thoughts))
    present = {t.thought_type for t in thoughts}
    methods = tuple(t for t in THOUGHT_TYPES if t in present) + ((VOTE,) if present >= set(THOUGHT_TYPES) else ())
    samples = samples_in(rows)
    return GradedFile(rows=rows, results=score(rows, benchmarks, methods, samples, oracle=True),
                      benchmarks=benchmarks, methods=methods, samples=samples)
