"""Turning raw model output into a thought: cut at the next question, unwrap code fences."""

from __future__ import annotations

import re

from distillery.teacher.prompts import STOP

FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


def clean_thought(raw: str, thought_type: str) -> str:
    text = raw
    for stop in STOP:
        text = text.split(stop, 1)[0]
    if thought_type == "pot":
        fenced = FENCE.search(text)
        if fenced:
            text = fenced.group(1)
    return text.strip()
