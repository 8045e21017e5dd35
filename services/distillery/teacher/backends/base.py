"""The one interface every teacher backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from distillery.teacher.config import Sampling


@dataclass(frozen=True)
class GenerationRequest:
    problem: dict  # a `problems` row
    thought_type: str
    samples: int


@dataclass
class Generation:
    texts: list[str]  # one per sample (fewer when the backend is deterministic)
    output_tokens: int = 0
    errors: list[str] = field(default_factory=list)  # why a problem got no thought (e.g. no rationale)
    # The request itself failed (endpoint down, refused, bad reply): not an answer about the problem.
    # A job stops rather than record the problem as done; errors[0] says why, safe to show the caller.
    failed: bool = False


class TeacherBackend(Protocol):
    name: str
    model: str

    def generate(self, requests: list[GenerationRequest], sampling: Sampling) -> list[Generation]:
        """One Generation per request, in order. Batches as the engine likes."""
        ...

    def close(self) -> None:
        ...
