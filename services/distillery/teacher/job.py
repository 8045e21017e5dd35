"""A teacher dataset job: problems -> N samples x thought types -> verified -> registry.

Resumable by construction. Problems are taken in dataset order, in batches; after each
batch the accepted and rejected rows are appended (fsync'd) to files in the job's work
directory and ``state.json`` records how many problems are done and the files' lengths.
A restarted job truncates the files to those lengths (dropping a half-written batch)
and continues with the next problem: no sample is lost or written twice. Only when every
problem is done are the two datasets pushed -- the registry never sees a partial one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from distillery.teacher.backends.base import GenerationRequest, TeacherBackend
from distillery.teacher.config import TeacherJobConfig
from distillery.teacher.prompts import PROMPT_VERSION, prompt_hash
from distillery.verifier.records import ThoughtRecord, Verdict

VerifyMany = Callable[[Iterable[ThoughtRecord]], Iterator[Verdict]]


class GenerationFailed(RuntimeError):
    """A batch's generation failed (the endpoint refused or is down); nothing of it was kept."""


@dataclass
class JobProgress:
    problems_total: int = 0
    problems_done: int = 0
    generated: int = 0
    duplicates: int = 0
    accepted: Counter = field(default_factory=Counter)  # by thought type
    rejected: Counter = field(default_factory=Counter)
    output_tokens: int = 0
    elapsed_s: float = 0.0
    resumed_from: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.elapsed_s if self.elapsed_s else 0.0

    def yield_by_type(self, problems_with_verified: dict[str, set]) -> dict[str, float]:
        total = max(self.problems_total, 1)
        return {t: len(ids) / total for t, ids in sorted(problems_with_verified.items())}


@dataclass
class JobResult:
    dataset: str  # TEAM/NAME@VERSION of the verified thoughts
    rejected: str | None
    progress: JobProgress
    yield_by_type: dict[str, float]


def job_key(config: TeacherJobConfig, problems_ref: str) -> str:
    material = json.dumps({"config": config.model_dump(mode="json"), "problems": problems_ref,
                           "prompts": prompt_hash()}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Checkpoint:
    """The job's durable progress: two append-only JSONL files and a state file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.files = {"accepted": directory / "accepted.jsonl", "rejected": directory / "rejected.jsonl"}
        self.state_path = directory / "state.json"
        state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        self.done = state.get("problems_done", 0)
        lengths = state.get("lengths", {})
        for kind, path in self.files.items():
            with open(path, "ab") as handle:  # cut a batch that was half-written when we died
                handle.truncate(lengths.get(kind, 0))
        self.counters = state.get("counters", {})
        self.result = state.get("result")  # set once the datasets are pushed

    def _write_state(self, state: dict) -> None:
        temp = self.state_path.with_suffix(".tmp")
        temp.write_text(json.dumps(state))
        os.replace(temp, self.state_path)

    def record_result(self, result: dict) -> None:
        state = json.loads(self.state_path.read_text())
        self._write_state({**state, "result": result})
        self.result = result

    def append(self, batch_rows: dict[str, list[dict]], problems_done: int, counters: dict) -> None:
        lengths = {}
        for kind, path in self.files.items():
            with open(path, "ab") as handle:
                for row in batch_rows[kind]:
                    handle.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
                lengths[kind] = handle.tell()
        self.done = problems_done
        self._write_state({"problems_done": problems_done, "lengths": lengths, "counters": counters})

    def verified_problems(self) -> dict[str, set]:
        """Problem ids with at least one verified thought, by thought type (read from the rows)."""
        verified: dict[str, set] = {}
        with open(self.files["accepted"], "rb") as handle:
            for line in handle:
                row = json.loads(line)
                verified.setdefault(row["thought_type"], set()).add(str(row["problem_id"]))
        return verified


def run_job(config: TeacherJobConfig, problems_ref: str, problems: list[dict], backend: TeacherBackend,
            verify_many: VerifyMany, push: Callable[[str, Path, list[str], dict, dict], str],
            work_dir: Path) -> Iterator[JobProgress | JobResult]:
    """Run (or resume) the job: yields progress after every batch, then the result.

    ``push(name, path, parents, config, meta)`` stores a dataset and returns its reference.
    Stopping the iteration between batches (a cancelled call) loses nothing.
    """
    if config.limit:
        problems = problems[: config.limit]
    checkpoint = _Checkpoint(work_dir / job_key(config, problems_ref))
    progress = JobProgress(problems_total=len(problems), problems_done=checkpoint.done,
                           resumed_from=checkpoint.done)
    for name, value in checkpoint.counters.items():
        setattr(progress, name, Counter(value) if isinstance(value, dict) else value)
    started = time.monotonic() - progress.elapsed_s
    teacher = {"backend": backend.name, "model": backend.model, "prompt_version": PROMPT_VERSION,
               "prompt_hash": prompt_hash()}

    for start in range(checkpoint.done, len(problems), config.batch_size):
        batch = problems[start:start + config.batch_size]
        requests = [GenerationRequest(p, t, config.samples) for p in batch for t in config.thought_types]
        generations = backend.generate(requests, config.sampling)
        failed = next((g for g in generations if g.failed), None)
        if failed:  # stop before the checkpoint: the batch is redone on resume, no problem silently lost
            raise GenerationFailed(failed.errors[0] if failed.errors else "generation failed")
        candidates: list[tuple[dict, str, int, str]] = []
        for request, generation in zip(requests, generations):
            progress.output_tokens += generation.output_tokens
            seen: set[str] = set()
            for sample_index, text in enumerate(generation.texts):
                progress.generated += 1
                key = normalise(text)
                if key in seen:  # duplicate thoughts of one problem collapse to the first
                    progress.duplicates += 1
                    continue
                seen.add(key)
                candidates.append((request.problem, request.thought_type, sample_index, text))
        records = [ThoughtRecord(id=f"{p['id']}-{t}-{i}", thought_type=t, text=text, gold=p["answer"])
                   for p, t, i, text in candidates]
        rows = {"accepted": [], "rejected": []}
        for (problem, thought_type, sample_index, _), record, verdict in zip(candidates, records,
                                                                             verify_many(records)):
            row = {"id": record.id, "thought_type": thought_type, "text": record.text, "gold": record.gold,
                   **verdict.contract_fields(), "problem_id": problem["id"], "question": problem["question"],
                   "sample_index": sample_index, "teacher": teacher}
            if verdict.correct:
                rows["accepted"].append(row)
                progress.accepted[thought_type] += 1
            else:
                rows["rejected"].append(row)
                progress.rejected[thought_type] += 1
        progress.problems_done = start + len(batch)
        progress.elapsed_s = time.monotonic() - started
        checkpoint.append(rows, progress.problems_done, {
            "generated": progress.generated, "duplicates": progress.duplicates, "output_tokens": progress.output_tokens,
            "accepted": dict(progress.accepted), "rejected": dict(progress.rejected), "elapsed_s": progress.elapsed_s})
        yield progress

    yields = progress.yield_by_type(checkpoint.verified_problems())
    if checkpoint.result:  # finished and pushed before: the same job is the same datasets
        yield JobResult(dataset=checkpoint.result["dataset"], rejected=checkpoint.result["rejected"],
                        progress=progress, yield_by_type=yields)
        return
    lineage_config = {**config.model_dump(mode="json"), "teacher": teacher, "problems_resolved": problems_ref}
    meta = {"dataset_kind": config.dataset_kind, "generated": str(progress.generated),
            "duplicates_collapsed": str(progress.duplicates),
            **{f"yield_{t}": f"{y:.4f}" for t, y in yields.items()}}
    dataset = push(config.out, checkpoint.files["accepted"], [problems_ref], lineage_config, meta)
    rejected = None
    if checkpoint.files["rejected"].stat().st_size:
        rejected = push(f"{config.out}-rejected", checkpoint.files["rejected"], [problems_ref], lineage_config, meta)
    checkpoint.record_result({"dataset": dataset, "rejected": rejected})
    yield JobResult(dataset=dataset, rejected=rejected, progress=progress, yield_by_type=yields)


__all__ = ["GenerationFailed", "JobProgress", "JobResult", "job_key", "run_job"]
