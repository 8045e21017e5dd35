"""The deterministic teacher: thoughts derived from gold annotations (no LLM, the local default)."""

from __future__ import annotations

from distillery.teacher.annotations import derive
from distillery.teacher.backends.base import Generation, GenerationRequest
from distillery.teacher.config import Sampling


class AnnotationsBackend:
    name = "annotations"
    model = "gold-annotations-v1"

    def generate(self, requests: list[GenerationRequest], sampling: Sampling) -> list[Generation]:
        results = []
        for request in requests:
            derived = derive(request.problem)
            if derived.failure:
                results.append(Generation(texts=[], errors=[derived.failure]))
            else:
                # Deterministic: one sample, however many were asked for (duplicates would collapse).
                results.append(Generation(texts=[derived.thoughts[request.thought_type]]))
        return results

    def close(self) -> None:
        pass
