"""Backend by name: the one place that knows which backends exist."""

from __future__ import annotations

from distillery.teacher.backends.base import TeacherBackend
from distillery.teacher.config import TeacherJobConfig


class BackendUnavailable(ValueError):
    pass


def make_backend(config: TeacherJobConfig) -> TeacherBackend:
    if config.backend == "annotations":
        from distillery.teacher.backends.annotations import AnnotationsBackend

        return AnnotationsBackend()
    # hf / vllm / openai: specified in the teacher issue, not built yet.
    raise BackendUnavailable(f"backend {config.backend!r} is not available yet; use backend 'annotations'")
