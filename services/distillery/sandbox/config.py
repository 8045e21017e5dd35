"""What a sandbox may do: pool size and the limits of one execution."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from distillery.sandbox.isolation import check_layers
from distillery.sandbox.policy import DEFAULT_ALLOWED_IMPORTS


class ExecutionLimits(BaseModel):
    """Limits applied to every single execution (one program, one solve)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(5.0, gt=0, le=600, description="Wall-clock limit; the child is killed after it.")
    cpu_time_s: float | None = Field(
        None, gt=0, le=600, description="CPU-time limit (RLIMIT_CPU). Default: the wall-clock limit."
    )
    memory_mb: int = Field(
        256, ge=16, le=65536,
        description="Address space the execution may add on top of the worker's own (RLIMIT_AS).",
    )
    max_output_bytes: int = Field(
        64 * 1024, ge=0, le=16 * 1024 * 1024,
        description="Captured print() output kept; writing more stops the program (resource_limit).",
    )
    max_file_bytes: int = Field(1024 * 1024, ge=0, description="Largest file the program may write in its temp dir.")

    @property
    def cpu_seconds(self) -> int:
        # RLIMIT_CPU counts whole seconds; round up so a 0.5 s budget still runs.
        return max(1, int(-(-(self.cpu_time_s or self.timeout_s) // 1)))


class SandboxConfig(BaseModel):
    """A pool of isolated workers (fork servers) and the policy for the programs they run."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(2, ge=1, le=256, description="Worker processes; each runs one execution at a time.")
    limits: ExecutionLimits = Field(default_factory=ExecutionLimits, description="Default per-execution limits.")
    allowed_imports: tuple[str, ...] = Field(
        DEFAULT_ALLOWED_IMPORTS, description="Top-level modules untrusted programs may import."
    )
    ast_policy: bool = Field(
        True, description="Check programs against the import/name/attribute policy before running them."
    )
    preload: tuple[str, ...] = Field(
        (), description="Modules imported once in each worker; their functions may be run with Sandbox.call."
    )
    require: tuple[str, ...] = Field(
        (),
        description=(
            "Isolation layers that must be present or the sandbox refuses to start "
            "(network_namespace, seccomp, landlock, privilege_drop). Default: degrade and report."
        ),
    )
    start_timeout_s: float = Field(60.0, gt=0, description="How long a worker may take to start.")
    fork_per_task: bool = Field(
        True,
        description=(
            "Run every task in a fresh forked child (always, for untrusted programs). False: only "
            "`call` tasks, run inside the long-lived worker, which is hardened once at start with "
            "the default limits' memory; a task past its time limit gets the whole worker killed "
            "and restarted. For trusted code on untrusted data, where per-task forks cost more than "
            "the work."
        ),
    )

    @field_validator("require")
    @classmethod
    def _known_layers(cls, layers: tuple[str, ...]) -> tuple[str, ...]:
        return check_layers(layers)
