"""The deterministic teacher: thoughts derived from gold annotations (no LLM, the local default)."""

from __future__ import annotations

from distillery.teacher.annotations import derive
from distillery.teacher.backends.base import Generation, GenerationRequest
from distillery.teacher.config import ANNOTATION_VERSIONS, DEFAULT_ANNOTATION_VERSION, Sampling, annotation_version_error


class AnnotationsBackend:
    """``version`` is the derivation format (``gold-annotations-v1`` / ``-v2``); it is this
    backend's ``model``, so a dataset's lineage (``teacher.model``) records which one made it."""

    name = "annotations"

    def __init__(self, version: str = DEFAULT_ANNOTATION_VERSION) -> None:
        if version not in ANNOTATION_VERSIONS:
            raise ValueError(annotation_version_error())
        self.model = version

    def generate(self, requests: list[GenerationRequest], sampling: Sampling) -> list[Generation]:
        results = []
        for request in requests:
            derived = derive(request.problem, self.model)
            if derived.failure:
                results.append(Generation(texts=[], errors=[derived.failure]))
            else:
                # Deterministic: one sample, however many were asked for (duplicates would collapse).
                results.append(Generation(texts=[derived.thoughts[request.thought_type]]))
        return results

    def close(self) -> None:
        pass
