"""A job's stages, what each runs, and the key that makes it reusable. Pure.

Stages, in order: ``teacher`` (generate thoughts for the problems, verified by the verifier
service, pushed as a dataset), ``train`` (fine-tune the student on them), ``eval-base`` (the base
model on the benchmarks: the "before"), ``eval`` (the student: the "after"), ``serve`` (deploy it).
Each stage is one ``distillery`` command run as a Ray job; its JSON output names what it made.

A stage's *key* hashes everything its result depends on -- its part of the spec and the exact
versions it reads -- so a stage with a key that already finished (in any job of the team) is
reused instead of run again. ``serve`` has no key: a deployment can be removed at any time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from distillery.jobs.spec import JobSpec

STAGES = ("teacher", "train", "eval-base", "eval", "serve")
OUTPUT_FIELD = {"teacher": "dataset", "train": "model", "eval-base": "dataset", "eval": "dataset", "serve": "url"}


@dataclass(frozen=True)
class StagePlan:
    name: str
    args: list[str]  # after the `distillery` command
    key: str | None  # None: never reused
    gpus: int = 0  # GPUs the stage's own driver needs


def stages_of(spec: JobSpec) -> list[str]:
    """The stages this spec asks for, in order."""
    wanted = ["teacher", "train"]
    if spec.evaluation.enabled:
        wanted += (["eval-base"] if spec.evaluation.baseline else []) + ["eval"]
    if spec.deploy.enabled:
        wanted.append("serve")
    return wanted


def stage_key(stage: str, *parts: object) -> str:
    blob = json.dumps([stage, *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _flag(name: str, value) -> list[str]:
    return [] if value is None else [name, str(value)]


def plan_stage(spec: JobSpec, stage: str, problems_ref: str, outputs: dict[str, str],
               serve_ports: tuple[int, int] | None = None) -> StagePlan:
    """The command of ``stage``; ``outputs`` holds earlier stages' outputs (stage -> ref/URL)."""
    if stage == "teacher":
        t = spec.teacher
        args = ["teacher", "generate", "--problems", problems_ref, "--types", ",".join(t.thought_types),
                "--samples", str(t.samples), "--variants", str(t.variants), "--backend", t.backend,
                *_flag("--model", t.model),
                *([f for name in t.contamination_guard for f in ("--guard", name)] or ["--no-guard"]),
                *_flag("--pool", t.pool), *_flag("--endpoint", t.endpoint), "--out", f"{spec.name}-thoughts", *_flag("--limit", spec.problems.limit),
                "--batch-size", str(t.batch_size), "--temperature", str(t.sampling.temperature),
                *_flag("--max-tokens", t.sampling.max_tokens), "--seed", str(t.sampling.seed), "--json"]
        return StagePlan(stage, args, stage_key(stage, problems_ref, spec.problems.limit, t.model_dump()))
    if stage == "train":
        s = spec.student
        # --no-local-paths: as for eval below, the CLI runs for a tenant on a shared node.
        args = ["train", "--dataset", outputs["teacher"], "--base", s.base, "--no-local-paths",
                "--out", f"{spec.name}-student",
                "--types", s.recipe, "--workers", str(s.workers), *(["--gpu"] if s.gpu else []),
                *_flag("--epochs", s.epochs), *_flag("--max-steps", s.max_steps),
                *_flag("--lr", s.learning_rate), *_flag("--batch-tokens", s.batch_tokens),
                *_flag("--max-length", s.max_length), *_flag("--checkpoint-every", s.checkpoint_every),
                *_flag("--seed", s.seed), *(["--lora", "--lora-r", str(s.lora.r)] if s.lora else []), "--json"]
        return StagePlan(stage, args, stage_key(stage, outputs["teacher"], s.model_dump()))
    if stage in ("eval-base", "eval"):
        e = spec.evaluation
        model = spec.student.base if stage == "eval-base" else outputs["train"]
        out = f"eval-{spec.name}-{'base' if stage == 'eval-base' else 'student'}"
        # --no-local-paths: the stage runs the CLI on a shared node for a tenant; only the spec's
        # alias / registry reference may be loaded, never whatever a path would find there.
        args = ["eval", "--model", model, "--no-local-paths", "--benchmarks", ",".join(e.benchmarks),
                "--methods", ",".join(e.methods),
                *_flag("--limit", e.limit), "--backend", e.backend, "--max-new-tokens", str(e.max_new_tokens),
                "--out", out, "--json"]
        return StagePlan(stage, args, stage_key(stage, model, e.model_dump(exclude={"enabled", "baseline"})),
                         gpus=1 if spec.student.gpu else 0)  # generation runs on the stage's driver
    if stage == "serve":
        d = spec.deploy
        ports = ["--http-port", str(serve_ports[0]), "--grpc-port", str(serve_ports[1])] if serve_ports else []
        args = ["serve", outputs["train"], "--name", d.name or spec.name, "--min-replicas", str(d.min_replicas),
                "--max-replicas", str(d.max_replicas), "--backend", d.backend, *ports, "--json"]
        return StagePlan(stage, args, None)
    raise ValueError(f"unknown stage {stage!r}")


def stage_output(stage: str, log_text: str) -> dict:
    """The stage command's JSON result: the last line of its output that is a JSON object with
    the stage's output field. ValueError when there is none (the stage failed to say)."""
    field = OUTPUT_FIELD[stage]
    for line in reversed(log_text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict) and value.get(field):
                return value
    raise ValueError(f"stage {stage} printed no JSON result with {field!r}")
