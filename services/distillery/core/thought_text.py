"""The text contract between teachers, students and the verifier (DESIGN.md).

Students learn ``Question: {question}\\n{trigger}\\n`` -> thought; the teacher's prompts use
the same framing so that its outputs need no reformatting, and every generator (teacher,
trainer's eval, serving) cuts raw model output into a thought the same way.
"""

from __future__ import annotations

import re

# From the authors' released ETD checkpoint: students must be asked exactly like this.
TRIGGERS = {
    "cot": "Let's think step by step.",
    "pot": "Let's break down the code step by step",
    "eot": "System of linear equations: (Do not simplify)",
}
THOUGHT_TYPES = tuple(TRIGGERS)

# A model that keeps going after its thought starts the next few-shot question.
STOP = ["\n\nQuestion:", "\nQuestion:"]

FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


def student_input(question: str, thought_type: str) -> str:
    """The framing students are trained and asked with."""
    return f"Question: {question}\n{TRIGGERS[thought_type]}\n"


def clean_thought(raw: str, thought_type: str) -> str:
    """Raw model output -> the thought: cut at the next question, unwrap a code fence."""
    text = raw
    for stop in STOP:
        text = text.split(stop, 1)[0]
    if thought_type == "pot":
        fenced = FENCE.search(text)
        if fenced:
            text = fenced.group(1)
    return text.strip()
