"""The text contract between teachers, students and the verifier (DESIGN.md).

Students learn ``Question: {question}\\n{trigger}\\n`` -> thought; the teacher's prompts use
the same framing so that its outputs need no reformatting, and every generator (teacher,
trainer's eval, serving) cuts raw model output into a thought the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# From the authors' released ETD checkpoint: students must be asked exactly like this.
TRIGGERS = {
    "cot": "Let's think step by step.",
    "pot": "Let's break down the code step by step",
    "eot": "System of linear equations: (Do not simplify)",
}
THOUGHT_TYPES = tuple(TRIGGERS)

# Where a thought ends: a model that keeps going after it starts the next (few-shot) question.
# The one stop contract: every generator -- the teacher's backends (HF, vLLM, OpenAI HTTP), the
# student's generation (HF, vLLM) and so serving -- stops at these and cuts its text before them.
# Part of the teacher's prompt hash (as a JSON list): changing it changes every new dataset's lineage.
STOP: tuple[str, ...] = ("\n\nQuestion:", "\nQuestion:")

FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


def student_input(question: str, thought_type: str) -> str:
    """The framing students are trained and asked with."""
    return f"Question: {question}\n{TRIGGERS[thought_type]}\n"


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)


def clean_thought(raw: str, thought_type: str) -> str:
    """Raw model output -> the thought: cut at the next question (:data:`STOP`), unwrap a code fence."""
    text, _ = cut_at_stop(raw, STOP)
    if thought_type == "pot":
        fenced = FENCE.search(text)
        if fenced:
            text = fenced.group(1)
    return text.strip()
