"""The ``--json`` outputs that are not a proto message: one pydantic model each, so the command
builds its output through the model and the published schema is the model's."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PulledDataset(_Output):
    """``registry pull --json`` of a dataset."""
    ref: str = Field(description="TEAM/NAME@VERSION pulled")
    rows: int = Field(description="Rows written")
    output: str = Field(description="Where they went (- for stdout)")


class PulledModel(_Output):
    """``registry pull --json`` of a model."""
    ref: str = Field(description="TEAM/NAME@VERSION pulled")
    files: list[str] = Field(description="The files written")


class Deployment(_Output):
    """``serve deploy --json``."""
    name: str = Field(description="The deployment's name (its URL prefix)")
    model: str = Field(description="The model served, pinned (TEAM/NAME@V) or an alias")
    url: str = Field(description="Its HTTP endpoint")
    grpc: str = Field(description="Ray Serve's gRPC address (metadata application=NAME)")


class TeacherJobOutput(_Output):
    """``teacher generate --json``."""
    dataset: str = Field(description="The verified thoughts, TEAM/NAME@V")
    rejected: str | None = Field(description="The rejected thoughts, TEAM/NAME-rejected@V (pushed even when empty; null only for a job finished before that)")
    variants: str | None = Field(description="The problem variants, TEAM/NAME-variants@V; null when none")
    yield_by_type: dict[str, float] = Field(description="Share of problems with >= 1 verified thought, by type")
    accepted: dict[str, int] = Field(description="Verified thoughts by type")
    rejected_by_type: dict[str, int] = Field(description="Rejected thoughts by type")
    generated: int
    duplicates: int
    output_tokens: int
    resumed_from: int
    variants_kept: int
    variants_dropped: int
    contaminated: int = Field(description="Problems refused by the contamination guard")


class TypeScore(_Output):
    graded: int
    correct: int
    accuracy: float | None = Field(description="correct / graded; null when nothing was graded")


class VerifySummary(_Output):
    """``verify -o FILE --json``."""
    output: str = Field(description="Where the verified records went")
    total: int = Field(description="Thoughts verified")
    invalid_lines: int = Field(description="Malformed lines skipped (--skip-invalid)")
    by_status: dict[str, int] = Field(description="Thoughts by verdict status (ok, exec_error, timeout, ...)")
    graded: int = Field(description="Thoughts with a gold answer")
    correct: int
    accuracy: float | None = Field(description="correct / graded; null when nothing was graded")
    by_thought_type: dict[str, TypeScore]


class ProcessStatus(_Output):
    pid: int
    alive: bool


class StackStatus(_Output):
    """``up --json`` and ``status``: the local stack."""
    running: bool
    home: str = Field(description="DISTILLERY_HOME: the stack's state, tokens and logs")
    endpoints: dict[str, str | None] = Field(default_factory=dict, description="Service -> address or URL")
    processes: dict[str, ProcessStatus] = Field(default_factory=dict)
    default_team: str | None = Field(None, description="The team whose token `up` wrote to HOME/token")
