"""Chain-of-thought: read the final answer out of natural-language steps.

Looked for, in order: the last ``The answer is …`` sentence, a ``#### …`` line (GSM8K
style), a ``\\boxed{…}``, then -- as a fallback -- the last number in the text.
Percent signs are kept as written ("The answer is 25%" -> 25): benchmarks state
percentages as the number before the sign.
"""

from __future__ import annotations

import re

from distillery.core.outcome import Outcome, Status
from distillery.verifier.numbers import numbers_in, to_float

MAX_TEXT_CHARS = 100_000

_ANSWER_IS = re.compile(r"answer\s+is\s*:?\s*((?:(?!answer\s+is)[^\n])*)", re.IGNORECASE)
_HASHES = re.compile(r"^\s*####\s*([^\n]*)", re.MULTILINE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def extract_cot_answer(text: str) -> Outcome:
    if len(text) > MAX_TEXT_CHARS:
        return Outcome.fail(Status.RESOURCE_LIMIT, f"thought longer than {MAX_TEXT_CHARS} characters")
    for pattern, where in ((_ANSWER_IS, "'The answer is'"), (_HASHES, "'####'"), (_BOXED, "\\boxed{}")):
        matches = pattern.findall(text)
        if matches:
            value = _first_number(matches[-1])
            if value is not None:
                return Outcome.ok(value)
            return Outcome.fail(Status.NO_ANSWER, f"no number after {where}: {matches[-1][:60]!r}")
    tokens = numbers_in(text)
    for token in reversed(tokens):
        value = to_float(token)
        if value is not None:
            return Outcome.ok(value)
    return Outcome.fail(Status.NO_ANSWER, "no number in the thought")


def _first_number(fragment: str) -> float | None:
    # "The answer is $1,200 per month." -> 1200; "The answer is: 3/4 cup" -> 0.75.
    for token in numbers_in(fragment):
        value = to_float(token)
        if value is not None:
            return value
    return None
