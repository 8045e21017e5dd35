"""The ``--json`` outputs that are not a proto message: one pydantic model each, so the command
builds its output through the model and the published schema is the model's.

A command whose output a library builds as a dict validates that dict into its model here
(``extra="forbid"``): a key added on one side and not the other fails the command's own tests
instead of slipping past the published schema.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, create_model

from distillery.evaluation.scoring import ResultRow
from distillery.serving.config import ServeConfig


class _Output(BaseModel):
    # ``model_dump`` prints every field, defaults included: the schema says each is always there.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


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


# ``serve ls --json``: what a deployment's ingress answers ``info()`` with (serving/ingress.py:
# its ServeConfig less the token and the addresses it calls), and where it stands.
_WITHHELD = frozenset({"token", "registry", "verifier"})
ServedDeployment = create_model(
    "ServedDeployment", __base__=_Output, __doc__="``serve ls --json``: one deployment.",
    **{name: (field.annotation, field) for name, field in ServeConfig.model_fields.items() if name not in _WITHHELD},
    status=(str, Field(description="Ray Serve's application status: RUNNING, DEPLOYING, UNHEALTHY, ...")),
    replicas=(dict[str, int], Field(description="Model replicas by state (RUNNING, STARTING, ...)")),
    url=(str, Field(description="Its HTTP endpoint")))


class EvalSummary(_Output):
    """``eval --json``."""
    model: str = Field(description="NAME@VERSION of a registry model, else the reference as given")
    results: list[ResultRow] = Field(description="One row per benchmark and method")
    dataset: str = Field(description="The results dataset (every verified thought), NAME@VERSION")
    samples: int = Field(0, description="K sampled thoughts per problem and type; 0: greedy only")
    temperature: float | None = Field(None, description="Of the sampled thoughts; null without samples")


class ScoreSummary(_Output):
    """``eval --score FILE --json``."""
    results: list[ResultRow] = Field(description="One row per benchmark and method")
    samples: int = Field(description="K sampled thoughts per problem and type found in FILE; 0: greedy only")
    problems: int = Field(description="Distinct (benchmark, id) problems in FILE")
    thoughts: int = Field(description="Thoughts graded")


class ImportedBenchmark(_Output):
    """``registry import-benchmarks --json``: one benchmark."""
    ref: str = Field(description="NAME@VERSION in the caller's team; public/NAME@VERSION with --public")
    rows: int = Field(description="Problems in the dataset")
    dropped: int = Field(description="Problems left out: no single numeric answer")


class LocalTrainingMetrics(_Output):
    """The last checkpoint's metrics (trainer/core.py)."""
    step: int
    total_steps: int
    final: bool = Field(description="The checkpoint holds the exported model: the run is done")
    tokens: int = Field(description="Training tokens seen")
    compute_s: float = Field(description="Step time, checkpoints excluded")
    loss: float | None = Field(None, description="Token-weighted mean of the last steps; null when the run "
                                                 "resumed at its last step")
    first_loss: float | None = Field(None, description="The same at the run's first step")
    batch_tokens: int = Field(description="Padded tokens per batch, as the run sized it")


class LocalTraining(_Output):
    """``train --local --json``."""
    model: str = Field(description="The registered model, TEAM/NAME@VERSION")
    steps: int
    metrics: LocalTrainingMetrics
    run: str = Field(description="The run directory (the same command resumes there)")
